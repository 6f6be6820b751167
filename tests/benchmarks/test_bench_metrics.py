"""The benchmark's metric functions on hand-built landmarks, audio and frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks import metrics as M


def synthetic_face(gap: float = 10.0, iod: float = 100.0) -> np.ndarray:
    """A 478-point mesh with only the points the metrics read placed on a plausible frontal face."""
    lm = np.zeros((478, 3))
    lm[:, :2] = (200.0, 200.0)  # everything else sits at the face centre
    half = iod / 2
    for idx, x in zip(M.RIGHT_EYE_CORNERS, (-half - 20, -half + 20), strict=True):
        lm[idx, :2] = (200 + x, 150)
    for idx, x in zip(M.LEFT_EYE_CORNERS, (half - 20, half + 20), strict=True):
        lm[idx, :2] = (200 + x, 150)
    for up, low in M.INNER_LIP_PAIRS:
        lm[up, :2] = (200, 250 - gap / 2)
        lm[low, :2] = (200, 250 + gap / 2)
    lm[M.LIP_CORNERS[0], :2] = (170, 250)
    lm[M.LIP_CORNERS[1], :2] = (230, 250)
    lm[M.UPPER_LIP_TOP, :2] = (200, 240)
    lm[17, :2] = (200, 262)
    lm[M.FOREHEAD, :2] = (200, 80)
    lm[M.CHIN, :2] = (200, 300)
    lm[M.NOSE_TIP, :2] = (200, 205)
    for i, idx in enumerate(M.JAW_LINE):  # a U from jaw corner to jaw corner through the chin
        a = math.pi * i / (len(M.JAW_LINE) - 1)
        lm[idx, :2] = (200 - 80 * math.cos(a), 220 + 80 * math.sin(a))
    return lm


def test_mouth_opening_is_inner_lip_gap_over_inter_ocular_distance() -> None:
    assert M.mouth_opening(synthetic_face(gap=10, iod=100)[None])[0] == pytest.approx(0.10)


def test_mouth_opening_does_not_change_when_the_face_is_twice_as_large() -> None:
    face = synthetic_face(gap=12)
    assert M.mouth_opening((face * 2)[None])[0] == pytest.approx(M.mouth_opening(face[None])[0])


def test_missing_face_gives_nan_opening() -> None:
    assert np.isnan(M.mouth_opening(np.full((1, 478, 3), np.nan))[0])


def test_pearson_is_one_for_scaled_copy_and_minus_one_for_mirror() -> None:
    x = np.sin(np.linspace(0, 6, 50))
    assert M.pearson(x, 3 * x + 1) == pytest.approx(1.0)
    assert M.pearson(x, -x) == pytest.approx(-1.0)


def test_pearson_ignores_frames_without_a_face_and_uses_the_common_length() -> None:
    x = np.sin(np.linspace(0, 6, 50))
    y = x.copy()
    y[[3, 9]] = np.nan
    assert M.pearson(x, np.r_[y, 1.0, 2.0]) == pytest.approx(1.0)


def test_pearson_of_a_constant_series_is_nan() -> None:
    assert math.isnan(M.pearson(np.ones(20), np.arange(20.0)))


def test_the_interval_of_r_holds_r_and_is_wider_for_smooth_curves_than_for_independent_frames() -> None:
    gen = np.random.default_rng(3)
    n = 200
    a = gen.standard_normal(n)
    b = 0.6 * a + 0.8 * gen.standard_normal(n)  # r ≈ 0.6 over independent frames
    lo, hi = M.correlation_interval(a, b)
    r = M.pearson(a, b)
    assert lo < r < hi
    fisher = math.tanh(math.atanh(r) + 1.96 / math.sqrt(n - 3)) - math.tanh(math.atanh(r) - 1.96 / math.sqrt(n - 3))
    assert hi - lo == pytest.approx(fisher, rel=0.25)  # independent frames: about Fisher's own width
    # The same relation between smooth curves (a mouth moves over several frames) is less evidence.
    kernel = np.ones(7) / 7
    sa, sb = np.convolve(a, kernel, "same"), np.convolve(b, kernel, "same")
    slo, shi = M.correlation_interval(sa, sb)
    assert shi - slo > 1.5 * (hi - lo)
    # Unmeasured frames are left out, and too few frames give no interval.
    a_gaps = a.copy()
    a_gaps[::10] = np.nan
    assert all(np.isfinite(M.correlation_interval(a_gaps, b)))
    assert all(np.isnan(M.correlation_interval(a[:10], b[:10])))


def test_best_lag_finds_a_mouth_that_moves_three_frames_after_the_sound() -> None:
    rng = np.random.default_rng(1)
    env = rng.random(200)
    mouth = np.r_[np.zeros(3), env[:-3]]
    lag, r = M.best_lag(mouth, env)
    assert lag == 3
    assert r == pytest.approx(1.0, abs=1e-6)


def test_best_lag_finds_a_mouth_that_leads_the_sound() -> None:
    env = np.random.default_rng(2).random(200)
    lag, _ = M.best_lag(env[2:], env[:-2])
    assert lag == -2


def test_frame_envelope_is_loud_only_in_frames_that_hold_sound() -> None:
    rate, fps = 16000, 25.0
    samples = np.zeros(rate)
    samples[int(0.4 * rate) : int(0.6 * rate)] = 0.5
    env = M.frame_envelope(samples, rate, fps, 30)
    assert env[10:15] == pytest.approx(0.5)
    assert np.all(env[:10] == 0) and np.all(env[15:25] == 0)
    assert np.all(env[25:] == 0)  # past the audio's end


def noise_with_gaps(rate: int, gaps_s: list[tuple[float, float]], total_s: float) -> np.ndarray:
    samples = np.random.default_rng(3).normal(0, 0.2, int(total_s * rate))
    for a, b in gaps_s:
        samples[int(a * rate) : int(b * rate)] = 0.0
    return samples


def test_a_half_second_silence_is_one_pause_and_a_tenth_is_none() -> None:
    rate = 16000
    runs = M.silent_runs(noise_with_gaps(rate, [(1.0, 1.5), (2.0, 2.1)], 3.0), rate)
    assert len(runs) == 1
    assert runs[0][0] == pytest.approx(1.0, abs=0.011) and runs[0][1] == pytest.approx(1.5, abs=0.011)


def test_trailing_silence_counts_as_a_pause() -> None:
    rate = 16000
    runs = M.silent_runs(noise_with_gaps(rate, [(2.0, 3.0)], 3.0), rate)
    assert runs and runs[-1][1] == pytest.approx(3.0, abs=0.011)


def test_pause_frames_leave_out_two_frames_at_each_edge() -> None:
    mask = M.pause_frames([(1.0, 2.0)], fps=10.0, n_frames=40)
    # Frames 10..19 lie wholly inside [1.0, 2.0); minus two at each edge → 12..17.
    assert np.flatnonzero(mask).tolist() == list(range(12, 18))


def test_pause_closure_counts_frames_at_or_below_rest_plus_tolerance() -> None:
    opening = np.array([0.0, 0.01, 0.5, 0.02, 0.4, np.nan])
    in_pause = np.array([True, True, True, True, False, True])
    share, n = M.pause_closure(opening, in_pause, rest=0.0)
    assert n == 4
    assert share == pytest.approx(3 / 4)


def test_rest_level_is_a_low_percentile_of_the_persons_own_opening() -> None:
    assert M.rest_level(np.r_[np.zeros(25), np.linspace(0.1, 0.3, 75)]) == pytest.approx(0.0, abs=1e-9)


def test_jitter_is_zero_for_steady_motion_and_grows_with_noise() -> None:
    face = synthetic_face()
    steady = np.stack([face + (2.0 * t, 0.0, 0.0) for t in range(30)])
    assert M.landmark_jitter(steady) == pytest.approx(0.0, abs=1e-12)
    noisy = steady.copy()
    noisy[:, :, :2] += np.random.default_rng(4).normal(0, 1.0, noisy[:, :, :2].shape)
    assert M.landmark_jitter(noisy) > 0.01


def test_jitter_leaves_out_shot_cut_jumps() -> None:
    face = synthetic_face()
    track = np.stack([face] * 20)
    track[10:] += (300.0, 0.0, 0.0)  # a cut: the face jumps by three inter-ocular distances
    assert M.landmark_jitter(track) == pytest.approx(0.0, abs=1e-12)


def test_face_mask_covers_the_face_and_the_chin_area_but_not_the_frame_corners() -> None:
    mask = M.face_mask(synthetic_face(), 480, 400)
    assert mask[250, 200] and mask[150, 150]  # mouth, eye
    assert mask[330, 200]  # below the chin (throat)
    assert not mask[5, 5] and not mask[470, 395]


def test_psnr_outside_ignores_differences_inside_the_mask() -> None:
    a = np.zeros((40, 40, 3), np.uint8)
    b = a.copy()
    b[10:20, 10:20] = 255
    mask = np.zeros((40, 40), bool)
    mask[8:22, 8:22] = True
    assert M.psnr_outside(a, b, mask) == M.PSNR_IDENTICAL_DB
    assert M.psnr_outside(a, b, None) < 20


def test_psnr_outside_of_a_uniform_error_matches_the_formula() -> None:
    a = np.full((10, 10, 3), 100, np.uint8)
    b = a + np.uint8(5)
    assert M.psnr_outside(a, b, None) == pytest.approx(10 * math.log10(255**2 / 25))


def test_head_pose_reads_a_known_yaw_rotation() -> None:
    face = synthetic_face()
    face[:, 2] = 0.0
    face[list(M.RIGHT_EYE_CORNERS + M.LEFT_EYE_CORNERS), 2] = 10.0  # eyes sit behind the nose tip
    centre = face[:, :3].mean(axis=0)
    a = math.radians(12)
    rot = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    turned = (face - centre) @ rot.T + centre
    pose = M.head_pose_deg(np.stack([face, turned]))
    assert abs(pose[1, 0] - pose[0, 0]) == pytest.approx(12.0, abs=0.01)
    assert pose[1, 1:] == pytest.approx(pose[0, 1:], abs=0.01)  # pitch and roll unchanged


def test_head_pose_reads_roll_from_the_eye_line() -> None:
    face = synthetic_face()
    centre = face.mean(axis=0)
    a = math.radians(-7)
    rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    pose = M.head_pose_deg(np.stack([face, (face - centre) @ rot.T + centre]))
    assert pose[1, 2] - pose[0, 2] == pytest.approx(-7.0, abs=0.01)


def test_raised_lip_corners_raise_the_lip_corner_signature() -> None:
    face = synthetic_face()
    smiling = face.copy()
    smiling[list(M.LIP_CORNERS), 1] -= 6.0  # up in the image
    sig = M.expression_signature(np.stack([face, smiling]))
    assert sig["lip_corner_height"][1] - sig["lip_corner_height"][0] == pytest.approx(0.06)
    assert sig["brow_height"][1] == pytest.approx(sig["brow_height"][0])


def test_cosine_of_parallel_vectors_is_one() -> None:
    assert M.cosine(np.array([1.0, 2.0]), np.array([2.0, 4.0])) == pytest.approx(1.0)


def test_lipsync_r_needs_enough_frames_where_both_mouths_are_measurable() -> None:
    """A truth half showing the speaker in a handful of frames gives no r (it would be noise)."""
    from benchmarks.quality import landmark_scores

    n = 120
    gaps = 5 + 5 * np.sin(np.arange(n) / 4.0)
    lm = np.stack([synthetic_face(gap=g) for g in gaps])
    truth = M.mouth_opening(lm).copy()
    env, pause = np.ones(n), np.zeros(n, bool)
    full = landmark_scores(lm, envelope=env, in_pause=pause, rest=0.05, input_lm=lm, truth_opening=truth)
    assert full.lipsync_frames == n and full.lipsync_r == pytest.approx(1.0)
    thin = truth.copy()
    thin[M.MIN_TRUTH_FRAMES - 1:] = np.nan  # the speaker visible in too few truth frames
    few = landmark_scores(lm, envelope=env, in_pause=pause, rest=0.05, input_lm=lm, truth_opening=thin)
    assert few.lipsync_frames == M.MIN_TRUTH_FRAMES - 1 and math.isnan(few.lipsync_r)


def _face_points(n: int, rng: np.random.Generator) -> np.ndarray:
    """[n, 478, 3] meshes: every point somewhere on a 200-px face, eyes 60 px apart, with a little
    smooth drift (a real head moves) — enough structure for the jitter measures."""
    base = rng.uniform(70, 230, (478, 3))
    for i in M.RIGHT_EYE_CORNERS:
        base[i, :2] = (120, 130)
    for i in M.LEFT_EYE_CORNERS:
        base[i, :2] = (180, 130)
    drift = np.sin(np.linspace(0, 3, n))[:, None, None] * np.array([2.0, 1.0, 0.0])
    return base[None] + drift


def test_rigid_jitter_reads_what_the_pixels_moved_and_not_a_failed_track() -> None:
    rng = np.random.default_rng(0)
    ref = _face_points(60, rng)
    k = len(M.STABLE_POINTS)
    still = np.zeros((60, k, 2))
    assert M.rigid_jitter_ratio(ref, still) == pytest.approx(1.0)
    shaking = rng.normal(0, 0.6, (60, k, 2))  # the output's eyes and nose tremble by ~half a pixel
    assert M.rigid_jitter_ratio(ref, shaking) > 1.2
    lost = np.full((60, k, 2), np.nan)  # nothing could be followed: no evidence of motion
    assert M.rigid_jitter_ratio(ref, lost) == pytest.approx(1.0)


def test_a_tracked_shift_follows_the_pixels() -> None:
    rng = np.random.default_rng(1)
    img = (rng.uniform(0, 255, (300, 300)) > 128).astype(np.uint8) * 255
    import cv2

    img = cv2.GaussianBlur(img, (5, 5), 1.5)
    rgb = np.repeat(img[:, :, None], 3, axis=2)
    moved = np.roll(rgb, (1, 3), axis=(0, 1))  # 3 px right, 1 px down
    lm = _face_points(1, rng)[0]
    shift = M.tracked_shift(rgb, moved, lm, M.STABLE_POINTS)
    ok = np.isfinite(shift[:, 0])
    assert ok.sum() >= len(M.STABLE_POINTS) - 1
    assert np.allclose(shift[ok], (3.0, 1.0), atol=0.2)


def test_lip_jitter_ignores_the_whole_mesh_moving_and_reads_the_lips_trembling() -> None:
    rng = np.random.default_rng(2)
    lm = _face_points(80, rng)
    calm = M.lip_jitter(lm)
    refit = lm + rng.normal(0, 0.8, (80, 1, 3))  # the whole mesh hops a little every frame
    assert M.lip_jitter(refit) == pytest.approx(calm, rel=1e-6)
    assert M.landmark_jitter(refit, M.MOUTH_POINTS) > 1.5 * M.landmark_jitter(lm, M.MOUTH_POINTS)
    trembling = lm.copy()
    trembling[:, list(M.MOUTH_POINTS), :2] += rng.normal(0, 0.8, (80, len(M.MOUTH_POINTS), 2))
    assert M.lip_jitter(trembling) > 1.5 * calm
