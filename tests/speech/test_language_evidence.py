"""Is it English? Decided by whether the transcript's phones explain the audio (pocketsphinx's
forced alignment: acoustic fit and coverage of the speech), not by Whisper's own scores.

Speech in other languages comes from espeak-ng (it speaks them all offline); the transcripts are
the kind of fluent English an English-only Whisper writes over foreign speech. The real clips
are in test_speech_media.py.
"""

from __future__ import annotations

import pytest

from reperform.config import EngineConfig
from reperform.speech import SpeechAnalyzer, synthesize

#: One sentence per language: "She walked along the quiet beach at sunset, thinking about the
#: letter her brother had sent from the mountains."
FOREIGN = {
    "de": "Sie ging bei Sonnenuntergang den ruhigen Strand entlang und dachte an den Brief, den ihr "
          "Bruder aus den Bergen geschickt hatte.",
    "es": "Caminaba por la playa tranquila al atardecer, pensando en la carta que su hermano le había "
          "enviado desde las montañas.",
    "fr": "Elle marchait le long de la plage tranquille au coucher du soleil, en pensant à la lettre que "
          "son frère avait envoyée des montagnes.",
    "cmn": "她在日落时沿着安静的海滩散步，想着她哥哥从山里寄来的信。",
    "hi": "वह सूर्यास्त के समय शांत समुद्र तट पर चल रही थी और अपने भाई के पहाड़ों से भेजे गए पत्र के बारे में सोच रही थी।",
}
ENGLISH = ("She walked along the quiet beach at sunset, thinking about the letter her brother had sent "
           "from the mountains.")
HALLUCINATIONS = (
    "I'm going to go to the next video, and I'll see you next time.",
    "Thank you for watching and please subscribe to the channel for more videos like this one.",
    ENGLISH,  # the right meaning in the wrong language
)


@pytest.fixture(scope="module")
def analyzer() -> SpeechAnalyzer:
    from reperform import runtime

    runtime.tune_process()
    return SpeechAnalyzer(EngineConfig())


@pytest.mark.parametrize("language", sorted(FOREIGN))
def test_foreign_speech_is_not_aligned_whatever_english_transcript_it_gets(analyzer, language):
    audio = synthesize(FOREIGN[language], voice=language)
    for text in HALLUCINATIONS:
        tl = analyzer.analyze(audio, text=text)
        assert tl.method == "recognized" and tl.language == "", (text, tl.evidence)
        assert "does not explain" in tl.evidence or "did not align" in tl.evidence, tl.evidence
        assert tl.words == ()


@pytest.mark.parametrize("language", sorted(FOREIGN))
def test_foreign_speech_transcribed_by_whisper_gets_recognised_phones(analyzer, language):
    tl = analyzer.analyze(synthesize(FOREIGN[language], voice=language))
    assert tl.method == "recognized" and tl.language == "", tl.evidence
    assert len([p for p in tl.phones if p.label != "SIL"]) >= 10


@pytest.mark.parametrize("voice", ["en-us", "en-us+f2", "en-us+m3"])
def test_english_speech_is_aligned_with_its_own_words_and_refused_with_others(analyzer, voice):
    audio = synthesize(ENGLISH, voice=voice)
    tl = analyzer.analyze(audio, text=ENGLISH)
    assert tl.method == "aligned" and tl.language == "en", tl.evidence
    assert "explains the audio" in tl.evidence
    assert [w.text for w in tl.words][:4] == ["she", "walked", "along", "the"]
    wrong = analyzer.analyze(audio, text=HALLUCINATIONS[1])
    assert wrong.method == "recognized", wrong.evidence
    assert tl.phones != wrong.phones


def test_whisper_transcribed_english_speech_is_aligned(analyzer):
    tl = analyzer.analyze(synthesize(ENGLISH, voice="en-us"))
    assert tl.method == "aligned" and "explains the audio" in tl.evidence
