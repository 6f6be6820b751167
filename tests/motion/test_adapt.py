"""Speaker adaptation: targets come from what this person's mouth really did on their own speech."""

from __future__ import annotations

import numpy as np

from reperform.motion import plan_motion
from reperform.motion.adapt import (
    DISTRIBUTION_SHARE_ALL_FRAMES,
    DISTRIBUTION_SHARE_SPEECH,
    MIN_DISTRIBUTION_FRAMES,
    PRIOR_COUNT,
    Range,
    generic_targets,
    match_opening_distribution,
    source_openings,
    speaker_targets,
)
from reperform.motion.visemes import Viseme
from reperform.options import GenerateOptions
from reperform.records import FaceTrack

from .builders import NEUTRAL, profile, speech, timemap

FPS = 25


def _track_with_open(open_curve: np.ndarray) -> FaceTrack:
    n = len(open_curve)
    mouth = np.tile(NEUTRAL, (n, 1))
    mouth[:, 0] = open_curve
    return FaceTrack(
        present=np.ones(n, bool), landmarks=np.zeros((n, 478, 3), np.float32), bbox=np.zeros((n, 4), np.float32),
        pose=np.zeros((n, 3), np.float32), scale=np.full(n, 100.0, np.float32), mouth=mouth.astype(np.float32),
        width=640, height=480,
    )


def _source(aa_open: float):
    """Ten AA syllables between T's; the filmed mouth opens to ``aa_open`` on every AA."""
    spec, t = [], 0.2
    for _ in range(10):
        spec += [("T", t, t + 0.06), ("AA", t + 0.06, t + 0.26)]
        t += 0.3
    sp = speech(spec, t + 0.3)
    times = np.arange(int((t + 0.3) * FPS)) / FPS
    curve = np.full(len(times), NEUTRAL[0])
    for lab, a, b in spec:
        if lab == "AA":
            curve[(times >= a) & (times <= b)] = aa_open
    return sp, _track_with_open(curve), times


def test_a_wide_opener_gets_a_wider_open_vowel_target_than_a_mumbler():
    rng = Range(profile())
    wide, counts = speaker_targets(rng, *_reorder(_source(0.38)))
    mumble, _ = speaker_targets(rng, *_reorder(_source(0.08)))
    assert counts[Viseme.OPEN] == 10
    assert wide[Viseme.OPEN, 0] > generic_targets(rng)[Viseme.OPEN, 0] * 0.9
    assert mumble[Viseme.OPEN, 0] < wide[Viseme.OPEN, 0] - 0.15
    # ten samples against a prior of PRIOR_COUNT: the measurement dominates
    expected = (10 * 0.08 + PRIOR_COUNT * generic_targets(rng)[Viseme.OPEN, 0]) / (10 + PRIOR_COUNT)
    assert abs(mumble[Viseme.OPEN, 0] - expected) < 0.01


def test_without_source_speech_the_generic_table_is_scaled_into_the_persons_range():
    rng = Range(profile())
    targets, counts = speaker_targets(rng, None, None, None)
    assert not counts.any()
    assert np.allclose(targets, generic_targets(rng))
    assert np.all(targets[:, 0] >= rng.closed[0] - 1e-6) and np.all(targets[:, 0] <= rng.hi[0] + 1e-6)
    assert np.allclose(targets[Viseme.REST], rng.neutral)


def test_a_video_that_starts_after_its_audio_is_measured_on_the_audio_clock():
    sp, track, times = _source(0.38)
    rng = Range(profile())
    late = times - 0.5  # frame 0 shown 0.5 s into the audio
    aligned, _ = speaker_targets(rng, track, sp, times)
    shifted, _ = speaker_targets(rng, track, sp, late, source_offset_s=0.5)
    assert np.allclose(aligned, shifted, atol=1e-4)


def test_range_fractions_round_trip():
    rng = Range(profile())
    frac = np.array([[0.5, -0.5, 0.3, 0.9], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, -1.0, 0.2]], np.float32)
    assert np.allclose(rng.to_fractions(rng.to_params(frac)), frac, atol=1e-5)


def _reorder(src):
    sp, track, times = src
    return track, sp, times


def test_openings_fitted_through_coarticulation_follow_the_filmed_mouth():
    from reperform.motion.learn import fit_openings

    rng = Range(profile())
    fitted = {}
    for aa_open in (0.38, 0.08):
        sp, track, times = _source(aa_open)
        targets, _ = speaker_targets(rng, track, sp, times)
        fitted[aa_open] = fit_openings(targets, rng, track, sp, times)
    assert fitted[0.38][Viseme.OPEN, 0] > fitted[0.08][Viseme.OPEN, 0] + 0.1
    # lip shape (width, protrusion) is not touched by the opening/jaw fit
    assert np.allclose(fitted[0.38][:, 1:3], speaker_targets(rng, *_reorder(_source(0.38)))[0][:, 1:3])


def test_no_source_speech_leaves_the_targets_alone():
    from reperform.motion.learn import fit_openings

    rng = Range(profile())
    targets = generic_targets(rng)
    assert np.array_equal(fit_openings(targets, rng, None, None, None), targets)


