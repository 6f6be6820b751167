"""Segments: which output frames each segment re-performs, and how the edit eases in and out.

Inside a segment the mouth follows that segment's plan; outside every segment the frame is left
as filmed. A hard switch between the two is a visible jump of the mouth (the planned shape and
the filmed one rarely agree at the cut), so each segment eases in and out over
:data:`EASE_S`: the target moves from the filmed shape (weight 0) to the planned one (weight 1)
along a smoothstep, expression and head motion scaled by the same weight. The ease lies inside
the segment, so the frames outside it are untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..records import EditSpans, MotionPlan

#: Length of the ease at each segment edge. 0.16 s (4 frames at 25 fps) is about one syllable's
#: opening or closing: the mouth travels between the two shapes as fast as it does in speech.
EASE_S = 0.16
#: At least this many eased frames, whatever the frame rate.
MIN_EASE_FRAMES = 2


def edit_spans(n_out: int, fps: float, spans_s: Sequence[tuple[float, float]]) -> EditSpans:
    """Owner (segment index, -1 outside) and ease weight of each output frame.

    Frame ``k`` shows time ``k / fps``; it belongs to a segment when that time is in
    ``[start, end)``. The weight rises along a smoothstep over the segment's first
    ``EASE_S`` and falls over its last (a segment shorter than two eases peaks below 1).
    """
    owner = np.full(n_out, -1, np.int32)
    weight = np.zeros(n_out, np.float32)
    ease_n = max(MIN_EASE_FRAMES, int(round(EASE_S * fps)))
    t = np.arange(n_out) / fps
    for i, (start, end) in enumerate(spans_s):
        frames = np.nonzero((t >= start - 1e-9) & (t < end - 1e-9))[0]
        if len(frames) == 0:
            continue
        owner[frames] = i
        j = np.arange(len(frames))
        edge = np.minimum(j + 1, len(frames) - j) / (ease_n + 1)
        x = np.clip(edge, 0.0, 1.0)
        weight[frames] = x * x * (3 - 2 * x)
    return EditSpans(owner=owner, weight=weight)


def pixel_alpha(weight: np.ndarray) -> np.ndarray:
    """How much of the rendered frame (vs the filmed one) an eased frame shows.

    The shape eases already; the pixels follow twice as fast, so the rendered mouth's own texture
    (another exemplar's lips) fades in where the shapes still nearly agree — no ghost of two
    mouths, and no pop from the filmed frame's texture to the exemplar's.
    """
    return np.clip(2.0 * np.asarray(weight, np.float32), 0.0, 1.0)


def merge(plans: Sequence[MotionPlan], spans: EditSpans, plan_of: Sequence[int],
          filmed_mouth: np.ndarray) -> MotionPlan:
    """One motion plan for the whole output: segment ``i``'s frames from ``plans[plan_of[i]]``,
    eased towards ``filmed_mouth`` (float32[n_out, 4], the source's own mouth at each output
    frame) by ``spans.weight``; frames outside every segment hold the filmed mouth and no motion."""
    first = plans[0]
    n = first.n_out
    mouth = np.array(filmed_mouth, np.float32, copy=True)
    closure = np.zeros(n, bool)
    speaking = np.zeros(n, bool)
    viseme = np.zeros_like(first.viseme)
    au = np.zeros_like(first.au)
    blink = np.zeros_like(first.blink)
    head = np.zeros_like(first.head_delta)
    w = spans.weight
    for seg, p in enumerate(plan_of):
        at = spans.owner == seg
        if not at.any():
            continue
        src = plans[p]
        wk = w[at, None]
        own = mouth[at]
        planned = src.mouth[at]
        mouth[at] = np.where(np.isfinite(own), wk * planned + (1.0 - wk) * own, planned)
        closure[at] = src.closure[at] & (w[at] > 0.5)
        speaking[at] = src.speaking[at]
        viseme[at] = src.viseme[at]
        au[at] = src.au[at] * wk
        blink[at] = src.blink[at] * w[at]
        head[at] = src.head_delta[at] * wk
    return MotionPlan(src_frame=first.src_frame, mouth=mouth, closure=closure, speaking=speaking, viseme=viseme,
                      au=au, blink=blink, head_delta=head)
