"""Behaviour of the planned mouth on hand-built speech: closures, rounding, pauses, stress, silence."""

from __future__ import annotations

import numpy as np
import pytest

from reperform.motion import N_AUS, Viseme
from reperform.motion.adapt import Range
from reperform.motion.mouth import settled_rest

from .builders import FPS, NEUTRAL, frames_between, plan, profile, prosody, speech

OPEN, WIDTH, PROT, JAW = range(4)


def test_plan_has_one_row_per_output_frame_and_the_documented_dtypes():
    sp = speech([("HH", 0.2, 0.26), ("AH", 0.26, 0.4), ("L", 0.4, 0.46), ("OW", 0.46, 0.7)], 1.0)
    p = plan(sp, n_out=37)
    assert p.n_out == 37
    assert p.mouth.shape == (37, 4) and p.mouth.dtype == np.float32
    assert p.closure.shape == p.speaking.shape == (37,) and p.closure.dtype == bool
    assert p.viseme.dtype == np.int8
    assert p.au.shape == (37, N_AUS) and not p.au.any()
    assert p.blink.shape == (37,) and p.head_delta.shape == (37, 3)
    assert np.all(np.isfinite(p.mouth))
    # And it is a plan of *this* speech: open on the vowels, at rest before the first sound.
    before, vowel = p.mouth[:3, OPEN], p.mouth[frames_between(0.3, 0.36), OPEN]
    assert vowel.min() > before.max() + 0.05
    assert p.speaking[frames_between(0.3, 0.6)].all() and not p.speaking[:3].any()


def test_bilabial_between_vowels_seals_the_lips_on_at_least_one_frame():
    sp = speech([("AA", 0.2, 0.4), ("P", 0.4, 0.47), ("AA", 0.47, 0.7)], 1.0)
    p = plan(sp)
    closed = np.flatnonzero(p.closure)
    assert closed.size >= 1
    assert all(0.38 <= k / FPS <= 0.49 for k in closed)
    rng = Range(profile())
    assert np.allclose(p.mouth[closed, OPEN], rng.closed[OPEN])
    assert p.viseme[closed[0]] == Viseme.PBM
    vowel = frames_between(0.25, 0.35)
    assert p.mouth[vowel, OPEN].max() > rng.closed[OPEN] + 0.5 * (rng.hi[OPEN] - rng.closed[OPEN])


def test_a_closure_shorter_than_a_frame_still_shows_on_one_frame():
    sp = speech([("AA", 0.2, 0.41), ("M", 0.41, 0.43), ("AA", 0.43, 0.7)], 1.0)
    p = plan(sp)
    assert p.closure.sum() == 1


@pytest.mark.parametrize("rounded", ["UW", "OW", "W"])
def test_rounded_phones_narrow_and_protrude_the_lips(rounded):
    sp = speech([("T", 0.2, 0.25), (rounded, 0.25, 0.55), ("T", 0.55, 0.6)], 1.0)
    p = plan(sp)
    mid = frames_between(0.35, 0.45)
    assert p.mouth[mid, WIDTH].mean() < NEUTRAL[WIDTH]
    assert p.mouth[mid, PROT].mean() > NEUTRAL[PROT]


def test_ee_spreads_the_lips_wider_than_rest_and_than_oo():
    ee = plan(speech([("T", 0.2, 0.25), ("IY", 0.25, 0.55), ("T", 0.55, 0.6)], 1.0))
    oo = plan(speech([("T", 0.2, 0.25), ("UW", 0.25, 0.55), ("T", 0.55, 0.6)], 1.0))
    mid = frames_between(0.35, 0.45)
    assert ee.mouth[mid, WIDTH].mean() > NEUTRAL[WIDTH]
    assert ee.mouth[mid, WIDTH].mean() > oo.mouth[mid, WIDTH].mean()


def test_pause_longer_than_350ms_closes_the_mouth_to_rest():
    sp = speech([("AA", 0.2, 0.5), ("AA", 1.3, 1.6)], 2.0)
    p = plan(sp)
    rng = Range(profile())
    mid = frames_between(0.8, 1.0)
    settled = settled_rest(rng.neutral, rng)
    assert np.all(np.abs(p.mouth[mid, OPEN] - settled[OPEN]) < 0.05 * (rng.hi[OPEN] - rng.closed[OPEN]))
    assert not p.speaking[mid].any()
    assert np.all(p.viseme[mid] == Viseme.REST)


def test_pause_shorter_than_120ms_holds_the_mouth_open():
    sp = speech([("AA", 0.2, 0.5), ("AA", 0.58, 0.9)], 1.2)
    p = plan(sp)
    gap = frames_between(0.52, 0.56)
    vowel = frames_between(0.3, 0.4)
    assert p.mouth[gap, OPEN].min() > 0.7 * p.mouth[vowel, OPEN].mean()
    assert p.speaking[gap].all()


