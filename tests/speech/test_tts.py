"""espeak-ng text to speech: output, validation, atomic files, and a round trip through alignment."""

from __future__ import annotations

import numpy as np
import pytest

from reperform.config import EngineConfig
from reperform.errors import EngineError, InvalidOptions, ReperformError
from reperform.speech import SpeechAnalyzer, synthesize, synthesize_to_file
from reperform.speech.tts import MAX_TEXT_CHARS


def test_synthesized_speech_is_16_khz_mono_audio_of_plausible_length():
    audio = synthesize("Hello there, how are you today?")
    assert audio.rate == 16000 and audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert 1.0 < audio.duration_s < 4.0
    assert np.abs(audio.samples).max() > 0.05


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text_is_refused(text):
    with pytest.raises(InvalidOptions):
        synthesize(text)


def test_too_long_text_is_refused():
    with pytest.raises(InvalidOptions, match="too long"):
        synthesize("a" * (MAX_TEXT_CHARS + 1))


@pytest.mark.parametrize("voice", ["--help", "en us", "x" * 60, "no-such-voice-zz"])
def test_bad_voices_are_refused(voice):
    with pytest.raises(InvalidOptions):
        synthesize("hello", voice=voice)


def test_text_that_looks_like_an_option_is_spoken_not_parsed():
    audio = synthesize("--version")
    assert audio.duration_s > 0.3


def test_missing_espeak_is_a_clear_engine_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineError, match="espeak-ng"):
        synthesize("hello")


def test_synthesize_to_file_writes_a_wav_atomically(tmp_path):
    out = synthesize_to_file("Testing one two three.", tmp_path / "sub" / "speech.wav")
    assert out == tmp_path / "sub" / "speech.wav"
    assert out.read_bytes()[:4] == b"RIFF" and out.stat().st_size > 10_000
    assert not list(tmp_path.rglob("*.part"))


def test_a_failed_synthesis_leaves_no_file(tmp_path):
    target = tmp_path / "speech.wav"
    with pytest.raises(ReperformError):
        synthesize_to_file("hello", target, voice="no-such-voice-zz")
    assert list(tmp_path.iterdir()) == []


def test_tts_speech_aligns_to_its_text_with_lip_closures_where_the_text_has_them():
    text = "Bob bought my big purple map."
    audio = synthesize(text)
    timeline = SpeechAnalyzer(EngineConfig(whisper_model="")).analyze(audio, text=text)
    assert timeline.method == "aligned"
    assert [w.text for w in timeline.words] == ["bob", "bought", "my", "big", "purple", "map"]
    labels = [p.label for p in timeline.phones]
    assert labels.count("B") >= 4 and labels.count("P") >= 3 and labels.count("M") >= 2
    # every word's phones lie inside the word
    for p in timeline.phones:
        if p.word >= 0:
            w = timeline.words[p.word]
            assert w.start_s - 1e-6 <= p.start_s < p.end_s <= w.end_s + 1e-6


def test_speech_longer_than_one_alignment_chunk_aligns_in_chunks_with_every_word_in_order():
    from reperform.speech.align import MAX_STATE_ALIGN_S

    sentence = "Peter Piper picked a peck of pickled peppers while my mother made marmalade. "
    text = sentence * 11
    audio = synthesize(text)
    assert audio.duration_s > MAX_STATE_ALIGN_S
    timeline = SpeechAnalyzer(EngineConfig(whisper_model="")).analyze(audio, text=text)
    assert timeline.method == "aligned"
    assert [w.text for w in timeline.words] == [w for _ in range(11) for w in
                                                ["peter", "piper", "picked", "a", "peck", "of", "pickled",
                                                 "peppers", "while", "my", "mother", "made", "marmalade"]]
    starts = [w.start_s for w in timeline.words]
    assert starts == sorted(starts)
    assert timeline.phones[-1].end_s == pytest.approx(audio.duration_s)
