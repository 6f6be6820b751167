"""The acoustic share is lowered only while the planned mouth still moves with the sound."""

from __future__ import annotations

import dataclasses

import numpy as np

from reperform.motion import plan as plan_module
from reperform.motion.adapt import Range, generic_targets
from reperform.motion.plan import (
    ACOUSTIC_SHARES,
    SYNC_MARGIN_R,
    choose_acoustic_weight,
    in_sync,
    sound_envelope,
    sync_correlations,
    sync_lag,
)
from reperform.motion.visemes import VOWELS

from .builders import FPS, plan, profile, prosody, speech


def _syllables(n: int, period_s: float = 0.3) -> list[tuple[str, float, float]]:
    """``n`` consonant-vowel syllables, one every ``period_s`` from 0.2 s."""
    out = []
    for i in range(n):
        t = 0.2 + i * period_s
        out += [("T", t, t + 0.08), ("AA", t + 0.08, t + period_s)]
    return out


def _loudness(sp, duration_s: float) -> np.ndarray:
    """Intensity (dB) loud on vowels, 25 dB down on consonants and silence."""
    db = np.full(int(round(duration_s / 0.01)), 35.0, np.float32)
    for ph in sp.phones:
        if ph.label in VOWELS:
            db[int(round(ph.start_s / 0.01)):int(round(ph.end_s / 0.01))] = 60.0
    return db


def test_sync_lag_finds_the_sign_and_size_of_a_delay():
    rng = np.random.default_rng(0)
    env = np.convolve(rng.random(200), np.ones(5) / 5, mode="same")
    late = np.r_[np.zeros(4), env[:-4]]  # the mouth shows what the sound did 4 frames earlier
    assert sync_lag(late, env) == 4
    assert sync_lag(env, env) == 0
    assert sync_lag(np.r_[env[3:], np.zeros(3)], env) == -3


def test_sound_envelope_averages_loudness_over_each_frame_and_is_none_without_a_track():
    sp = speech([("AA", 0.4, 0.8)], 0.8)  # silence, then a loud vowel (energy 0.7)
    env = sound_envelope(sp, 20, float(FPS))
    assert env is not None and env.shape == (20,)
    assert np.all(env[:10] == 0.0) and np.all(env[10:] > 1.0)
    assert sound_envelope(dataclasses.replace(sp, energy=np.zeros(0, np.float32)), 20, float(FPS)) is None


def test_the_chosen_share_is_a_candidate_and_keeps_the_mouth_within_one_frame_of_the_sound():
    dur = 6.0
    sp = speech(_syllables(18), dur)
    pros = prosody(dur, _loudness(sp, dur))
    rng = Range(profile())
    n_out = int(dur * FPS)
    w, curves = choose_acoustic_weight(sp, pros, generic_targets(rng), rng, dur, dur, n_out, float(FPS), 0.02)
    assert w in ACOUSTIC_SHARES
    assert curves.mouth.shape[1] == 4
    p = plan(sp, pros=pros)
    env = sound_envelope(sp, n_out, float(FPS))
    assert abs(sync_lag(p.mouth[:, 0], env)) <= 1
    assert in_sync(p.mouth[:, 0], env)


def test_in_sync_needs_the_peak_near_zero_lag_to_win_by_the_margin():
    rng = np.random.default_rng(1)
    env = np.convolve(rng.random(300), np.ones(4) / 4, mode="same")
    assert in_sync(env, env)
    late = np.r_[np.zeros(6), env[:-6]]
    assert not in_sync(late, env)
    # Part now, part six frames late: the peak at lag 0 wins by less than the margin for some
    # mixes (not in sync) and by more for others (in sync).
    verdicts = {}
    for a in np.linspace(0.5, 1.0, 51):
        mixed = env + a * late
        rs = sync_correlations(mixed, env)
        lead = rs[0] - max(r for lag, r in rs.items() if abs(lag) > 1)
        if 0 < lead < SYNC_MARGIN_R:
            verdicts.setdefault("narrow", in_sync(mixed, env))
        elif lead > SYNC_MARGIN_R + 0.01:
            verdicts.setdefault("clear", in_sync(mixed, env))
    assert verdicts == {"narrow": False, "clear": True}


def test_when_no_share_keeps_sync_the_per_method_default_is_used(monkeypatch):
    dur = 6.0
    sp = speech(_syllables(18), dur)
    pros = prosody(dur, _loudness(sp, dur))
    rng = Range(profile())
    # Every share "a syllable late":
    monkeypatch.setattr(plan_module, "in_sync", lambda *a, **k: False)
    w, _ = choose_acoustic_weight(sp, pros, generic_targets(rng), rng, dur, dur, int(dur * FPS), float(FPS), 0.02)
    assert w is None


def test_without_phones_or_loudness_the_default_share_stays():
    dur = 6.0
    sp = speech(_syllables(18), dur)
    rng = Range(profile())
    args = (None, generic_targets(rng), rng, dur, dur, int(dur * FPS), float(FPS), 0.02)
    silent_track = dataclasses.replace(sp, energy=np.zeros(0, np.float32))
    assert choose_acoustic_weight(silent_track, *args)[0] is None
    acoustic = speech(_syllables(18), dur, method="acoustic")
    assert choose_acoustic_weight(acoustic, *args)[0] is None
