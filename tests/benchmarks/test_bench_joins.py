"""The join measure of the chunked-render benchmark: a jump in mouth opening at a join stands out
against the steps elsewhere; the mouth's own motion across a join does not."""

from __future__ import annotations

import numpy as np
from benchmarks.joins import IDENTICAL_DB, join_steps, psnr
from benchmarks.long_video import Run, chunk_joins


def _talking(n: int = 400, seed: int = 3) -> np.ndarray:
    t = np.arange(n) / 25.0
    return 0.15 + 0.1 * np.sin(2 * np.pi * 3.0 * t) + np.random.default_rng(seed).normal(0, 0.004, n)


def test_a_jump_at_a_join_stands_out_and_smooth_motion_does_not() -> None:
    opening = _talking()
    at, p99 = join_steps(opening, [200])
    assert at[0] <= p99  # the same motion as everywhere else
    jumped = opening.copy()
    jumped[200:] += 0.12  # the second chunk starts from another mouth
    at, p99 = join_steps(jumped, [200])
    assert at[0] > 2 * p99


def test_a_missing_face_is_left_out_not_counted_as_a_step() -> None:
    opening = _talking()
    opening[50:60] = np.nan
    at, p99 = join_steps(opening, [55, 300])
    assert at[0] == 0.0 and np.isfinite(p99)


def test_psnr_of_equal_and_noisy_frames() -> None:
    a = np.full((8, 8, 3), 100, np.uint8)
    assert psnr(a, a) == IDENTICAL_DB
    b = a.copy()
    b[0, 0, 0] = 110
    assert 40 < psnr(a, b) < 60


def test_the_joins_are_read_from_the_commands_summary_line() -> None:
    note = "wrote o.mp4 1920x1080 25.00 fps, 600.00 s, 15000 frames (15000 edited), mode face, speech aligned, " \
           "1.0 s (0.01x real time), 2 chunks (joins at frames 7480)"
    assert chunk_joins(Run("x", 1.0, note=note)) == [7480]
    assert chunk_joins(Run("x", 1.0, note="wrote o.mp4 ...")) == []