def test_medium_pause_relaxes_only_part_of_the_way():
    hold = plan(speech([("AA", 0.2, 0.5), ("AA", 0.58, 0.9)], 1.2))
    relax = plan(speech([("AA", 0.2, 0.5), ("AA", 0.75, 1.05)], 1.4))
    close = plan(speech([("AA", 0.2, 0.5), ("AA", 1.1, 1.4)], 1.6))
    depth = [p.mouth[frames_between(0.5, 0.6), OPEN].min() for p in (hold, relax, close)]
    assert depth[0] > depth[1] > depth[2]
    assert depth[1] > NEUTRAL[OPEN]


def test_a_long_silence_settles_the_lips_below_the_speech_pause_rest_but_never_seals_them():
    # A source whose pauses hold the lips apart (rest 0.1) and whose most closed mouth is 0.02.
    prof = profile(neutral=np.array([0.10, 0.95, 0.25, 1.10], np.float32),
                   low=np.array([0.02, 0.85, 0.15, 1.05], np.float32))
    rng = Range(prof)
    settled = settled_rest(rng.neutral, rng)
    assert rng.lo[OPEN] <= settled[OPEN] < rng.neutral[OPEN]
    assert settled[OPEN] > rng.closed[OPEN]
    assert np.array_equal(settled[1:], rng.neutral[1:])  # only the lips come together
    sp = speech([("AA", 0.2, 0.5), ("AA", 1.3, 1.6)], 2.0)
    p = plan(sp, prof=prof)
    mid = frames_between(0.8, 1.0)
    assert np.allclose(p.mouth[mid, OPEN], settled[OPEN], atol=0.01)


def test_frames_after_the_audio_ends_are_at_rest_and_silent():
    sp = speech([("AA", 0.1, 0.9)], 1.0, openness=np.full(100, 0.8))
    p = plan(sp, n_out=50)  # 2 s of output for 1 s of audio (silence sync mode)
    tail = np.arange(35, 50)
    rng = Range(profile())
    assert np.allclose(p.mouth[tail], settled_rest(rng.neutral, rng), atol=1e-3)
    assert not p.speaking[tail].any() and not p.closure[tail].any()


def test_silent_audio_gives_a_still_closed_mouth():
    sp = speech([], 2.0)
    p = plan(sp)
    assert np.allclose(p.mouth, NEUTRAL, atol=1e-4)
    assert not p.speaking.any()


def test_acoustic_noise_inside_a_long_pause_does_not_move_the_lips():
    openness = np.zeros(200, np.float32)
    openness[20:60] = 0.8  # speech
    openness[80:120] = np.random.default_rng(0).uniform(0, 0.4, 40)  # breath / room noise in the pause
    sp = speech([("AA", 0.2, 0.6)], 2.0, openness=openness)
    p = plan(sp)
    pause = frames_between(0.9, 1.1)
    assert np.ptp(p.mouth[pause, OPEN]) < 1e-3


def test_stressed_vowels_open_more_than_secondary_and_unstressed_ones():
    spec = [("T", 0.1, 0.15), ("AA", 0.15, 0.35), ("T", 0.35, 0.4), ("AA", 0.5, 0.7), ("T", 0.7, 0.75),
            ("AA", 0.85, 1.05), ("T", 1.05, 1.1)]
    p = plan(speech(spec, 1.2, stress={1: 0, 3: 2, 5: 1}))
    peaks = [p.mouth[frames_between(a, b), OPEN].max() for a, b in ((0.2, 0.3), (0.55, 0.65), (0.9, 1.0))]
    assert peaks[0] < peaks[1] < peaks[2]


def test_speech_is_stretched_to_the_persons_own_opening_range():
    wide = profile(high=np.array([0.60, 1.08, 0.34, 1.30], np.float32))
    spec = [("T", 0.1, 0.15), ("AA", 0.15, 0.45), ("T", 0.45, 0.5), ("IY", 0.6, 0.9), ("T", 0.9, 0.95)]
    narrow_peak = plan(speech(spec, 1.2)).mouth[:, OPEN].max()
    wide_peak = plan(speech(spec, 1.2), prof=wide).mouth[:, OPEN].max()
    assert wide_peak > narrow_peak
    assert wide_peak <= 0.60 * 1.1  # the 95th percentile is matched; peaks may pass it a little


