"""Inputs without speech never crash the stage and never invent speech."""

from __future__ import annotations

import numpy as np
import pytest

from reperform.config import EngineConfig
from reperform.records import Audio
from reperform.speech import SpeechAnalyzer, analyze_prosody

RATE = 16000


@pytest.fixture(scope="module")
def analyzer() -> SpeechAnalyzer:
    # No Whisper: these inputs must be judged speechless before any model is asked.
    return SpeechAnalyzer(EngineConfig(whisper_model=""))


def _tone(seconds: float) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


@pytest.mark.parametrize(
    ("name", "samples"),
    [
        ("empty", np.zeros(0, np.float32)),
        ("one sample", np.zeros(1, np.float32)),
        ("50 ms of noise", (np.random.default_rng(0).standard_normal(800) * 0.1).astype(np.float32)),
        ("digital silence", np.zeros(2 * RATE, np.float32)),
        ("steady noise", (np.random.default_rng(1).standard_normal(3 * RATE) * 0.1).astype(np.float32)),
        ("a steady tone", _tone(2.0)),
    ],
)
def test_speechless_audio_gives_an_acoustic_timeline_with_no_phones(analyzer, name, samples):
    audio = Audio(samples=samples, rate=RATE)
    tl = analyzer.analyze(audio)
    assert tl.method == "acoustic"
    assert tl.phones == () and tl.words == ()
    assert not tl.energy.any() and not tl.openness.any()
    if audio.duration_s >= 0.12:
        assert tl.pauses == ((0.0, pytest.approx(audio.duration_s)),)
    else:
        assert tl.pauses == ()
    prosody = analyze_prosody(audio, tl)
    assert prosody.f0_hz.shape == tl.energy.shape
    assert prosody.accents == () and prosody.phrases == ()


def test_a_transcript_for_audio_that_holds_no_speech_is_not_forced_onto_it(analyzer):
    tl = analyzer.analyze(Audio(samples=_tone(2.0), rate=RATE), text="hello world")
    assert tl.method == "acoustic" and tl.phones == ()


def test_an_alignment_decoder_that_cannot_be_built_is_an_alignment_failure_not_a_crash(monkeypatch):
    # Each alignment writes its words to a temporary dictionary; no writable temp dir must make
    # the analyzer fall back (to recognised phones), not fail the job.
    from reperform.speech import align

    def no_temp(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(align.tempfile, "mkstemp", no_temp)
    audio = Audio(samples=(np.random.default_rng(0).standard_normal(16000) * 0.01).astype(np.float32), rate=16000)
    with pytest.raises(align.AlignmentFailed, match="Read-only"):
        align.Aligner().align(audio, ["hello", "world"])
