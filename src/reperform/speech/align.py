"""Forced alignment of a known transcript with pocketsphinx 5 (bundled en-us model + CMU dict).

Two decoding passes, as pocketsphinx's own aligner does: the first finds word boundaries with the
transcript as a linear grammar, the second aligns phones and states inside them. Words missing
from the dictionary get espeak-ng's pronunciation, or are dropped when espeak cannot read them
(the neighbouring words' silence/phones then absorb them).
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..records import Audio
from .espeak import g2p
from .phonetics import FUNCTION_WORDS, SILENCE, VOWELS, assign_stress, normalize_phone

log = logging.getLogger(__name__)

#: pocketsphinx's feature frame rate is fixed at 100 frames per second.
SPHINX_FRAME_S = 0.01
#: Alignment needs at least a few frames per phone; shorter audio cannot hold a word.
MIN_ALIGN_AUDIO_S = 0.2
#: Audio longer than this is phone-aligned in chunks: the state-level pass holds ≈3 MB per
#: second of audio, so a 10-minute file in one pass would need ~2 GB.
MAX_STATE_ALIGN_S = 40.0
#: Chunks close at the first silence after this length.
CHUNK_TARGET_S = 20.0
#: Dither amplitude in 16-bit steps (≈ −90 dBFS: inaudible, far below any recording's noise).
DITHER_LSB = 1.0
DITHER_SEED = 20240601
#: Wide search beams: the alignment grammar is a single path, so pruning buys no speed (measured:
#: same 0.07 s for 5 s of audio) but the default beams lose the path in fast or clipped speech.
ALIGN_BEAM, ALIGN_WORD_BEAM = 1e-80, 1e-60


@dataclass(frozen=True, slots=True)
class AlignedPhone:
    start_s: float
    end_s: float
    label: str  # ARPAbet without digit or SIL
    stress: int
    #: pocketsphinx's acoustic score of this phone over its frames (log-likelihood in the
    #: decoder's integer units, higher = better fit); 0.0 where no alignment scored it.
    score: float = 0.0

    def shifted(self, offset_s: float, end_s: float = float("inf")) -> AlignedPhone:
        """The same phone ``offset_s`` later, its times capped at ``end_s``."""
        return replace(self, start_s=min(self.start_s + offset_s, end_s), end_s=min(self.end_s + offset_s, end_s))


@dataclass(frozen=True, slots=True)
class AlignedWord:
    start_s: float
    end_s: float
    text: str  # the transcript token; "" for silence
    phones: tuple[AlignedPhone, ...]

    def shifted(self, offset_s: float, end_s: float = float("inf")) -> AlignedWord:
        """The same word and its phones ``offset_s`` later, times capped at ``end_s``."""
        return AlignedWord(min(self.start_s + offset_s, end_s), min(self.end_s + offset_s, end_s), self.text,
                           tuple(p.shifted(offset_s, end_s) for p in self.phones))


class AlignmentFailed(Exception):
    """Internal: the decoder could not align this transcript (caller falls back)."""


def to_pcm16(audio: Audio) -> bytes:
    """float32 [-1, 1] → little-endian 16-bit PCM, what pocketsphinx reads.

    A 1-LSB dither (fixed seed, so results are reproducible) is added: stretches of exact digital
    zeros, as in synthetic speech, give log(0) cepstra and the decoder then finds no path at all.
    """
    noise = np.random.default_rng(DITHER_SEED).standard_normal(audio.samples.shape[0]) * DITHER_LSB
    pcm = np.clip(audio.samples, -1.0, 1.0) * 32767.0 + noise
    return np.clip(np.round(pcm), -32768, 32767).astype("<i2").tobytes()


def sphinx_decoder(**kwargs: Any) -> Any:
    """A decoder with the bundled en-us model, quiet logging, 16 kHz input."""
    import pocketsphinx

    return pocketsphinx.Decoder(samprate=16000, loglevel="FATAL", **kwargs)


@functools.cache
def cmu_dictionary() -> dict[str, tuple[str, ...]]:
    """The bundled CMU dictionary: word → its dictionary entries (``"word(2) P H ..."`` lines).

    Read once per process (~0.1 s) so that each alignment's decoder can be built with only the
    words it needs (~0.05 s) instead of loading all 134k words into it (~0.3 s).
    """
    import pocketsphinx

    entries: dict[str, list[str]] = {}
    with open(pocketsphinx.get_model_path("en-us/cmudict-en-us.dict"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                entries.setdefault(line.split(" ", 1)[0].split("(", 1)[0], []).append(line)
    return {word: tuple(lines) for word, lines in entries.items()}


#: Half a second of faint noise for warming decoders up ...
WARM_UP_AUDIO = Audio(
    samples=(np.random.default_rng(0).standard_normal(8000) * 1e-3).astype(np.float32), rate=16000
)
#: ... and the word alignment decoders align it with.
WARM_UP_WORD = "a"


def warm_up(decoder: Any) -> None:
    """Decode half a second of faint noise once.

    A pocketsphinx decoder is not stateless between utterances: its acoustic scoring starts each
    utterance from what the previous one left (measured: the same clip recognised after another
    gives different phones, with the cepstral mean reset or not), and its very first utterance
    differs again. So every recognition and every alignment call runs on a fresh decoder that has
    first decoded this fixed throwaway utterance: results depend only on the call's audio and
    words, never on earlier jobs of the process. (A long alignment's chunks share their call's
    decoder, so a chunk depends on the chunks before it — still the same for the same input.)
    """
    pcm = to_pcm16(WARM_UP_AUDIO)
    try:
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
    except RuntimeError as exc:  # harmless: only determinism of the first call is at stake
        log.debug("decoder warm-up failed: %s", exc)


def _is_filler(name: str) -> bool:
    """pocketsphinx's silence and noise tokens: <s>, </s>, <sil>, [NOISE], +SPN+ ..."""
    return name.startswith(("<", "[", "+"))


