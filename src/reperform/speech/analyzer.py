"""What is said and when: transcript → forced alignment → phones, with fallbacks.

Methods, best first:
- ``aligned``: English transcript (given text or Whisper) force-aligned by pocketsphinx.
- ``recognized``: English speech without a usable transcript: pocketsphinx phone recognition.
- ``acoustic``: any other language, or no speech: no phones; words from Whisper when it heard
  some; the energy/openness tracks (always present) carry the articulation.
"""

from __future__ import annotations

import functools
import logging
import threading
import time

import numpy as np

from ..config import EngineConfig
from ..errors import EngineError
from ..records import Audio, Phone, SpeechTimeline, Word
from .acoustic import AcousticTracks, analyze_acoustics, energy_pauses, to_analysis_rate
from .align import AlignedWord, Aligner, AlignmentFailed
from .phonetics import SILENCE, tokenize_transcript
from .recognize import PhoneRecognizer
from .timeline import clean_phones, merge_ranges, pauses_from_phones
from .transcribe import Transcriber, Transcript, resolve_model_path

log = logging.getLogger(__name__)

#: Less than this much gated speech (s) is "no speech": skip Whisper, which hallucinates text on
#: near-silence, and return an acoustic timeline with one long pause.
MIN_SPEECH_S = 0.15
#: An alignment whose speech phones cover less than this share of the loud frames, or whose
#: speech phones sit mostly on silence, matched the wrong words: fall back to recognition.
MIN_ALIGN_AGREEMENT = 0.6
#: Languages whose speech the en-us acoustic model can align.
ENGLISH = "en"


def alignment_agreement(phones: list[Phone], tracks: AcousticTracks) -> float:
    """Share of grid frames where "speech phone" and "above the loudness gate" agree, computed
    over frames where either says speech (silence both agree on is not evidence)."""
    n = tracks.energy.shape[0]
    speech = np.zeros(n, bool)
    for p in phones:
        if p.label != SILENCE:
            speech[int(p.start_s / tracks.hop_s): int(np.ceil(p.end_s / tracks.hop_s))] = True
    loud = tracks.energy > 0
    either = speech | loud
    if not either.any():
        return 1.0
    return float((speech & loud).sum() / either.sum())


def _phones_from_alignment(aligned: list[AlignedWord]) -> tuple[list[Phone], list[Word]]:
    phones: list[Phone] = []
    words: list[Word] = []
    for w in aligned:
        index = -1
        if w.text:
            index = len(words)
            words.append(Word(w.start_s, w.end_s, w.text))
        for p in w.phones:
            phones.append(Phone(p.start_s, p.end_s, p.label, p.stress, index if p.label != SILENCE else -1))
    return phones, words


def _phones_from_recognition(recognized) -> list[Phone]:  # noqa: ANN001 (list[AlignedPhone])
    return [Phone(p.start_s, p.end_s, p.label, 0, -1) for p in recognized]


