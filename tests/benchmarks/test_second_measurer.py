"""The second mouth measurer (dlib 68 points) and the render-fidelity statistics built on it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from benchmarks.dlib_mouth import DlibMouthMeter, opening
from benchmarks.measure import iter_rgb, measure_video

from benchmarks import metrics as M
from benchmarks import render_fidelity as RF


def test_opening_is_the_inner_lip_gap_over_the_eye_centres_distance():
    p = np.zeros((68, 2), np.float32)
    p[36:42] = (100.0, 100.0)  # right eye centre
    p[42:48] = (180.0, 100.0)  # left eye centre: 80 px apart
    for up, low in ((61, 67), (62, 66), (63, 65)):
        p[up], p[low] = (140.0, 190.0), (140.0, 206.0)  # 16 px gaps
    assert opening(p) == pytest.approx(0.2)
    p[61], p[67] = (140.0, 190.0), (140.0, 190.0)  # one gap closed: the mean of three
    assert opening(p) == pytest.approx((0 + 16 + 16) / 3 / 80)


@pytest.mark.media
def test_dlib_reads_a_real_speakers_mouth_as_mediapipe_does(media_dir):
    """On real talking frames the two unrelated models agree on when the mouth opens."""
    clip = media_dir / "videos" / "videoretalking_4.mp4"
    n = 60
    got = DlibMouthMeter().frames(itertools.islice(iter_rgb(clip), n))
    mp = M.mouth_opening(measure_video(clip, max_frames=n).landmarks)
    assert got.found >= 0.9  # the clip fades in: dlib misses its first two frames
    assert M.pearson(got.opening, mp) > 0.8


def test_partial_correlation_finds_a_source_mouth_showing_through():
    rng = np.random.default_rng(0)
    plan, source = rng.normal(size=400), rng.normal(size=400)
    clean = plan + 0.2 * rng.normal(size=400)
    leaky = plan + 0.5 * source + 0.2 * rng.normal(size=400)
    assert abs(RF._partial(clean, plan, source)) < 0.15
    assert RF._partial(leaky, plan, source) > 0.7


def _clip(yaw: float, gain: float, n: int = 200, seed: int = 0) -> RF.ClipFidelity:
    rng = np.random.default_rng(seed)
    planned = 0.2 + 0.1 * np.sin(np.arange(n) / 3.0)
    c = RF.ClipFidelity("c", "a", n=n, planned=planned, source_open=rng.normal(size=n), yaw=np.full(n, yaw))
    c.measured = {"dlib": 0.5 * (gain * planned + 0.002 * rng.normal(size=n)), "MediaPipe": planned.copy()}
    c.calibration = {"dlib": 0.5, "MediaPipe": 1.0}  # dlib reads real mouths at half the tracker's scale
    return c


def test_gain_is_relative_to_how_the_measurer_reads_real_mouths():
    c = _clip(5.0, gain=0.6)
    r, gain, _ci = RF.scores(c.planned, c.measured["dlib"], c.calibration["dlib"])
    assert r > 0.95 and gain == pytest.approx(0.6, abs=0.03)


def test_yaw_bins_pool_clips_and_keep_turned_frames_apart():
    rows = {label: (n, r, g) for label, n, r, g in
            RF.yaw_bins([_clip(5.0, 1.0, seed=1), _clip(25.0, 0.3, seed=2), _clip(4.0, 1.0, seed=3)], "dlib")}
    assert rows["0–10°"][0] == 400 and rows["0–10°"][2] == pytest.approx(1.0, abs=0.05)
    assert rows["20–30°"][0] == 200 and rows["20–30°"][2] == pytest.approx(0.3, abs=0.05)
    assert rows["10–20°"][0] == 0 and np.isnan(rows["10–20°"][1])
