"""Where a long render is cut into chunks that separate processes (or machines) render.

The plan is made over the whole clip, so any cut renders the same frames; but a cut is safest
where nothing moves across it. Each boundary is placed near its share of the work and moved, if
one is close, to a shot cut (a new picture: nothing to keep continuous) or else into the middle
of a pause (the mouth at rest). Chunks tile the output exactly: every frame in one chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .analysis import Plan

#: A boundary may move this share of a chunk's length away from its even position to land on a
#: cut or a pause: enough to find one in ordinary speech (pauses every few seconds), small
#: enough that the chunks' work stays balanced.
BOUNDARY_SLACK = 0.2
#: Chunks shorter than this (seconds) cost more in start-up (loading the analysis, models) and
#: encoder warm-up than they save; a clip is not split below it.
MIN_CHUNK_S = 8.0


def chunk_count(n_frames: int, fps: float, workers: int, chunk_s: float | None = None) -> int:
    """How many chunks to cut ``n_frames`` into for ``workers`` processes.

    One per worker when ``chunk_s`` is None (local rendering: equal shares, no queue); else
    about ``chunk_s`` seconds each (a shared queue: short chunks balance uneven workers and
    make a lost chunk cheap to redo). Never chunks shorter than MIN_CHUNK_S.
    """
    if n_frames <= 0 or fps <= 0:
        return 1
    duration_s = n_frames / fps
    most = max(1, int(duration_s // MIN_CHUNK_S))
    wanted = max(1, workers) if chunk_s is None else max(1, int(round(duration_s / max(chunk_s, MIN_CHUNK_S))))
    return max(1, min(wanted, most))


def plan_chunks(
    n_frames: int,
    n_chunks: int,
    *,
    quiet: np.ndarray | None = None,
    cuts: Sequence[int] = (),
    slack: float = BOUNDARY_SLACK,
) -> list[tuple[int, int]]:
    """``n_chunks`` contiguous ``[start, end)`` frame ranges tiling ``[0, n_frames)``.

    ``quiet`` (bool per frame) marks frames where the mouth rests; ``cuts`` are frames that
    start a new shot. Each boundary goes to the nearest cut within ``slack`` of a chunk's
    length of its even position, else to the middle of the nearest quiet run there, else stays.
    """
    if n_frames <= 0:
        return []
    n_chunks = max(1, min(n_chunks, n_frames))
    size = n_frames / n_chunks
    reach = max(0, int(slack * size))
    quiet_mids = _quiet_middles(quiet) if quiet is not None else np.zeros(0, int)
    cut_arr = np.asarray(sorted(c for c in cuts if 0 < c < n_frames), int)
    bounds = [0]
    for i in range(1, n_chunks):
        ideal = int(round(i * size))
        lo, hi = max(bounds[-1] + 1, ideal - reach), min(n_frames - (n_chunks - i), ideal + reach)
        at = _nearest(cut_arr, ideal, lo, hi)
        if at is None:
            at = _nearest(quiet_mids, ideal, lo, hi)
        bounds.append(at if at is not None else min(max(ideal, lo), hi))
    bounds.append(n_frames)
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _quiet_middles(quiet: np.ndarray) -> np.ndarray:
    """The middle frame of each run of ``True``."""
    q = np.asarray(quiet, bool).astype(np.int8)
    edges = np.diff(np.concatenate([[0], q, [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    return (starts + ends) // 2


def _nearest(candidates: np.ndarray, ideal: int, lo: int, hi: int) -> int | None:
    """The candidate in ``[lo, hi]`` closest to ``ideal``, or None."""
    inside = candidates[(candidates >= lo) & (candidates <= hi)]
    if inside.size == 0:
        return None
    return int(inside[np.argmin(np.abs(inside - ideal))])


def plan_spans(plan: Plan, workers: int, chunk_s: float | None = None) -> list[tuple[int, int]]:
    """The chunks of ``plan``'s output for ``workers`` local processes, or of about ``chunk_s``
    seconds on a queue (:func:`chunk_count`); one span when the output is too short to split.

    Boundaries go into pauses of the driving speech (the plan's ``speaking`` is False there) or
    onto the time map's jumps (a looped video restarting), where nothing continues across them.
    """
    n = plan.n_out
    count = chunk_count(n, float(plan.timemap.fps), workers, chunk_s) if workers > 1 or chunk_s else 1
    if count <= 1:
        return [(0, n)]
    jumps = np.nonzero(np.abs(np.diff(plan.timemap.src_frame.astype(np.int64))) > 1)[0] + 1
    return plan_chunks(n, count, quiet=~plan.motion.speaking.astype(bool), cuts=jumps.tolist())
