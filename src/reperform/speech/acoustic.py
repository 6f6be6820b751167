"""Language-independent articulation tracks on a 10 ms grid: energy, jaw openness, voicing.

Grid convention (shared with :mod:`.prosody`): value ``i`` describes the interval
``[i * hop_s, (i + 1) * hop_s)`` and is measured at its centre; there are
``ceil(duration / hop_s)`` values. These tracks exist for every method, so the motion stage can
always fall back on them (non-English speech, failed alignment) and can scale phone targets by
how loud/open the speech really is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d

from ..records import ARTICULATION_FEATURES, ENERGY_SPAN_DB, Audio

log = logging.getLogger(__name__)

#: Everything in this stage runs at 16 kHz (pocketsphinx's model and Whisper expect it).
RATE_HZ = 16000
#: 10 ms: pocketsphinx's frame rate and fine enough for 60 fps video.
HOP_S = 0.01
#: 25 ms analysis window: the usual speech frame, long enough for one glottal period at 80 Hz.
WINDOW_S = 0.025
#: Peak reference: the 98th percentile of frame loudness, so one click or plosive burst cannot
#: set the scale (and a quiet recording is scaled up to the same 0..1 range).
PEAK_PERCENTILE = 98.0
#: Noise floor estimate: the 5th percentile of frame loudness (the quietest stretches).
FLOOR_PERCENTILE = 5.0
#: The gate sits this fraction of the way from the noise floor to the peak (in dB)...
GATE_FRACTION = 0.3
#: ...but at least this far above the floor (hiss must never count as speech)...
GATE_MIN_ABOVE_FLOOR_DB = 8.0
#: ...and at most this far below the peak (in continuous speech the 5th percentile is speech too).
GATE_MAX_BELOW_PEAK_DB = ENERGY_SPAN_DB
#: Recordings whose peak is below this are digital silence: every track stays zero.
SILENT_PEAK_DBFS = -75.0
#: Speech swings ≥ 25 dB between its loudest vowels and its closures/pauses; a recording whose
#: loudness barely varies (a hum, a tone, steady noise) holds no speech to articulate.
MIN_DYNAMIC_RANGE_DB = 12.0
#: Vowel-region band for openness: F1 and F2 of vowels live here, while /s/, /f/, /sh/ (mouth
#: nearly closed) put their energy above it and the nasal murmur of /m n/ mostly below it.
#: Chosen on the test recordings by correlating with aligned-phone openness (0.72 → 0.76).
OPEN_BAND_HZ = (250.0, 2500.0)
#: F1 range over which openness grows: close vowels (/i/, /u/) ≈ 300 Hz, open /a/ ≈ 750–900 Hz.
F1_CLOSED_HZ, F1_OPEN_HZ = 300.0, 800.0
#: Share of openness carried by F1 (the rest by loudness alone): F1 is the acoustic correlate
#: of jaw opening, loudness only says that something is being said.
F1_WEIGHT = 0.8
#: Unvoiced sounds (fricatives, bursts) get at most this openness: the jaw is fairly closed.
UNVOICED_OPEN_MAX = 0.6
#: Silence shorter than this inside speech is a stop closure or a breath, not a pause.
MIN_PAUSE_S = 0.12
#: Light smoothing of the openness track (jaw inertia ≈ 30 ms); energy stays sharp for onsets.
OPEN_SMOOTH_S = 0.03


#: Columns of :func:`articulation_features` (defined with the record that carries them).
FEATURES = ARTICULATION_FEATURES
N_FEATURES = len(FEATURES)
#: Bands (Hz) of the ``low``/``mid``/``high`` features.
FEATURE_BANDS_HZ = ((60.0, 400.0), (400.0, 2500.0), (4000.0, 8000.0))


@dataclass(frozen=True, slots=True)
class AcousticTracks:
    hop_s: float
    energy: np.ndarray  # float32[t] 0..1
    openness: np.ndarray  # float32[t] 0..1
    voiced: np.ndarray  # bool[t]
    f0_hz: np.ndarray  # float32[t], NaN unvoiced (reused by prosody)
    level_db: np.ndarray  # float32[t] frame loudness in dBFS
    gate_db: float  # frames below this are silence
    features: np.ndarray = field(default_factory=lambda: np.zeros((0, N_FEATURES), np.float32))  # [t, N_FEATURES]


def to_analysis_rate(audio: Audio) -> Audio:
    """16 kHz mono float32 (the media stage already delivers this; other rates are resampled)."""
    samples = np.asarray(audio.samples, dtype=np.float32)
    if samples.ndim == 2:  # tolerate [channels, n] or [n, channels]: the channel axis is the short one
        samples = samples.mean(axis=int(np.argmin(samples.shape)))
    samples = np.nan_to_num(samples.reshape(-1), nan=0.0, posinf=0.0, neginf=0.0)
    if audio.rate == RATE_HZ:
        return Audio(samples=samples, rate=RATE_HZ)
    g = int(np.gcd(int(audio.rate), RATE_HZ))
    from scipy.signal import resample_poly  # lazily: ~0.5 s import, rarely needed here

    out = resample_poly(samples, RATE_HZ // g, int(audio.rate) // g).astype(np.float32)
    return Audio(samples=out, rate=RATE_HZ)


def n_frames(duration_s: float, hop_s: float = HOP_S) -> int:
    return max(0, int(np.ceil(duration_s / hop_s - 1e-9)))


def frame_signal(samples: np.ndarray, rate: int, n: int, hop_s: float = HOP_S,
                 window_s: float = WINDOW_S) -> np.ndarray:
    """[n, win] frames centred at (i + 0.5) * hop_s, zero-padded at the edges."""
    hop = int(round(hop_s * rate))
    win = int(round(window_s * rate))
    pad = win
    padded = np.pad(samples.astype(np.float32), (pad, pad + hop * n + win))
    starts = pad + (np.arange(n) * hop + hop // 2 - win // 2)
    idx = starts[:, None] + np.arange(win)[None, :]
    return padded[idx]


def loudness_gate(level_db: np.ndarray) -> tuple[float, float]:
    """(gate_db, peak_db) from the distribution of frame loudness (see constants)."""
    if level_db.size == 0:
        return 0.0, 0.0
    peak = float(np.percentile(level_db, PEAK_PERCENTILE))
    floor = float(np.percentile(level_db, FLOOR_PERCENTILE))
    gate = floor + max(GATE_MIN_ABOVE_FLOOR_DB, GATE_FRACTION * (peak - floor))
    gate = max(gate, peak - GATE_MAX_BELOW_PEAK_DB)
    return min(gate, peak - 1.0), peak


def silent_runs(silent: np.ndarray, hop_s: float, min_len_s: float = MIN_PAUSE_S) -> list[tuple[float, float]]:
    """(start_s, end_s) of runs of True at least ``min_len_s`` long, in grid time."""
    if silent.size == 0:
        return []
    padded = np.concatenate([[False], silent.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    runs = []
    for a, b in zip(edges[0::2], edges[1::2], strict=True):
        if (b - a) * hop_s >= min_len_s - 1e-9:
            runs.append((a * hop_s, b * hop_s))
    return runs


def _onto_grid(out: np.ndarray, values: np.ndarray, times: np.ndarray, hop_s: float) -> None:
    """Write Praat's per-frame ``values`` (at ``times``, same hop) into ``out`` on our frame centres.

    Praat centres its first frame where its window fits, not at hop/2, so frames are matched by the
    nearest time; grid frames outside Praat's span (± one hop) stay as they were (NaN).
    """
    centres = (np.arange(len(out)) + 0.5) * hop_s
    idx = np.clip(np.round((centres - times[0]) / hop_s).astype(int), 0, len(values) - 1)
    inside = (centres >= times[0] - hop_s) & (centres <= times[-1] + hop_s)
    out[inside] = values[idx[inside]]


def pitch_track(audio: Audio, n: int, hop_s: float) -> np.ndarray:
    """f0 per grid frame (NaN unvoiced) from Praat's autocorrelation pitch."""
    import parselmouth

    f0 = np.full(n, np.nan, np.float32)
    if audio.duration_s < 0.1:
        return f0
    snd = parselmouth.Sound(audio.samples.astype(np.float64), sampling_frequency=audio.rate)
    pitch = snd.to_pitch_ac(time_step=hop_s, pitch_floor=70.0, pitch_ceiling=500.0)
    values = pitch.selected_array["frequency"].astype(np.float32)
    times = np.asarray(pitch.xs(), dtype=np.float64)
    values[values <= 0] = np.nan
    if len(values):
        _onto_grid(f0, values, times, hop_s)
    return f0


