"""The speech stage on real recordings: methods, word and phone timing, pauses, quiet audio,
non-English speech, prosody. Whisper and pocketsphinx load once (module-scoped analyzer) and each
file is analysed once (module-scoped results)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reperform.config import EngineConfig
from reperform.media import load_audio
from reperform.records import Audio, SpeechTimeline
from reperform.speech import SpeechAnalyzer, analyze_prosody, analyze_speech
from reperform.speech.acoustic import analyze_acoustics, energy_pauses
from reperform.speech.phonetics import ARPABET, SILENCE, VOWELS

pytestmark = pytest.mark.media

AUDIO_FILES = [
    "audio/whisper_jfk.flac",
    "audio/musetalk_yongen.wav",
    "audio/sadtalker_RD_Radio36_000.wav",
    "audio/latentsync_demo1_audio.wav",
    "videos/latentsync_demo1_video.mp4",
    "videos/pcavs_00373.mp4",
]


@pytest.fixture(scope="module")
def analyzer() -> SpeechAnalyzer:
    # Under the process settings every job runs with (one BLAS thread changes numpy's float
    # rounding, e.g. in Whisper's mel spectrogram), whichever tests ran before in this process.
    from reperform import runtime

    runtime.tune_process()
    return SpeechAnalyzer(EngineConfig())


@pytest.fixture(scope="module")
def results(media_dir: Path, analyzer: SpeechAnalyzer) -> dict[str, tuple[Audio, SpeechTimeline]]:
    out = {}
    for name in AUDIO_FILES:
        audio = load_audio(media_dir / name)
        out[name] = (audio, analyzer.analyze(audio))
    return out


def _words(tl: SpeechTimeline, text: str):
    return [w for w in tl.words if w.text == text]


@pytest.mark.parametrize("name", AUDIO_FILES)
def test_phones_are_monotonic_non_overlapping_and_inside_the_audio(results, name):
    audio, tl = results[name]
    assert tl.duration_s == pytest.approx(audio.duration_s)
    for p in tl.phones:
        assert 0.0 <= p.start_s < p.end_s <= tl.duration_s + 1e-9
        assert p.label in ARPABET or p.label == SILENCE
        assert p.stress in (0, 1, 2)
        assert -1 <= p.word < len(tl.words)
    for a, b in zip(tl.phones, tl.phones[1:], strict=False):
        assert a.end_s <= b.start_s + 1e-9


@pytest.mark.parametrize("name", AUDIO_FILES)
def test_tracks_cover_the_audio_on_a_10_ms_grid_and_stay_in_range(results, name):
    audio, tl = results[name]
    n = int(np.ceil(audio.duration_s / tl.hop_s - 1e-9))
    assert tl.hop_s == pytest.approx(0.01)
    assert tl.energy.shape == tl.openness.shape == tl.voiced.shape == (n,)
    assert tl.energy.min() >= 0.0 and tl.energy.max() <= 1.0
    assert tl.openness.min() >= 0.0 and tl.openness.max() <= 1.0
    assert 0.3 < (tl.energy > 0).mean() < 0.95  # all of these contain both speech and silence


@pytest.mark.parametrize("name", AUDIO_FILES)
def test_pauses_are_sorted_at_least_120_ms_and_quiet(results, name):
    _, tl = results[name]
    assert tl.pauses
    for a, b in tl.pauses:
        assert 0.0 <= a < b <= tl.duration_s + 1e-9
        assert b - a >= 0.12 - 1e-9
    for (_, b0), (a1, _) in zip(tl.pauses, tl.pauses[1:], strict=False):
        assert b0 <= a1
    in_pause = np.zeros(tl.energy.size, bool)
    for a, b in tl.pauses:
        in_pause[int(a / tl.hop_s): int(b / tl.hop_s)] = True
    assert tl.energy[in_pause].mean() < 0.3 * tl.energy[~in_pause].mean()


@pytest.mark.parametrize("name", [n for n in AUDIO_FILES if n.startswith("audio/")])
def test_english_recordings_are_force_aligned(results, name):
    _, tl = results[name]
    assert tl.method == "aligned"
    assert tl.language == "en"
    assert len(tl.words) >= 10
    spoken = [p for p in tl.phones if p.label != SILENCE]
    # Speech outside Whisper's transcript (a cut-off phrase) is recognised, without a word.
    assert np.mean([p.word >= 0 for p in spoken]) > 0.8
    assert any(p.stress == 1 for p in spoken if p.label in VOWELS)


def test_jfk_ask_starts_where_the_speech_resumes_after_the_first_pause(results):
    audio, tl = results["audio/whisper_jfk.flac"]
    # Independent reference: the loudness gate's pause after "Americans" ends where "ask" begins.
    gate_pauses = energy_pauses(analyze_acoustics(audio))
    resume = next(b for a, b in gate_pauses if a < 2.6 < b)
    ask = _words(tl, "ask")
    assert len(ask) == 2
    assert ask[0].start_s == pytest.approx(resume, abs=0.05)
    assert ask[0].start_s < ask[0].end_s < _words(tl, "not")[0].start_s


def test_jfk_words_come_in_order_and_agree_with_whisper(analyzer, results):
    audio, tl = results["audio/whisper_jfk.flac"]
    texts = [w.text for w in tl.words]
    assert texts[:5] == ["and", "so", "my", "fellow", "americans"]
    assert texts.count("country") == 2
    # Whisper's own word times are coarse (±0.3 s, and the first "ask" absorbs the pause before
    # it), so each aligned word's centre must only fall inside Whisper's span of the same word.
    whisper_words = analyzer.transcribe(audio).words
    for word in ("country", "not", "fellow"):
        aligned = _words(tl, word)
        heard = [w for w in whisper_words if w.text.strip(".,").lower() == word]
        assert len(aligned) == len(heard) >= 1
        for a, h in zip(aligned, heard, strict=True):
            assert h.start_s - 0.1 <= 0.5 * (a.start_s + a.end_s) <= h.end_s + 0.1


def test_lip_closures_exist_where_the_words_have_them(results):
    _, tl = results["audio/whisper_jfk.flac"]
    for word_text, closure in (("my", "M"), ("americans", "M")):
        for index, w in enumerate(tl.words):
            if w.text == word_text:
                labels = [p.label for p in tl.phones if p.word == index]
                assert closure in labels, (word_text, labels)
    _, tl = results["audio/sadtalker_RD_Radio36_000.wav"]
    labels = [p.label for p in tl.phones]
    assert labels.count("P") >= 2 and labels.count("M") >= 2  # "represent", "people", "made", "from"


def test_yongen_has_its_long_pause_and_trailing_silence(results):
    _, tl = results["audio/musetalk_yongen.wav"]
    last = tl.pauses[-1]
    assert last[1] == pytest.approx(tl.duration_s)
    assert last[1] - last[0] >= 1.5
    inner = [(a, b) for a, b in tl.pauses if a > 2.0 and b < 4.5]
    assert len(inner) == 1 and inner[0][1] - inner[0][0] >= 0.7


def test_a_quiet_recording_still_has_a_full_range_energy_envelope(results):
    audio, tl = results["audio/sadtalker_RD_Radio36_000.wav"]
    assert np.sqrt(np.mean(audio.samples**2)) < 0.06  # it really is quiet (about -26 dBFS RMS)
    assert tl.energy.max() == pytest.approx(1.0)
    assert np.percentile(tl.energy[tl.energy > 0], 50) > 0.3
    vowels = [p for p in tl.phones if p.label in VOWELS]
    vowel_energy = np.mean([tl.energy[int(p.start_s / tl.hop_s): int(p.end_s / tl.hop_s) + 1].mean() for p in vowels])
    assert vowel_energy > 0.4


def test_mandarin_speech_is_not_aligned_to_what_whisper_made_of_it(results):
    # The English-only Whisper model hears this Mandarin as English sentences; whether a filter
    # drops them changes with the build. The transcript's phones do not explain the audio, so
    # the clip gets recognised phones whatever Whisper wrote.
    _, tl = results["videos/latentsync_demo1_video.mp4"]
    assert tl.method == "recognized" and tl.language == ""
    assert tl.words == () and tl.transcript == ""
    assert any(reason in tl.evidence for reason in ("does not explain", "did not align", "no plausible English"))
    assert sum(p.label in VOWELS for p in tl.phones) >= 10
    assert tl.openness.max() > 0.5


#: What an English-only Whisper has written over Mandarin with different package builds.
HALLUCINATIONS = (
    "I'm going to go to the next video, and I'll see you next time. Bye! Bye! Bye!",
    "I'm not sure if I can. I'm not sure if I can. I'm not sure if I can. I'm not sure if I can.",
)


@pytest.mark.parametrize("text", HALLUCINATIONS)
def test_a_hallucinated_transcript_of_mandarin_is_refused_by_the_alignment_evidence(results, analyzer, text):
    """Given as the transcript (as if Whisper had kept it), it still does not explain the audio."""
    audio, _ = results["videos/latentsync_demo1_video.mp4"]
    tl = analyzer.analyze(audio, text=text)
    assert tl.method == "recognized" and tl.language == ""
    assert "does not explain" in tl.evidence or "did not align" in tl.evidence


@pytest.mark.parametrize("name", [n for n in AUDIO_FILES if n != "videos/latentsync_demo1_video.mp4"])
def test_english_recordings_are_english_because_their_transcript_explains_them(results, name):
    _, tl = results[name]
    assert tl.method == "aligned" and tl.language == "en"
    assert "explains the audio" in tl.evidence


def test_a_clip_cut_mid_sentence_still_aligns(results):
    _, tl = results["videos/pcavs_00373.mp4"]
    assert tl.method == "aligned"
    assert tl.phones[-1].end_s == pytest.approx(tl.duration_s)


def test_without_whisper_english_speech_is_recognised_into_phones(media_dir):
    audio = load_audio(media_dir / "audio/whisper_jfk.flac")
    tl = SpeechAnalyzer(EngineConfig(whisper_model="")).analyze(audio)
    assert tl.method == "recognized" and tl.transcript == "" and tl.words == ()
    assert sum(p.label in VOWELS for p in tl.phones) >= 15
    assert tl.pauses[0][0] == 0.0


def test_analyze_speech_reuses_one_analyzer_per_config(results):
    audio, _ = results["audio/musetalk_yongen.wav"]
    short = Audio(samples=audio.samples[: 16000 * 3], rate=16000)
    config = EngineConfig(whisper_model="")
    first = analyze_speech(short, text="before I chased a wayward girl", config=config)
    second = analyze_speech(short, text="before I chased a wayward girl", config=config)
    assert first.method == second.method == "aligned"
    assert first.phones == second.phones  # same analyzer, deterministic decoding


def test_prosody_tracks_accents_and_phrases_follow_the_speech(results):
    audio, tl = results["audio/whisper_jfk.flac"]
    pr = analyze_prosody(audio, tl)
    n = tl.energy.size
    assert pr.f0_hz.shape == pr.intensity_db.shape == (n,)
    voiced = np.isfinite(pr.f0_hz)
    assert 0.2 < voiced.mean() < 0.8
    assert np.all((pr.f0_hz[voiced] > 60) & (pr.f0_hz[voiced] < 500))
    assert not voiced[: int(0.25 / tl.hop_s)].any()  # leading silence is unvoiced
    assert 3 <= len(pr.accents) <= 25
    assert all(0 < s <= 1 and 0 <= t <= tl.duration_s for t, s in pr.accents)
    for t, _ in pr.accents:  # accents sit on speech, never inside a pause
        assert not any(a < t < b for a, b in tl.pauses)
    for (a, b) in pr.phrases:
        assert not any(pa < 0.5 * (a + b) < pb for pa, pb in tl.pauses)
    assert len(pr.phrases) >= 3


def test_without_transcription_english_speech_gets_recognised_phones_with_the_same_pauses(media_dir, analyzer, results):
    """The source video's own speech is analysed this way: phones without Whisper, no words."""
    audio, aligned = results["audio/whisper_jfk.flac"]
    tl = analyzer.analyze(audio, transcribe=False)
    assert tl.method == "recognized" and not tl.words and tl.transcript == ""
    speech_phones = [p for p in tl.phones if p.label != SILENCE]
    assert len(speech_phones) > 40  # ~11 s of speech
    # The speech spans agree with the aligned account: the long pauses are found by both.
    long_aligned = [(a, b) for a, b in aligned.pauses if b - a > 0.5 and b < aligned.duration_s - 0.1]
    for a, b in long_aligned:
        mid = 0.5 * (a + b)
        assert any(p0 <= mid <= p1 for p0, p1 in tl.pauses), ((a, b), tl.pauses)


def test_a_recording_gives_the_same_timeline_whatever_was_analysed_before(media_dir, analyzer, results):
    # pocketsphinx decoders carry acoustic-scoring state from one utterance into the next (the
    # same clip recognised after another one came out with different phones), and a server
    # worker analyses job after job: every decode must start from the same state.
    audio, first = results[AUDIO_FILES[0]]  # aligned before every other file of the module
    again = analyzer.analyze(audio)
    assert again.method == first.method == "aligned"
    assert again.phones == first.phones and again.words == first.words
    hamilton, latentsync = (load_audio(media_dir / f"videos/{n}.mp4")
                            for n in ("facerecognition_short_hamilton_clip", "latentsync_demo1_video"))
    alone = analyzer.analyze(latentsync, transcribe=False)
    analyzer.analyze(hamilton, transcribe=False)
    after = analyzer.analyze(latentsync, transcribe=False)
    assert alone.method == after.method == "recognized"
    assert after.phones == alone.phones
