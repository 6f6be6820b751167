"""Sound for a video whose segments each speak their own audio.

Two tracks are cut from the same segment list, on the video's timeline (sample 0 = the first
video frame):

* the **drive** — each segment's audio (cropped, cut at the segment's end) and silence
  elsewhere: what the speech analysis hears, so the planned mouth rests outside the segments;
* the **output** sound — the same pieces laid over the video's *own* sound, which plays
  untouched outside every segment. At each segment edge the two cross-fade over
  :data:`FADE_S` (raised cosine, inside the segment): a cut between two waveforms is a click.
"""

from __future__ import annotations

import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Cross-fade at each segment edge between the video's own sound and the segment's audio. 10 ms
#: is long enough that no sample step is audible as a click (a step spread over 480 samples at
#: 48 kHz), short enough not to smear the first syllable.
FADE_S = 0.010


@dataclass(frozen=True, slots=True)
class Piece:
    """One segment's audio on the video's timeline: ``samples`` ([channels, n]) start at ``start_s``
    and the segment lasts ``length_s`` (the audio is cut there; if shorter, silence follows)."""

    start_s: float
    length_s: float
    samples: np.ndarray  # float32[channels, n] at the track's rate, already cropped


def crop(samples: np.ndarray, rate: int, start_s: float | None, end_s: float | None) -> np.ndarray:
    """``samples`` ([channels, n]) between ``start_s`` and ``end_s`` (the whole when None)."""
    if start_s is None or end_s is None:
        return samples
    a, b = int(round(start_s * rate)), int(round(end_s * rate))
    return samples[:, a:b]


def compose(pieces: Sequence[Piece], n_samples: int, rate: int, background: np.ndarray | None,
            *, channels: int) -> np.ndarray:
    """A ``[channels, n_samples]`` track: ``background`` (or silence) with every piece laid in
    its span, cross-faded at both edges of the span over :data:`FADE_S`."""
    out = np.zeros((channels, n_samples), np.float32)
    if background is not None:
        n = min(n_samples, background.shape[1])
        out[:, :n] = background[:channels, :n]
    fade_n = max(1, int(round(FADE_S * rate)))
    for piece in pieces:
        a = int(round(piece.start_s * rate))
        b = min(n_samples, a + int(round(piece.length_s * rate)))
        if b <= a:
            continue
        span = np.zeros((channels, b - a), np.float32)
        n = min(b - a, piece.samples.shape[1])
        span[:, :n] = piece.samples[:channels, :n]
        out[:, a:b] = _crossfade(out[:, a:b], span, fade_n)
    return out


def _crossfade(under: np.ndarray, over: np.ndarray, fade_n: int) -> np.ndarray:
    """``over`` replacing ``under`` (same shape), with a raised-cosine ramp at each end."""
    n = under.shape[1]
    k = min(fade_n, n // 2)
    gain = np.ones(n, np.float32)
    if k > 0:
        ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(k) + 0.5) / k)).astype(np.float32)
        gain[:k] = ramp
        gain[n - k:] = ramp[::-1]
    return under * (1.0 - gain) + over * gain


def own_sound(samples: np.ndarray | None, rate: int, video_start_s: float) -> np.ndarray | None:
    """The video's own sound re-based onto the video's timeline (its first frame plays at
    ``video_start_s`` on the audio's clock)."""
    if samples is None:
        return None
    shift = int(round(video_start_s * rate))
    if shift >= 0:
        return samples[:, shift:]
    return np.concatenate([np.zeros((samples.shape[0], -shift), samples.dtype), samples], axis=1)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Mono 16-bit PCM WAV of ``samples`` ([1, n] or [n], float in [-1, 1])."""
    mono = np.asarray(samples, np.float32).reshape(-1)
    pcm = (np.clip(mono, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path