class SpeechAnalyzer:
    """Owns the costly resources of the speech stage (Whisper model, pocketsphinx decoders).

    Built once per process (the pipeline or a worker keeps it), each resource loaded on first
    use. Calls are safe from several threads: decoders lock internally, the Whisper model is
    re-entrant, and lazy loading is guarded.
    """

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._transcriber: Transcriber | None = None
        self._transcriber_loaded = False
        self._aligner: Aligner | None = None
        self._recognizer: PhoneRecognizer | None = None

    # -- lazily built resources
    def transcriber(self) -> Transcriber | None:
        with self._lock:
            if not self._transcriber_loaded:
                path = resolve_model_path(self.config.whisper_model)
                self._transcriber = Transcriber(path, self.config.threads) if path else None
                self._transcriber_loaded = True
            return self._transcriber

    def aligner(self) -> Aligner:
        with self._lock:
            if self._aligner is None:
                self._aligner = Aligner()
            return self._aligner

    def recognizer(self) -> PhoneRecognizer:
        with self._lock:
            if self._recognizer is None:
                self._recognizer = PhoneRecognizer()
            return self._recognizer

    # -- the stage
    def transcribe(self, audio: Audio) -> Transcript:
        model = self.transcriber()
        if model is None:
            return Transcript("", "", 0.0, ())
        return model.transcribe(to_analysis_rate(audio))

    def analyze(self, audio: Audio, *, text: str | None = None) -> SpeechTimeline:
        """The :class:`SpeechTimeline` of ``audio`` (see the module docstring for the methods)."""
        t0 = time.perf_counter()
        audio = to_analysis_rate(audio)
        duration = audio.duration_s
        tracks = analyze_acoustics(audio)
        gated = energy_pauses(tracks)
        speech_s = float((tracks.energy > 0).sum()) * tracks.hop_s

        transcript = Transcript("", "", 0.0, ())
        if text is not None and text.strip():
            transcript = Transcript(text.strip(), ENGLISH, 1.0, ())
        elif speech_s >= MIN_SPEECH_S:
            try:
                transcript = self.transcribe(audio)
            except EngineError:
                raise
            except Exception as exc:  # a model failure must not fail the job: phones still possible
                log.warning("Whisper transcription failed (%s); continuing without a transcript", exc)

        # No language means no Whisper: assume English and let phone recognition try.
        english = transcript.language in (ENGLISH, "")
        method, phones, words = "acoustic", [], list(transcript.words)
        if speech_s < MIN_SPEECH_S:
            words = []
        elif english and transcript.text:
            phones, words, method = self._try_align(audio, transcript, tracks)
        if english and method == "acoustic" and speech_s >= MIN_SPEECH_S:
            recognized = self.recognizer().recognize(audio)
            if any(p.label != SILENCE for p in recognized):
                phones, method = _phones_from_recognition(recognized), "recognized"
                words = list(transcript.words)

        phones = clean_phones(phones, duration) if phones else []
        if method == "aligned":
            pauses = pauses_from_phones(phones)
        elif method == "recognized":
            # Recognition SIL is unreliable; trust it only where the loudness gate agrees.
            pauses = [p for p in merge_ranges(gated) if p[1] - p[0] > 0]
        else:
            pauses = gated if speech_s >= MIN_SPEECH_S else [(0.0, duration)] if duration > 0 else []
        log.info(
            "speech: %s, %d phones, %d words, %d pauses, lang=%s in %.2f s",
            method, len(phones), len(words), len(pauses), transcript.language or "?", time.perf_counter() - t0,
        )
        return SpeechTimeline(
            phones=tuple(phones), words=tuple(words), pauses=tuple(pauses), duration_s=duration,
            method=method, language=transcript.language, transcript=transcript.text,
            hop_s=tracks.hop_s, energy=tracks.energy, openness=tracks.openness, voiced=tracks.voiced,
        )

    def _try_align(
        self, audio: Audio, transcript: Transcript, tracks: AcousticTracks
    ) -> tuple[list[Phone], list[Word], str]:
        tokens = tokenize_transcript(transcript.text)
        try:
            aligned = self.aligner().align(audio, tokens)
        except AlignmentFailed as exc:
            log.info("alignment failed (%s): falling back to phone recognition", exc)
            return [], list(transcript.words), "acoustic"
        phones, words = _phones_from_alignment(aligned)
        agreement = alignment_agreement(phones, tracks)
        if agreement < MIN_ALIGN_AGREEMENT:
            log.info("alignment disagrees with the audio (%.2f): falling back to recognition", agreement)
            return [], list(transcript.words), "acoustic"
        return phones, words, "aligned"


@functools.lru_cache(maxsize=2)
def _shared_analyzer(config: EngineConfig) -> SpeechAnalyzer:
    """One analyzer per engine configuration, kept for the life of the process.

    Why a cache: ``analyze_speech`` is a plain function the pipeline calls twice per job (driving
    audio and the source video's own audio), and a worker runs many jobs; reloading Whisper
    (~0.5 s, ~100 MB) and the pocketsphinx dictionary (~0.3 s) each time would double the stage's
    cost. Keyed on the frozen config, so a different model path gets its own analyzer; at most
    two are kept so a long-lived process cannot accumulate models.
    """
    return SpeechAnalyzer(config)


def analyze_speech(audio: Audio, *, text: str | None, config: EngineConfig) -> SpeechTimeline:
    """Phones, words, pauses and articulation tracks of ``audio`` (float32 mono, 16 kHz)."""
    return _shared_analyzer(config).analyze(audio, text=text)
