"""Segment edges: the mouth eases between the filmed and the planned shape (motion.ease)."""

from __future__ import annotations

import numpy as np

from reperform.motion.ease import EASE_S, edit_spans, merge, pixel_alpha
from reperform.records import MotionPlan

FPS = 25.0


def _plan(n: int, mouth: float, au: float = 0.0) -> MotionPlan:
    return MotionPlan(src_frame=np.arange(n, dtype=np.int32), mouth=np.full((n, 4), mouth, np.float32),
                      closure=np.zeros(n, bool), speaking=np.ones(n, bool), viseme=np.zeros(n, np.int8),
                      au=np.full((n, 3), au, np.float32), blink=np.zeros(n, np.float32),
                      head_delta=np.full((n, 3), 2.0, np.float32))


def test_frames_belong_to_their_segment_and_ease_in_and_out_inside_it() -> None:
    spans = edit_spans(100, FPS, [(1.0, 2.0), (2.0, 3.0)])
    assert (spans.owner[:25] == -1).all() and (spans.owner[25:50] == 0).all() and (spans.owner[50:75] == 1).all()
    assert (spans.weight[:25] == 0).all() and (spans.weight[75:] == 0).all()
    ease_n = round(EASE_S * FPS)
    w = spans.weight[25:50]
    assert (np.diff(w[: ease_n + 1]) > 0).all() and (w[ease_n:-ease_n] == 1).all()
    assert 0 < w[0] < 0.5 and 0 < w[-1] < 0.5
    assert (pixel_alpha(w) >= w).all() and pixel_alpha(w).max() == 1


def test_the_merged_mouth_glides_from_the_filmed_shape_to_the_plan_and_back() -> None:
    n = 100
    spans = edit_spans(n, FPS, [(1.0, 3.0)])
    a, b = _plan(n, 0.3, au=0.5), _plan(n, 0.9)
    filmed = np.full((n, 4), 0.1, np.float32)
    merged = merge([a, b], spans, [0], filmed)
    opening = merged.mouth[:, 0]
    assert (opening[:25] == 0.1).all() and (opening[75:] == 0.1).all()  # outside: the filmed mouth
    np.testing.assert_allclose(opening[35:65], 0.3)  # inside: its own plan (a), not the other (b)
    hard_step = 0.3 - 0.1
    assert np.abs(np.diff(opening)).max() < 0.5 * hard_step  # no jump at the joins
    assert (merged.au[:25] == 0).all() and np.isclose(merged.au[40, 0], 0.5)
    assert (merged.head_delta[:25] == 0).all() and np.isclose(merged.head_delta[40, 0], 2.0)