def _formant_tracks(audio: Audio, n: int, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
    """First and second formants per grid frame (NaN where Praat finds none)."""
    import parselmouth

    f1 = np.full(n, np.nan, np.float32)
    f2 = np.full(n, np.nan, np.float32)
    if audio.duration_s < 0.1:
        return f1, f2
    snd = parselmouth.Sound(audio.samples.astype(np.float64), sampling_frequency=audio.rate)
    formant = snd.to_formant_burg(time_step=hop_s, max_number_of_formants=5.0, maximum_formant=5500.0)
    times = np.asarray(formant.xs(), dtype=np.float64)
    if times.size == 0:
        return f1, f2
    for out, k in ((f1, 1), (f2, 2)):
        _onto_grid(out, np.array([formant.get_value_at_time(k, t) for t in times], dtype=np.float32), times, hop_s)
    return f1, f2


def _zscore(values: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``values`` z-scored over ``where`` (finite there), clipped to ±3; 0 elsewhere."""
    ok = where & np.isfinite(values)
    out = np.zeros(len(values), np.float32)
    if ok.sum() >= 3:
        v = values[ok]
        out[ok] = np.clip((v - v.mean()) / max(float(v.std()), 1e-6), -3.0, 3.0)
    return out


def _band_level(spec: np.ndarray, freqs: np.ndarray, lo_hz: float, hi_hz: float, speech: np.ndarray) -> np.ndarray:
    """Loudness of one band, 0..1 between its own gate and peak, 0 outside ``speech``."""
    band = (freqs >= lo_hz) & (freqs < hi_hz)
    if not band.any():
        return np.zeros(len(spec), np.float32)
    db = 10.0 * np.log10(spec[:, band].sum(axis=1) / spec.shape[1] * 2.0 + 1e-12)
    gate, peak = loudness_gate(db)
    return np.where(speech, np.clip((db - gate) / max(peak - gate, 1.0), 0.0, 1.0), 0.0).astype(np.float32)


def articulation_features(spec: np.ndarray, freqs: np.ndarray, f1_open: np.ndarray, f2: np.ndarray,
                          voiced: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """The :data:`FEATURES` columns per grid frame (see there), float32[t, N_FEATURES]."""
    n = len(speech)
    cols = np.zeros((n, N_FEATURES), np.float32)
    if n == 0:
        return cols
    sounding = speech & voiced
    cols[:, 0] = np.where(sounding, f1_open, 0.0)
    cols[:, 1] = _zscore(np.log(np.where(np.isfinite(f2) & (f2 > 0), f2, np.nan)), sounding)
    for j, (lo, hi) in enumerate(FEATURE_BANDS_HZ):
        cols[:, 2 + j] = _band_level(spec, freqs, lo, hi, speech)
    power = spec.sum(axis=1)
    centroid = (spec * freqs[None, :]).sum(axis=1) / np.maximum(power, 1e-20)
    cols[:, 5] = _zscore(np.log(np.maximum(centroid, 1.0)), speech)
    cols[:, 6] = sounding
    return cols


def analyze_acoustics(audio: Audio, hop_s: float = HOP_S) -> AcousticTracks:
    """Energy, openness and voicing tracks for any language (see module docstring)."""
    n = n_frames(audio.duration_s, hop_s)
    frames = frame_signal(audio.samples, audio.rate, n, hop_s)
    frames = frames - frames.mean(axis=1, keepdims=True)  # DC offset would read as loudness
    window = np.hanning(frames.shape[1]).astype(np.float32)
    rms = np.sqrt(np.mean((frames * window) ** 2, axis=1) / np.mean(window**2) + 1e-12)
    level_db = (20.0 * np.log10(rms + 1e-10)).astype(np.float32)
    gate_db, peak_db = loudness_gate(level_db)
    f0 = pitch_track(audio, n, hop_s)
    voiced = np.isfinite(f0)
    floor_db = float(np.percentile(level_db, FLOOR_PERCENTILE)) if n else 0.0
    if n == 0 or peak_db < SILENT_PEAK_DBFS or peak_db - floor_db < MIN_DYNAMIC_RANGE_DB:
        zeros = np.zeros(n, np.float32)
        return AcousticTracks(hop_s, zeros, zeros.copy(), np.zeros(n, bool), f0, level_db, float("inf"),
                              np.zeros((n, N_FEATURES), np.float32))

    energy = np.clip((level_db - gate_db) / max(peak_db - gate_db, 1.0), 0.0, 1.0).astype(np.float32)

    # Vowel-band loudness, normalised like the full band: open vowels are loud in this band.
    spec = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    freqs = np.fft.rfftfreq(frames.shape[1], 1.0 / audio.rate)
    band = (freqs >= OPEN_BAND_HZ[0]) & (freqs <= OPEN_BAND_HZ[1])
    band_db = 10.0 * np.log10(spec[:, band].sum(axis=1) / spec.shape[1] * 2.0 + 1e-12)
    band_gate, band_peak = loudness_gate(band_db)
    band_gate = max(band_gate, gate_db - (peak_db - band_peak))
    band_energy = np.clip((band_db - band_gate) / max(band_peak - band_gate, 1.0), 0.0, 1.0)

    f1, f2 = _formant_tracks(audio, n, hop_s)
    f1_open = np.clip((np.nan_to_num(f1, nan=F1_CLOSED_HZ) - F1_CLOSED_HZ) / (F1_OPEN_HZ - F1_CLOSED_HZ), 0, 1)
    openness = band_energy * ((1.0 - F1_WEIGHT) + F1_WEIGHT * f1_open)
    openness = np.where(voiced, openness, np.minimum(openness, UNVOICED_OPEN_MAX))
    openness = np.where(energy > 0, openness, 0.0)
    k = max(1, int(round(OPEN_SMOOTH_S / hop_s)))
    openness = uniform_filter1d(openness.astype(np.float32), size=k, mode="nearest")
    features = articulation_features(spec, freqs, f1_open, f2, voiced, energy > 0)
    return AcousticTracks(
        hop_s=hop_s, energy=energy, openness=np.clip(openness, 0, 1).astype(np.float32),
        voiced=voiced & (energy > 0), f0_hz=f0, level_db=level_db, gate_db=float(gate_db), features=features,
    )


def _speech_mask(tracks: AcousticTracks) -> np.ndarray:
    """Gated speech frames with a 30 ms closing and opening: a single quiet frame does not split
    speech and a single loud click is not speech."""
    k = 3
    speech = (tracks.energy > 0.0).astype(np.uint8)
    speech = minimum_filter1d(maximum_filter1d(speech, k), k)
    return maximum_filter1d(minimum_filter1d(speech, k), k).astype(bool)


def energy_pauses(tracks: AcousticTracks, min_len_s: float = MIN_PAUSE_S) -> list[tuple[float, float]]:
    """Silences by the loudness gate, at least ``min_len_s`` long."""
    return silent_runs(~_speech_mask(tracks), tracks.hop_s, min_len_s)


def energy_speech_runs(tracks: AcousticTracks, min_len_s: float) -> list[tuple[float, float]]:
    """Stretches above the loudness gate at least ``min_len_s`` long."""
    return silent_runs(_speech_mask(tracks), tracks.hop_s, min_len_s)
