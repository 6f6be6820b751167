"""Acoustic tracks on synthetic signals: gating, level independence, vowel openness."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from reperform.records import Audio
from reperform.speech.acoustic import (
    HOP_S,
    analyze_acoustics,
    energy_pauses,
    loudness_gate,
    n_frames,
    silent_runs,
    to_analysis_rate,
)

RATE = 16000


def _vowel(seconds: float, f0: float, formants: list[float], amp: float = 0.3) -> np.ndarray:
    """A glottal pulse train through formant resonators: crude but vowel-like for Praat."""
    n = int(seconds * RATE)
    x = np.zeros(n)
    x[:: int(RATE / f0)] = 1.0
    for f in formants:
        r = np.exp(-np.pi * 80.0 / RATE)
        theta = 2 * np.pi * f / RATE
        x = lfilter([1.0 - r], [1.0, -2 * r * np.cos(theta), r * r], x)
    return (amp * x / np.max(np.abs(x))).astype(np.float32)


def _noise(seconds: float, amp: float, seed: int = 0) -> np.ndarray:
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * RATE))).astype(np.float32)


def _speechlike(amp: float = 0.3) -> Audio:
    """0.5 s hiss, 0.6 s vowel, 0.4 s hiss, 0.6 s vowel, 0.5 s hiss."""
    hiss = 0.001
    parts = [_noise(0.5, hiss, 1), _vowel(0.6, 120, [700, 1200, 2500], amp) + _noise(0.6, hiss, 2),
             _noise(0.4, hiss, 3), _vowel(0.6, 120, [300, 2200, 2900], amp) + _noise(0.6, hiss, 4),
             _noise(0.5, hiss, 5)]
    return Audio(samples=np.concatenate(parts), rate=RATE)


def test_tracks_have_one_value_per_10_ms_of_audio():
    audio = _speechlike()
    tracks = analyze_acoustics(audio)
    n = n_frames(audio.duration_s)
    assert n == int(np.ceil(2.6 / HOP_S - 1e-9))
    assert tracks.energy.shape == tracks.openness.shape == tracks.voiced.shape == (n,)
    assert tracks.energy.dtype == np.float32 and tracks.voiced.dtype == bool


def test_energy_is_zero_in_hiss_and_high_in_vowels():
    tracks = analyze_acoustics(_speechlike())
    t = (np.arange(tracks.energy.size) + 0.5) * HOP_S
    hiss = (t < 0.45) | ((t > 1.15) & (t < 1.45)) | (t > 2.15)
    vowel = ((t > 0.6) & (t < 1.0)) | ((t > 1.6) & (t < 2.0))
    assert np.all(tracks.energy[hiss] == 0.0)
    assert np.median(tracks.energy[vowel]) > 0.6
    assert tracks.voiced[vowel].mean() > 0.9
    assert not tracks.voiced[hiss].any()


def test_a_quiet_recording_gets_the_same_energy_as_a_loud_one():
    loud = analyze_acoustics(_speechlike(0.3))
    quiet = analyze_acoustics(Audio(samples=_speechlike(0.3).samples * 0.01, rate=RATE))
    assert np.abs(loud.energy - quiet.energy).max() < 0.05


def test_an_open_vowel_reads_more_open_than_a_close_one():
    tracks = analyze_acoustics(_speechlike())
    t = (np.arange(tracks.openness.size) + 0.5) * HOP_S
    open_a = tracks.openness[(t > 0.65) & (t < 1.0)].mean()
    close_i = tracks.openness[(t > 1.65) & (t < 2.0)].mean()
    assert open_a > close_i + 0.1
    assert tracks.openness.min() >= 0.0 and tracks.openness.max() <= 1.0


def test_digital_silence_gives_all_zero_tracks():
    tracks = analyze_acoustics(Audio(samples=np.zeros(RATE, np.float32), rate=RATE))
    assert not tracks.energy.any() and not tracks.openness.any() and not tracks.voiced.any()


def test_energy_pauses_find_the_hiss_between_vowels():
    pauses = energy_pauses(analyze_acoustics(_speechlike()))
    assert len(pauses) == 3
    assert pauses[0][0] == 0.0 and pauses[0][1] == pytest.approx(0.5, abs=0.05)
    assert pauses[1][0] == pytest.approx(1.1, abs=0.05) and pauses[1][1] == pytest.approx(1.5, abs=0.05)
    assert pauses[2][1] == pytest.approx(2.6, abs=0.011)


def test_silent_runs_keep_only_runs_of_at_least_the_minimum_length():
    silent = np.array([1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1], bool)
    assert silent_runs(silent, 0.05, min_len_s=0.15) == [pytest.approx((0.15, 0.3)), pytest.approx((0.4, 0.6))]


def test_the_gate_sits_above_the_noise_floor_and_below_the_peak():
    level = np.concatenate([np.full(50, -70.0), np.full(50, -20.0)])
    gate, peak = loudness_gate(level)
    assert peak == pytest.approx(-20.0)
    assert -70.0 + 8.0 <= gate < -20.0


def test_other_sample_rates_are_resampled_to_16_khz():
    audio = Audio(samples=np.zeros(44100, np.float32), rate=44100)
    out = to_analysis_rate(audio)
    assert out.rate == 16000 and out.samples.shape == (16000,)


def test_stereo_arrays_are_mixed_down_whichever_axis_holds_the_channels():
    left = np.ones(1000, np.float32)
    stereo = np.stack([left, -left * 0.5])
    assert to_analysis_rate(Audio(samples=stereo, rate=RATE)).samples == pytest.approx(np.full(1000, 0.25))
    assert to_analysis_rate(Audio(samples=stereo.T, rate=RATE)).samples == pytest.approx(np.full(1000, 0.25))


def test_articulation_features_read_jaw_opening_and_tongue_position_from_the_formants():
    from reperform.speech.acoustic import FEATURES, N_FEATURES

    tracks = analyze_acoustics(_speechlike())
    f = tracks.features
    assert f.shape == (tracks.energy.size, N_FEATURES) and f.dtype == np.float32
    t = (np.arange(len(f)) + 0.5) * HOP_S
    hiss = (t < 0.45) | (t > 2.15)
    open_vowel = (t > 0.65) & (t < 0.95)  # F1 700, F2 1200: /a/-like
    close_vowel = (t > 1.65) & (t < 1.95)  # F1 300, F2 2200: /i/-like
    col = {name: i for i, name in enumerate(FEATURES)}
    assert np.all(f[hiss] == 0.0)
    assert np.median(f[open_vowel, col["f1"]]) > np.median(f[close_vowel, col["f1"]]) + 0.3
    assert np.median(f[close_vowel, col["f2"]]) > np.median(f[open_vowel, col["f2"]]) + 1.0
    assert f[open_vowel, col["voiced"]].mean() > 0.9


def test_articulation_features_do_not_depend_on_the_recording_level():
    loud = analyze_acoustics(_speechlike(0.3)).features
    quiet = analyze_acoustics(Audio(samples=_speechlike(0.3).samples * 0.01, rate=RATE)).features
    assert np.abs(loud - quiet).max() < 0.05