def test_louder_vowels_open_more():
    spec = [("T", 0.1, 0.15), ("AA", 0.15, 0.35), ("T", 0.35, 0.4), ("AA", 0.5, 0.7), ("T", 0.7, 0.75),
            ("AA", 0.85, 1.05), ("T", 1.05, 1.1)]
    db = np.full(120, 60.0)
    db[15:35], db[50:70], db[85:105] = 55.0, 60.0, 66.0
    p = plan(speech(spec, 1.2), pros=prosody(1.2, db))
    peaks = [p.mouth[frames_between(a, b), OPEN].max() for a, b in ((0.2, 0.3), (0.55, 0.65), (0.9, 1.0))]
    assert peaks[0] < peaks[1] < peaks[2]


def test_acoustic_method_follows_the_openness_track():
    openness = np.zeros(150, np.float32)
    openness[30:50] = 0.9
    openness[80:100] = 0.6
    sp = speech([], 1.5, method="acoustic", openness=openness)
    sp = type(sp)(**{**{f: getattr(sp, f) for f in sp.__slots__}, "pauses": ((0.0, 0.3), (1.0, 1.5))})
    p = plan(sp)
    loud, soft = p.mouth[frames_between(0.35, 0.45), OPEN].mean(), p.mouth[frames_between(0.85, 0.95), OPEN].mean()
    assert loud > soft > NEUTRAL[OPEN]
    assert p.speaking[frames_between(0.35, 0.45)].all()


def test_mouth_peak_is_not_delayed_against_the_vowel():
    """Zero-phase planning: a lone vowel's opening peaks at the vowel's middle, not after it."""
    sp = speech([("AA", 0.4, 0.6)], 1.0)
    p = plan(sp)
    peak_t = np.argmax(p.mouth[:, OPEN]) / FPS
    assert abs(peak_t - 0.5) <= 1.0 / FPS


def test_mouth_starts_opening_before_a_vowel_sounds():
    """Anticipatory coarticulation: lips move toward the vowel before its acoustic onset."""
    sp = speech([("AA", 0.4, 0.7)], 1.0)
    p = plan(sp)
    k = int(0.36 * FPS)
    assert p.mouth[k, OPEN] > NEUTRAL[OPEN] + 0.01


def test_a_narrow_measured_range_still_gives_visible_motion():
    """A still image (no range measured) falls back to a typical span around its neutral."""
    flat = profile(low=NEUTRAL, high=NEUTRAL)
    p = plan(speech([("AA", 0.2, 0.5)], 0.8), prof=flat)
    assert p.mouth[:, OPEN].max() - NEUTRAL[OPEN] > 0.1


def test_a_half_open_measured_neutral_still_rests_nearly_closed_in_long_pauses():
    """A neutral measured in breath pauses can be mid-word open; silence must still look at rest."""
    open_neutral = np.array([0.20, 0.95, 0.25, 1.10], np.float32)
    p = plan(speech([("AA", 0.2, 0.5), ("AA", 1.3, 1.6)], 2.0), prof=profile(neutral=open_neutral))
    mid = frames_between(0.75, 0.95)
    assert p.mouth[mid, OPEN].max() <= LOW_OPEN + 0.25 * (0.40 - LOW_OPEN) + 0.005


LOW_OPEN = 0.0


def test_a_single_frame_output_is_planned():
    p = plan(speech([("AA", 0.0, 0.03)], 0.04), n_out=1)
    assert p.n_out == 1 and np.all(np.isfinite(p.mouth))
    assert p.mouth[0, OPEN] > NEUTRAL[OPEN]  # the one frame shows the vowel, not rest


def test_a_source_track_without_faces_in_some_frames_still_plans():
    """Frames where the source has no face carry NaN mouths; adaptation must skip them."""
    from reperform.motion import plan_motion
    from reperform.options import GenerateOptions
    from reperform.records import FaceTrack

    from .builders import timemap

    n = 50
    mouth = np.tile(NEUTRAL, (n, 1)).astype(np.float32)
    mouth[10:20] = np.nan
    present = np.ones(n, bool)
    present[10:20] = False
    track = FaceTrack(present=present, landmarks=np.zeros((n, 478, 3), np.float32), bbox=np.zeros((n, 4), np.float32),
                      pose=np.zeros((n, 3), np.float32), scale=np.ones(n, np.float32), mouth=mouth, width=64, height=48)
    src = speech([("AA", 0.2, 0.5), ("M", 0.5, 0.6), ("IY", 0.6, 1.0)], 2.0)
    drive = speech([("AA", 0.2, 0.5)], 1.0)
    p = plan_motion(drive, None, track, profile(), timemap(25, 1.0), GenerateOptions(), source_speech=src,
                    frame_times_s=np.arange(n) / FPS)
    assert np.all(np.isfinite(p.mouth))
    assert p.mouth[frames_between(0.25, 0.45), OPEN].min() > p.mouth[:3, OPEN].max() + 0.05
