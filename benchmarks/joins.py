"""How visible the joins of a chunked render are (issue 18): figures for tests and the long-video bench.

A join is invisible when the output there moves as it moves anywhere else: the frame-to-frame
step in mouth opening across a join is compared with the 99th percentile of the steps elsewhere
(measured on the output's pixels, by the benchmarks' own face mesh, not read from the plan), and
each frame is compared with the one-piece render's (PSNR: encoder noise only, when the chunks
render the same frames).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: PSNR reported for identical frames (infinite otherwise).
IDENTICAL_DB = 99.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 frames, dB (IDENTICAL_DB when equal)."""
    err = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return IDENTICAL_DB if err == 0 else float(10 * np.log10(255.0**2 / err))


def join_steps(opening: np.ndarray, joins: Sequence[int]) -> tuple[np.ndarray, float]:
    """(|opening step| into each join frame, 99th percentile of the steps everywhere else).

    ``opening`` is the output's mouth opening per frame (NaN without a face); ``joins`` are the
    first frames of every chunk but the first. A step is frame ``j - 1`` → ``j``; steps touching
    a missing face are left out of the percentile and count as 0 at a join.
    """
    steps = np.abs(np.diff(np.asarray(opening, np.float64)))
    at = np.array([j - 1 for j in joins], int)
    elsewhere = np.delete(steps, at)
    elsewhere = elsewhere[np.isfinite(elsewhere)]
    p99 = float(np.percentile(elsewhere, 99)) if elsewhere.size else 0.0
    return np.nan_to_num(steps[at], nan=0.0), p99