def chunk_plan(
    segs: list[tuple[str, int, int]], target_s: float, max_s: float
) -> list[tuple[int, int, int, int]]:
    """Cut a first-pass word segmentation into chunks: (first frame, end frame, first word,
    end word). A chunk closes in the middle of the first silence after ``target_s``, or at a word
    boundary once it would exceed ``max_s``; chunks tile all frames."""
    target, longest = int(target_s / SPHINX_FRAME_S), int(max_s / SPHINX_FRAME_S)
    end_frame = segs[-1][2] + 1 if segs else 0
    plan: list[tuple[int, int, int, int]] = []
    start, first_word, n_word = 0, 0, 0
    for name, f0, f1 in segs:
        if _is_filler(name):
            if f0 - start >= target:
                cut = (f0 + f1 + 1) // 2
                plan.append((start, cut, first_word, n_word))
                start, first_word = cut, n_word
            continue
        if f1 + 1 - start > longest and f0 > start:
            plan.append((start, f0, first_word, n_word))
            start, first_word = f0, n_word
        n_word += 1
    if end_frame > start or not plan:
        plan.append((start, end_frame, first_word, n_word))
    return plan


class Aligner:
    """Forced alignment with pocketsphinx; each :meth:`align` call decodes on a fresh decoder.

    A fresh decoder per call (see :func:`warm_up`) is what makes an alignment depend only on its
    audio and transcript, not on what the process aligned before (a server worker runs many
    jobs). It holds only the call's words (CMU entries, or espeak readings for words the
    dictionary lacks) and no language model, so it builds in ~0.05 s.
    """

    def __init__(self) -> None:
        self._dictionary = cmu_dictionary()
        self._lock = threading.Lock()  # guards the espeak caches
        self._espeak_stress: dict[str, list[int]] = {}
        self._espeak_entries: dict[str, str] = {}  # words the CMU dictionary lacks → "word PH PH ..."

    def _prepare_words(self, tokens: list[str]) -> list[str]:
        """Tokens with a pronunciation, reading the others with espeak (cached per aligner)."""
        unique = list(dict.fromkeys(tokens))
        with self._lock:
            missing = [t for t in unique if t not in self._dictionary and t not in self._espeak_entries]
            need_stress = [t for t in unique if t not in self._espeak_stress and t not in FUNCTION_WORDS]
            readings = g2p(list(dict.fromkeys(missing + need_stress)))
            for word, phones in readings.items():
                self._espeak_stress[word] = [s for ph, s in phones if ph in VOWELS]
            for word in missing:
                phones = readings.get(word)
                if phones:
                    self._espeak_entries[word] = f"{word} {' '.join(ph for ph, _ in phones)}"
                else:
                    log.info("no pronunciation for %r: dropped from alignment", word)
            return [t for t in tokens if t in self._dictionary or t in self._espeak_entries]

    def _decoder(self, words: list[str]) -> Any:
        """A fresh, warmed-up alignment decoder whose dictionary holds ``words``."""
        lines = [line for w in dict.fromkeys([*words, WARM_UP_WORD])
                 for line in self._dictionary.get(w, ()) or (self._espeak_entries[w],)]
        try:
            fd, path = tempfile.mkstemp(prefix="reperform-", suffix=".dict")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write("\n".join(lines) + "\n")
                decoder = sphinx_decoder(
                    dict=path, lm=None, bestpath=False, beam=ALIGN_BEAM, pbeam=ALIGN_BEAM, wbeam=ALIGN_WORD_BEAM
                )
            finally:
                os.unlink(path)
        except (OSError, RuntimeError, ValueError) as exc:  # no writable temp dir, a bad entry: fall back
            raise AlignmentFailed(f"cannot build the alignment decoder: {exc}") from exc
        try:  # both passes once, as every alignment decoder does (see warm_up)
            self._align_two_pass(decoder, WARM_UP_AUDIO, [WARM_UP_WORD])
        except AlignmentFailed as exc:
            log.debug("aligner warm-up: %s", exc)
        return decoder

    def align(self, audio: Audio, tokens: list[str]) -> list[AlignedWord]:
        """Word and phone timings for ``tokens`` (from :func:`tokenize_transcript`) in ``audio``.

        Raises :class:`AlignmentFailed` when the decoder finds no path through the transcript.
        """
        if audio.duration_s < MIN_ALIGN_AUDIO_S or not tokens:
            raise AlignmentFailed("nothing to align")
        words = self._prepare_words(tokens)
        if not words:
            raise AlignmentFailed("no word of the transcript has a pronunciation")
        decoder = self._decoder(words)
        if audio.duration_s <= MAX_STATE_ALIGN_S:
            return self._align_two_pass(decoder, audio, words)
        return self._align_chunked(decoder, audio, words)

    @staticmethod
    def _first_pass(d: Any, pcm: bytes, words: list[str]) -> list[tuple[str, int, int]]:
        """Word segmentation: (dictionary word or filler, first frame, last frame)."""
        try:
            d.set_align_text(" ".join(words))
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
        except RuntimeError as exc:
            raise AlignmentFailed(str(exc)) from exc
        if d.hyp() is None:
            raise AlignmentFailed("first pass found no path")
        return [(seg.word, seg.start_frame, seg.end_frame) for seg in d.seg()]

    def _align_two_pass(self, d: Any, audio: Audio, words: list[str]) -> list[AlignedWord]:
        pcm = to_pcm16(audio)
        self._first_pass(d, pcm, words)
        try:
            d.set_alignment()
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
            alignment = d.get_alignment()
        except RuntimeError as exc:
            raise AlignmentFailed(str(exc)) from exc
        if alignment is None:
            raise AlignmentFailed("second pass produced no alignment")
        return self._collect(alignment, audio.duration_s)

    def _align_chunked(self, d: Any, audio: Audio, words: list[str]) -> list[AlignedWord]:
        """Long audio: word boundaries from one cheap first pass, then the memory-hungry phone
        pass (≈3 MB per second of audio) chunk by chunk, cut in the middle of silences."""
        segs = self._first_pass(d, to_pcm16(audio), words)
        n_words = sum(not _is_filler(name) for name, _, _ in segs)
        if n_words != len(words):
            raise AlignmentFailed(f"first pass kept {n_words} of {len(words)} words")
        out: list[AlignedWord] = []
        rate = audio.rate
        for f0, f1, w0, w1 in chunk_plan(segs, CHUNK_TARGET_S, MAX_STATE_ALIGN_S):
            i0, i1 = int(f0 * SPHINX_FRAME_S * rate), min(len(audio.samples), int(f1 * SPHINX_FRAME_S * rate))
            piece = Audio(samples=audio.samples[i0:i1], rate=rate)
            offset = i0 / rate
            if w1 == w0:  # silence only
                out.append(AlignedWord(offset, offset + piece.duration_s, "",
                                       (AlignedPhone(offset, offset + piece.duration_s, SILENCE, 0),)))
                continue
            out.extend(w.shifted(offset, audio.duration_s)
                       for w in self._align_two_pass(d, piece, words[w0:w1]))
        return out

    def _collect(self, alignment: Any, duration_s: float) -> list[AlignedWord]:
        """pocketsphinx ``Alignment`` (words → phones, 10 ms frames) → our records, with stress."""
        out: list[AlignedWord] = []
        for w in alignment:
            name = w.name
            is_sil = _is_filler(name)
            text = "" if is_sil else name.split("(")[0]
            raw = [(normalize_phone(p.name), p.start, p.duration, p.score) for p in w]
            labels = [lab for lab, _, _, _ in raw]
            stress = [0] * len(raw) if is_sil else assign_stress(text, labels, self._espeak_stress.get(text))
            phones = tuple(
                AlignedPhone(
                    start_s=min(start * SPHINX_FRAME_S, duration_s),
                    end_s=min((start + dur) * SPHINX_FRAME_S, duration_s),
                    label=SILENCE if is_sil else lab,
                    stress=st,
                    score=float(score),
                )
                for (lab, start, dur, score), st in zip(raw, stress, strict=True)
            )
            start_s = min(w.start * SPHINX_FRAME_S, duration_s)
            end_s = min((w.start + w.duration) * SPHINX_FRAME_S, duration_s)
            out.append(AlignedWord(start_s, end_s, text, phones))
        return out

