"""The leave-one-case-out fold logic of the speaker benchmark (no media)."""

from __future__ import annotations

from benchmarks import speakers_loco as L
from reperform.face import speakers as S


def test_each_fold_chooses_on_the_other_cases_only():
    a, b = (1.0,), (2.0,)
    right = {"x": {a: 10, b: 0}, "y": {a: 2, b: 8}, "z": {a: 3, b: 9}}
    frames = {"x": 10, "y": 10, "z": 10}
    folds = {f.case: f for f in L.leave_one_case_out(right, frames, ship=a)}
    assert folds["x"].chosen == b and folds["x"].held_out == 0.0 and folds["x"].in_sample == 1.0
    # leaving y out: a gets 13 on x+z, b gets 9 -> a
    assert folds["y"].chosen == a and folds["y"].held_out == 0.2
    assert folds["z"].chosen == a and folds["z"].held_out == 0.3


def test_ties_go_to_the_shipped_point():
    a, b = (1.0,), (2.0,)
    right = {"x": {a: 5, b: 5}, "y": {a: 5, b: 5}}
    folds = L.leave_one_case_out(right, {"x": 10, "y": 10}, ship=b)
    assert all(f.chosen == b for f in folds)


def test_constants_are_set_and_restored():
    before = L.shipped()
    assert before in L.points()
    point = tuple(v[0] for v in L.GRID.values())
    with L.constants(point):
        assert L.shipped() == point
        assert point[0] == S.WINDOW_S
    assert L.shipped() == before