def test_a_speaker_whose_mouth_runs_ahead_of_the_sound_gets_a_lead():
    from reperform.motion.learn import LEAD_CANDIDATES_S, fit_lead
    from reperform.motion.mouth import plan_mouth

    rng = Range(profile())
    sp, _, _ = _source(0.38)
    targets = generic_targets(rng)
    curves = plan_mouth(sp, None, targets, rng, sp.duration_s)
    times = np.arange(int(sp.duration_s * 100)) / 100  # a 100 fps camera, for a fine check
    ahead = max(LEAD_CANDIDATES_S)
    track = _track_with_open(np.interp(times + ahead, curves.t_s, curves.mouth[:, 0]))
    assert fit_lead(targets, rng, track, sp, times, default_s=0.01) == ahead
    on_time = _track_with_open(np.interp(times, curves.t_s, curves.mouth[:, 0]))
    assert fit_lead(targets, rng, on_time, sp, times, default_s=0.01) == 0.0
    assert fit_lead(targets, rng, None, None, None, default_s=0.01) == 0.01


def test_openings_take_on_the_sources_distribution_and_keep_their_order():
    gen = np.random.default_rng(0)
    opening = gen.random(200).astype(np.float32)
    movable = np.ones(200, bool)
    movable[:20] = False
    source = gen.normal(0.2, 0.05, 500)
    out = match_opening_distribution(opening, movable, source, 1.0)
    assert np.array_equal(out[:20], opening[:20])  # frames not to move stay put
    assert np.array_equal(np.argsort(out[movable]), np.argsort(opening[movable]))  # same order
    for q in (10, 50, 90):
        assert abs(np.percentile(out[movable], q) - np.percentile(source, q)) < 0.01
    half = match_opening_distribution(opening, movable, source, 0.5)
    np.testing.assert_allclose(half[movable], (opening[movable] + out[movable]) / 2, atol=1e-6)
    tied = match_opening_distribution(np.full(10, 0.3, np.float32), np.ones(10, bool), source, 1.0)
    assert np.ptp(tied) == 0  # equal plans stay equal


def test_the_distribution_comes_from_the_sources_talking_frames_when_its_speech_is_known():
    sp, track, times = _source(0.38)
    talking, share = source_openings(track, sp, times)
    assert share == DISTRIBUTION_SHARE_SPEECH
    everything, share_all = source_openings(track, None, times)
    assert share_all == DISTRIBUTION_SHARE_ALL_FRAMES < share
    assert len(everything) == track.n > len(talking) >= MIN_DISTRIBUTION_FRAMES
    # The leading and trailing silence is rest; only speech frames are the speaking habit.
    assert np.mean(talking > 0.3) > np.mean(everything > 0.3) + 0.1
    # A still mouth (a photo, a silent sitter) has no habit to learn.
    assert source_openings(_track_with_open(np.full(100, NEUTRAL[0])), None, None) is None
    assert source_openings(_track_with_open(np.linspace(0.0, 0.4, 20)), None, None) is None


def test_a_person_whose_mouth_hovers_half_open_is_planned_more_open_than_one_who_shuts_between_syllables():
    spec, t = [], 0.2
    for _ in range(12):
        spec += [("T", t, t + 0.08), ("AH", t + 0.08, t + 0.3)]
        t += 0.3
    sp = speech(spec, t + 0.5)
    n = int(round(sp.duration_s * FPS))
    gen = np.random.default_rng(1)
    hover = _track_with_open(np.clip(gen.normal(0.25, 0.06, 150), 0.0, 0.4))
    shut = _track_with_open(np.where(gen.random(150) < 0.6, 0.01, 0.38) + gen.normal(0, 0.01, 150))
    medians = {}
    for name, track in (("hover", hover), ("shut", shut)):
        p = plan_motion(sp, None, track, profile(), timemap(n, sp.duration_s), GenerateOptions())
        speaking = p.speaking & ~p.closure
        medians[name] = float(np.median(p.mouth[speaking, 0]))
        # the trailing silence keeps its rest: only speech is matched
        after = np.arange(n) / FPS > spec[-1][2] + 0.25
        assert np.all(p.mouth[after, 0] <= Range(profile()).neutral[0] + 1e-3)
    assert medians["hover"] > medians["shut"] + 0.03


def test_the_habit_fades_in_and_out_with_speech_instead_of_snapping_the_mouth_shut():
    from reperform.motion.plan import frame_opening

    rng = Range(profile())
    n = 60
    speaking = np.zeros(n, bool)
    speaking[10:40] = True
    mouth = np.zeros((n, 4), np.float32)
    mouth[:, 0] = rng.closed[0]
    # A phrase that opens and closes smoothly (as planned), on a speaker who hovers half open.
    mouth[10:40, 0] = rng.closed[0] + 0.25 * np.sin(np.linspace(0.1, np.pi - 0.1, 30))
    frames = {"mouth": mouth, "speaking": speaking, "closure": np.zeros(n, bool)}
    hover = np.random.default_rng(2).normal(0.3, 0.03, 300)
    shown = frame_opening(frames, rng, 25.0, (hover, 1.0))
    assert np.median(shown[15:35]) > np.median(mouth[15:35, 0]) + 0.05  # the habit is applied...
    from reperform.motion import plan as plan_module

    plan_module.HABIT_EDGE_S, saved = 1e-4, plan_module.HABIT_EDGE_S  # (no taper)
    try:
        abrupt = frame_opening(frames, rng, 25.0, (hover, 1.0))
    finally:
        plan_module.HABIT_EDGE_S = saved
    # ...and tapered at the phrase's edges: the biggest one-frame step is well below the untapered one.
    assert np.abs(np.diff(shown)).max() < 0.8 * np.abs(np.diff(abrupt)).max()
    assert np.all(shown[:7] <= rng.closed[0] + 0.01) and np.all(shown[43:] <= rng.closed[0] + 0.01)  # rest stays
