"""Prosody for head motion and expression: f0, intensity, pitch accents, phrases.

All tracks use the speech grid of :mod:`.acoustic` (10 ms, value ``i`` at ``(i + 0.5) * hop``).
Accents are prominences: a syllable nucleus whose pitch and loudness stand out from the speaker's
local baseline. With phones, only vowels (stressed ones when stress is known) are candidates, so
accents land on syllables, where a nod or a brow raise belongs.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.ndimage import uniform_filter1d

from ..records import Audio, Prosody, SpeechTimeline
from .acoustic import HOP_S, n_frames, pitch_track, to_analysis_rate
from .phonetics import VOWELS
from .timeline import phrases_between

log = logging.getLogger(__name__)

#: Local baseline window (±s): long enough to span a phrase, short enough to follow declination.
BASELINE_HALF_S = 1.5
#: A pitch rise of this many semitones above the local median is a full-strength pitch cue.
F0_FULL_ST = 4.0
#: An intensity rise of this many dB above the local speech median is a full-strength loudness cue.
INTENSITY_FULL_DB = 6.0
#: Weight of pitch versus loudness in accent strength (pitch is the main cue of English accents).
F0_WEIGHT = 0.6
#: Candidates weaker than this are ordinary syllables, not accents (stressed vowels known)...
MIN_ACCENT_STRENGTH = 0.2
#: ...and when every syllable is a candidate (no stress: recognised phones or acoustic nuclei)
#: a higher bar keeps accents to about one per phrase-sized stretch, as with stress known.
MIN_ACCENT_STRENGTH_ANY_SYLLABLE = 0.45
#: Two accents closer than this are one gesture; the weaker is dropped.
MIN_ACCENT_GAP_S = 0.25
#: Without phones, syllable nuclei are intensity peaks at least this far apart (≈ syllable rate).
NUCLEUS_GAP_S = 0.18
#: Praat intensity minimum pitch: sets its window (3.2 / 75 Hz ≈ 43 ms), right for any voice.
INTENSITY_MIN_PITCH_HZ = 75.0


def _intensity_track(audio: Audio, n: int, hop_s: float) -> np.ndarray:
    """Praat intensity (dB) per grid frame; edge frames repeat the nearest measured value."""
    import parselmouth

    out = np.zeros(n, np.float32)
    if n == 0 or audio.duration_s < 0.1:
        return out
    snd = parselmouth.Sound(audio.samples.astype(np.float64), sampling_frequency=audio.rate)
    intensity = snd.to_intensity(minimum_pitch=INTENSITY_MIN_PITCH_HZ, time_step=hop_s)
    values = np.asarray(intensity.values[0], dtype=np.float32)
    times = np.asarray(intensity.xs(), dtype=np.float64)
    if values.size == 0:
        return out
    centres = (np.arange(n) + 0.5) * hop_s
    return np.interp(centres, times, values).astype(np.float32)


def _candidates(
    speech: SpeechTimeline, intensity: np.ndarray, voiced: np.ndarray, hop_s: float
) -> tuple[list[tuple[int, int]], bool]:
    """Frame spans [a, b) of syllable nuclei to score, and whether they are stressed ones."""
    vowels = [p for p in speech.phones if p.label in VOWELS]
    if vowels:
        stressed = any(p.stress for p in vowels)
        if stressed:
            vowels = [p for p in vowels if p.stress >= 1]
        return [(int(p.start_s / hop_s), max(int(p.start_s / hop_s) + 1, int(np.ceil(p.end_s / hop_s))))
                for p in vowels], stressed
    if not voiced.any():
        return [], False
    smooth = uniform_filter1d(intensity.astype(np.float64), size=5, mode="nearest")
    smooth = np.where(voiced, smooth, smooth.min())
    # Imported here, not at module level: scipy.signal costs ~0.5 s to import, which would
    # otherwise sit on every job's serial start-up (here it runs on the speech thread).
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(smooth, distance=max(1, int(NUCLEUS_GAP_S / hop_s)))
    half = int(0.04 / hop_s)
    return [(max(0, p - half), p + half + 1) for p in peaks if voiced[p]], False


def find_accents(
    spans: list[tuple[int, int]], f0_hz: np.ndarray, intensity_db: np.ndarray, speaking: np.ndarray, hop_s: float,
    min_strength: float = MIN_ACCENT_STRENGTH,
) -> list[tuple[float, float]]:
    """(time_s, strength 0..1) of prominent nuclei among ``spans`` (see module docstring)."""
    n = f0_hz.shape[0]
    semitones = 12.0 * np.log2(np.where(np.isfinite(f0_hz) & (f0_hz > 0), f0_hz, np.nan) / 100.0)
    half = int(BASELINE_HALF_S / hop_s)
    scored: list[tuple[float, float]] = []
    for a, b in spans:
        a, b = max(0, a), min(n, b)
        if b <= a:
            continue
        lo, hi = max(0, a - half), min(n, b + half)
        local_st = semitones[lo:hi]
        local_st = local_st[np.isfinite(local_st)]
        span_st = semitones[a:b]
        f0_cue = 0.0
        peak_at = a + int(np.argmax(intensity_db[a:b]))
        if local_st.size >= 5 and np.isfinite(span_st).any():
            f0_cue = float(np.clip((np.nanmax(span_st) - np.median(local_st)) / F0_FULL_ST, 0.0, 1.0))
            peak_at = a + int(np.nanargmax(span_st))
        local_int = intensity_db[lo:hi][speaking[lo:hi]]
        int_cue = 0.0
        if local_int.size >= 5:
            int_cue = float(np.clip((intensity_db[a:b].max() - np.median(local_int)) / INTENSITY_FULL_DB, 0.0, 1.0))
        strength = F0_WEIGHT * f0_cue + (1.0 - F0_WEIGHT) * int_cue
        if strength >= min_strength:
            scored.append(((peak_at + 0.5) * hop_s, round(strength, 3)))
    # Keep the stronger of accents closer than MIN_ACCENT_GAP_S.
    kept: list[tuple[float, float]] = []
    for t, s in sorted(scored, key=lambda x: -x[1]):
        if all(abs(t - kt) >= MIN_ACCENT_GAP_S for kt, _ in kept):
            kept.append((t, s))
    return sorted(kept)


def analyze_prosody(audio: Audio, speech: SpeechTimeline) -> Prosody:
    """Pitch (NaN unvoiced), intensity, accents and phrases of ``audio`` on a 10 ms grid."""
    audio = to_analysis_rate(audio)
    hop_s = speech.hop_s or HOP_S
    n = n_frames(audio.duration_s, hop_s)
    f0 = pitch_track(audio, n, hop_s)
    intensity = _intensity_track(audio, n, hop_s)
    speaking = speech.energy[:n] > 0 if speech.energy.shape[0] >= n else np.ones(n, bool)
    f0 = np.where(speaking, f0, np.nan).astype(np.float32)
    spans, stressed = _candidates(speech, intensity, np.isfinite(f0), hop_s)
    accents = find_accents(
        spans, f0, intensity, speaking, hop_s,
        MIN_ACCENT_STRENGTH if stressed else MIN_ACCENT_STRENGTH_ANY_SYLLABLE,
    )
    phrases = phrases_between(speech.pauses, audio.duration_s)
    log.debug("prosody: %d accents, %d phrases", len(accents), len(phrases))
    return Prosody(hop_s=hop_s, f0_hz=f0, intensity_db=intensity, accents=tuple(accents), phrases=tuple(phrases))
