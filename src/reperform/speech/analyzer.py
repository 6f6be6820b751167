"""What is said and when: transcript → forced alignment → phones, with fallbacks.

Methods, best first:
- ``aligned``: English speech whose transcript (given text or Whisper's) the forced alignment
  shows to explain the audio: phones and words with exact timing.
- ``recognized``: any other speech — another language, English without a usable transcript —
  gets pocketsphinx's free phone recognition. Its English phone set is only an approximation of
  other languages' sounds, but lip shapes are coarser than phones (closures, rounding, opening),
  and on the benchmark's non-English clips this route followed the real mouth better than the
  loudness tracks alone (docs/benchmarks.md, "Speech routes").
- ``acoustic``: no speech, or nothing recognisable: no phones; the energy/openness tracks
  (always present) carry the articulation.

**Is it English?** Whisper's own segment scores are no evidence that holds from one package
version to the next: an English-only model turns Mandarin into fluent English, and whether its
log-probabilities pass a filter changes with the build. The decision is made by what the pinned
pocketsphinx model hears instead — whether the transcript's phones *explain the audio*: the
forced alignment must cover the speech the loudness gate finds (``MIN_ALIGN_AGREEMENT``) and fit
it acoustically (``MIN_TRANSCRIPT_FIT``, the alignment's mean acoustic score per frame of speech).
A hallucinated transcript fails one or both. ``SpeechTimeline.evidence`` says what decided.
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
from .acoustic import AcousticTracks, analyze_acoustics, energy_pauses, energy_speech_runs, to_analysis_rate
from .align import SPHINX_FRAME_S, WARM_UP_AUDIO, AlignedPhone, AlignedWord, Aligner, AlignmentFailed
from .phonetics import SILENCE, tokenize_transcript
from .recognize import PhoneRecognizer
from .timeline import MIN_PAUSE_S, clean_phones, pauses_from_phones, subtract_ranges
from .transcribe import EMPTY_TRANSCRIPT, Transcriber, Transcript, resolve_model_path

log = logging.getLogger(__name__)

#: Less than this much gated speech (s) is "no speech": skip Whisper, which hallucinates text on
#: near-silence, and return an acoustic timeline with one long pause.
MIN_SPEECH_S = 0.15
#: An alignment whose speech phones cover less than this share of the loud frames, or whose
#: speech phones sit mostly on silence, matched the wrong words: fall back to recognition.
MIN_ALIGN_AGREEMENT = 0.6
#: The forced alignment's mean acoustic score per 10-ms frame of speech (pocketsphinx's integer
#: log-likelihood units, higher = the words' phone models fit the sound better) below which the
#: transcript does not explain the audio: in the gap between real and synthetic English with
#: their own words and English-like transcripts that cover speech they do not fit, measured with
#: the pinned pocketsphinx model (docs/tuning.md; benchmarks/speech_routes.py). Close to it sit
#: Whisper's transliterations of other languages: there it chooses between two phone routes,
#: not between phones and none.
MIN_TRANSCRIPT_FIT = -47.0
#: Share of segment time that must align for the result to count as "aligned".
MIN_ALIGNED_SHARE = 0.6
#: Whisper segment times are ±0.5 s; each window extends this far past its segment's ends.
SEGMENT_PAD_S = 0.6
#: Loud stretches at least this long inside an aligned silence are not pause (a breath, a word
#: the transcript missed); shorter ones (clicks, lip smacks) leave the pause whole.
LOUD_IN_PAUSE_S = 0.1
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


def _phones_from_recognition(recognized: list[AlignedPhone]) -> list[Phone]:
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
                # Whisper runs beside the source's phone recognition and the video pass's two mesh
                # lanes: with all the engine's threads it would oversubscribe the cores (measured
                # on 2 cores: one thread was ~0.3 s faster per 720p job than two).
                threads = max(1, self.config.threads // 2)
                self._transcriber = Transcriber(path, threads) if path else None
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
            return EMPTY_TRANSCRIPT
        return model.transcribe(to_analysis_rate(audio))

    def analyze(self, audio: Audio, *, text: str | None = None, transcribe: bool = True) -> SpeechTimeline:
        """The :class:`SpeechTimeline` of ``audio`` (see the module docstring for the methods).

        ``transcribe=False`` skips Whisper (and so alignment): speech gets recognised phones. A
        third of the CPU of a transcribed analysis, for callers that need phone timing, not words.
        """
        t0 = time.perf_counter()
        audio = to_analysis_rate(audio)
        duration = audio.duration_s
        tracks = analyze_acoustics(audio)
        speech_s = float((tracks.energy > 0).sum()) * tracks.hop_s
        has_speech = speech_s >= MIN_SPEECH_S

        transcript, whisper_ran = self._transcript(audio, text, has_speech) if transcribe else (EMPTY_TRANSCRIPT, False)

        method, phones, words, language = "acoustic", [], [], ""
        if not has_speech:
            evidence = f"no speech ({speech_s:.2f} s above the loudness gate)"
        elif not transcribe:
            evidence = "not transcribed (phone timing only)"
        elif transcript.language not in (ENGLISH, ""):
            evidence = f"Whisper identified the language as {transcript.language!r}"
        elif not transcript.text:
            evidence = (f"Whisper heard no plausible English in {speech_s:.1f} s of speech" if whisper_ran
                        else "no transcript (no Whisper model)")
        else:
            phones, words, method, evidence = self._align(audio, transcript, tracks)
            if method == "aligned":
                language = ENGLISH
        if method != "aligned" and has_speech:
            recognized = self.recognizer().recognize(audio)
            if any(p.label != SILENCE for p in recognized):
                phones, words, method = _phones_from_recognition(recognized), [], "recognized"

        phones = clean_phones(phones, duration) if phones else []
        pauses = _pauses(method, phones, tracks, has_speech, duration)
        log.info(
            "speech: %s, %d phones, %d words, %d pauses, lang=%s in %.2f s — %s",
            method, len(phones), len(words), len(pauses), language or "?", time.perf_counter() - t0, evidence,
        )
        return SpeechTimeline(
            phones=tuple(phones), words=tuple(words), pauses=tuple(pauses), duration_s=duration,
            method=method, language=language, transcript=transcript.text if method == "aligned" else "",
            evidence=evidence, hop_s=tracks.hop_s, energy=tracks.energy, openness=tracks.openness,
            voiced=tracks.voiced, features=tracks.features,
        )

    def _transcript(self, audio: Audio, text: str | None, has_speech: bool) -> tuple[Transcript, bool]:
        """The given text (taken as English), else Whisper's transcript; and whether Whisper ran.

        Whisper is not asked about audio without speech: it invents text for silence.
        """
        if text is not None and text.strip():
            return Transcript(text.strip(), ENGLISH, 1.0, ()), False
        if not has_speech or self.transcriber() is None:
            return EMPTY_TRANSCRIPT, False
        try:
            return self.transcribe(audio), True
        except EngineError:
            raise
        except Exception as exc:  # a model failure must not fail the job: the tracks still work
            log.warning("Whisper transcription failed (%s); continuing without a transcript", exc)
            return EMPTY_TRANSCRIPT, True

    def _align(
        self, audio: Audio, transcript: Transcript, tracks: AcousticTracks
    ) -> tuple[list[Phone], list[Word], str, str]:
        """Whole-transcript alignment (chunked inside the aligner when long), else per Whisper
        segment; each accepted only when it explains the audio (see the module docstring).
        Returns phones, words, "aligned" or "acoustic" (not explained), and the evidence.

        The whole alignment is cropped to the span Whisper transcribed (± SEGMENT_PAD_S): speech
        Whisper left out (a cut-off word at the start, a stray phrase) would otherwise pull the
        first or last words onto itself. Speech outside the span gets recognised phones.
        """
        aligner, rate, duration = self.aligner(), audio.rate, audio.duration_s
        lo, hi = 0.0, duration
        if transcript.segments:
            lo = max(0.0, transcript.segments[0][0] - SEGMENT_PAD_S)
            hi = min(duration, transcript.segments[-1][1] + SEGMENT_PAD_S)
        tried: list[str] = []
        try:
            piece = Audio(samples=audio.samples[int(lo * rate): int(hi * rate)], rate=rate)
            aligned = [w.shifted(int(lo * rate) / rate)
                       for w in aligner.align(piece, tokenize_transcript(transcript.text))]
            phones, words = _phones_from_alignment(aligned)
            phones += self._recognize_outside(audio, lo, hi, tracks)
            verdict = _explains(aligned, phones, tracks, "the transcript")
            if verdict[0]:
                return phones, words, "aligned", verdict[1]
            tried.append(verdict[1])
        except AlignmentFailed as exc:
            tried.append(f"the transcript did not align ({exc})")
        if transcript.segments:
            aligned, extra, share = self._align_segments(audio, transcript.segments)
            phones, words = _phones_from_alignment(aligned)
            phones += extra
            windows = segment_windows(transcript.segments, duration)
            if windows:
                phones += self._recognize_outside(audio, windows[0][0], windows[-1][1], tracks)
            what = f"its segments ({100 * share:.0f}% of their time explained)"
            if share >= MIN_ALIGNED_SHARE:
                return phones, words, "aligned", f"{what}: " + _explains(aligned, phones, tracks, "together")[1]
            tried.append(what)
        return [], [], "acoustic", "not English, or not what Whisper heard: " + "; ".join(tried)

    def _recognize_outside(self, audio: Audio, lo: float, hi: float, tracks: AcousticTracks) -> list[Phone]:
        """Recognised phones for [0, lo) and [hi, end) when they hold real (gated) speech."""
        out: list[Phone] = []
        hop, rate = tracks.hop_s, audio.rate
        for a, b in ((0.0, lo), (hi, audio.duration_s)):
            if (tracks.energy[int(a / hop): int(b / hop)] > 0).sum() * hop < MIN_SPEECH_S:
                continue
            piece = Audio(samples=audio.samples[int(a * rate): int(b * rate)], rate=rate)
            offset = int(a * rate) / rate
            out.extend(Phone(p.start_s + offset, p.end_s + offset, p.label)
                       for p in self.recognizer().recognize(piece))
        return out

    def _align_segments(
        self, audio: Audio, segments: tuple[tuple[float, float, str], ...]
    ) -> tuple[list[AlignedWord], list[Phone], float]:
        """Align each Whisper segment inside its own window; a window whose alignment fails or
        does not explain its own audio (the same test as a whole transcript's) gets recognised
        phones instead. Returns the explained windows' words, the recognised phones, and the
        share of segment time explained.

        Each window is judged alone: a short window lets silence absorb what its words do not
        cover, so only its own fit and coverage tell a transliteration from a hallucination
        (Whisper's "Bye! Bye! Bye!" over Mandarin aligns, covering a third of the speech).
        """
        aligner, rate = self.aligner(), audio.rate
        aligned_words: list[AlignedWord] = []
        extra: list[Phone] = []
        ok_s = total_s = 0.0
        for a, b in segment_windows(segments, audio.duration_s):
            i0, i1 = int(a * rate), int(b * rate)
            piece = Audio(samples=audio.samples[i0:i1], rate=rate)
            seg_text = " ".join(t for s0, s1, t in segments if a <= 0.5 * (s0 + s1) < b)
            total_s += b - a
            try:
                words = aligner.align(piece, tokenize_transcript(seg_text))
                explained, why = _explains(words, _phones_from_alignment(words)[0], analyze_acoustics(piece), "")
                if not explained:
                    raise AlignmentFailed(why)
                aligned_words.extend(w.shifted(i0 / rate) for w in words)
                ok_s += b - a
            except AlignmentFailed as exc:
                log.debug("segment %.2f-%.2f not aligned (%s): recognising it", a, b, exc)
                extra.extend(
                    Phone(p.start_s + i0 / rate, p.end_s + i0 / rate, p.label)
                    for p in self.recognizer().recognize(piece)
                )
        return aligned_words, extra, ok_s / total_s if total_s > 0 else 0.0


def transcript_fit(aligned: list[AlignedWord], tracks: AcousticTracks) -> float:
    """Mean acoustic score per 10-ms frame of the alignment over the loud frames it covers.

    Each phone's score is spread evenly over its frames; loud frames the alignment labelled as
    silence count with the silence model's score, so speech a short transcript leaves out weighs
    against it. ``-inf`` when no loud frame is covered.
    """
    per_frame = np.full(tracks.energy.shape[0], np.nan)
    hop = tracks.hop_s
    for w in aligned:
        for p in w.phones:
            i0, i1 = int(round(p.start_s / hop)), int(round(p.end_s / hop))
            if i1 > i0:
                per_frame[i0:i1] = p.score * (SPHINX_FRAME_S / hop) / (i1 - i0)
    ok = (tracks.energy > 0) & np.isfinite(per_frame)
    return float(per_frame[ok].mean()) if ok.any() else float("-inf")


def _explains(
    aligned: list[AlignedWord], phones: list[Phone], tracks: AcousticTracks, what: str
) -> tuple[bool, str]:
    """Whether an alignment explains the audio, and the evidence as one line for the log."""
    agreement = alignment_agreement(phones, tracks)
    fit = transcript_fit(aligned, tracks)
    ok = agreement >= MIN_ALIGN_AGREEMENT and fit >= MIN_TRANSCRIPT_FIT
    sign = (">=", "<")
    return ok, (
        f"{what + ' ' if what else ''}{'explains' if ok else 'does not explain'} the audio: acoustic fit {fit:.1f} per frame "
        f"({sign[fit < MIN_TRANSCRIPT_FIT]} {MIN_TRANSCRIPT_FIT:.0f}), covers the speech "
        f"{agreement:.2f} ({sign[agreement < MIN_ALIGN_AGREEMENT]} {MIN_ALIGN_AGREEMENT})"
    )


def _pauses(
    method: str, phones: list[Phone], tracks: AcousticTracks, has_speech: bool, duration_s: float
) -> list[tuple[float, float]]:
    """Pauses by the most trustworthy account available.

    Aligned: silence by both accounts, SIL in the alignment and not loud (loud SIL is speech the
    transcript left out, or laughter: SIL phones, but no pause). Recognised or acoustic: the
    loudness gate, as recognition's SIL is unreliable. No speech: one pause over everything.
    """
    if not has_speech:
        return [(0.0, duration_s)] if duration_s >= MIN_PAUSE_S else []
    if method == "aligned":
        return subtract_ranges(
            pauses_from_phones(phones), energy_speech_runs(tracks, LOUD_IN_PAUSE_S), MIN_PAUSE_S
        )
    return energy_pauses(tracks)


def segment_windows(
    segments: tuple[tuple[float, float, str], ...], duration_s: float, pad_s: float = 0.0
) -> list[tuple[float, float]]:
    """Non-overlapping windows [a, b) covering each segment, padded by ``pad_s`` (default
    SEGMENT_PAD_S), split at the midpoint where padded neighbours would overlap, and together
    covering [0, duration] (Whisper's segment times are only ±0.5 s right)."""
    pad = pad_s or SEGMENT_PAD_S
    spans = sorted((max(0.0, s0), min(duration_s, max(s0, s1))) for s0, s1, _ in segments)
    windows: list[tuple[float, float]] = []
    for i, (s0, s1) in enumerate(spans):
        a = 0.0 if i == 0 else 0.5 * (spans[i - 1][1] + s0)
        b = duration_s if i == len(spans) - 1 else 0.5 * (s1 + spans[i + 1][0])
        a, b = max(a, s0 - pad, 0.0), min(b, s1 + pad, duration_s)
        if windows:
            a = max(a, windows[-1][1])
        if b - a > 0.05:
            windows.append((a, b))
    return windows


@functools.lru_cache(maxsize=2)
def _shared_analyzer(config: EngineConfig) -> SpeechAnalyzer:
    """One analyzer per engine configuration, kept for the life of the process.

    Why a cache: ``analyze_speech`` is a plain function the pipeline calls twice per job (driving
    audio and the source video's own audio), and a worker runs many jobs; reloading Whisper
    (~0.5 s, ~100 MB) and the CMU dictionary (~0.1 s) each time would double the stage's cost
    (the pocketsphinx decoders themselves are built per call, see ``align.warm_up``). Keyed on the frozen config, so a different model path gets its own analyzer; at most
    two are kept so a long-lived process cannot accumulate models.
    """
    return SpeechAnalyzer(config)


def warm_up(config: EngineConfig) -> None:
    """Load this configuration's models now (Whisper, the CMU dictionary, pocketsphinx and its
    model files), so a long-lived worker pays for them once, before its first job."""
    analyzer = _shared_analyzer(config)
    analyzer.transcriber()
    analyzer.aligner()
    analyzer.recognizer().recognize(WARM_UP_AUDIO)


def analyze_speech(
    audio: Audio, *, text: str | None, config: EngineConfig, transcribe: bool = True
) -> SpeechTimeline:
    """Phones, words, pauses and articulation tracks of ``audio`` (float32 mono, 16 kHz).

    ``transcribe=False``: no Whisper; speech gets recognised phones (see ``SpeechAnalyzer.analyze``).
    """
    return _shared_analyzer(config).analyze(audio, text=text, transcribe=transcribe)
