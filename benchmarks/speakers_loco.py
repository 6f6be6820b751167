"""Leave-one-case-out choice of the auto speaker constants (issue 17).

Following every face is the expensive pass and does not depend on the selection constants, so
:mod:`benchmarks.speakers` follows each case once and then scores the auto selection at every
point of :data:`GRID` (cheap). For each case, the grid point with the most frames right on the
*other* cases is chosen and scored on the held-out case; ties go to the shipped constants, then to
the first point of the grid. The report gives those held-out numbers next to the in-sample ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from reperform.face import speakers as S

#: The constants the auto selection depends on most: the evidence window, the switch cost of the
#: Viterbi path, and the weight of face prominence (ties where the sound says nothing).
GRID: dict[str, tuple[float, ...]] = {
    "WINDOW_S": (2.0, 3.0, 4.0),
    "SWITCH_COST": (3.0, 6.0, 10.0),
    "PROMINENCE_WEIGHT": (0.0, 0.05, 0.2),
}

Point = tuple[float, ...]


def shipped() -> Point:
    """The grid's constants as the engine ships them."""
    return tuple(float(getattr(S, name)) for name in GRID)


def points() -> list[Point]:
    return [tuple(p) for p in itertools.product(*GRID.values())]


@contextmanager
def constants(point: Point) -> Iterator[None]:
    """Set the engine's module constants to ``point`` for the block (read at call time)."""
    old = {name: getattr(S, name) for name in GRID}
    try:
        for name, value in zip(GRID, point, strict=True):
            setattr(S, name, value)
        yield
    finally:
        for name, value in old.items():
            setattr(S, name, value)


@dataclass(frozen=True)
class Fold:
    case: str
    chosen: Point
    held_out: float  # share of the held-out case's frames right with ``chosen``
    in_sample: float  # the same with the shipped constants
    frames: int


def leave_one_case_out(right: Mapping[str, Mapping[Point, int]], frames: Mapping[str, int],
                       ship: Point) -> list[Fold]:
    """One fold per case: ``right[case][point]`` is how many of the case's ``frames[case]`` frames
    the selection got right at ``point``. Each fold chooses the point with the most frames right
    on the other cases (pooled) and scores the held-out case with it."""
    grid = list(next(iter(right.values())))
    folds = []
    for case in right:
        def others(p: Point, held: str = case) -> int:
            return sum(r[p] for c, r in right.items() if c != held)
        best = max(others(p) for p in grid)
        ties = [p for p in grid if others(p) == best]
        chosen = ship if ship in ties else ties[0]
        folds.append(Fold(case, chosen, right[case][chosen] / frames[case], right[case][ship] / frames[case],
                          frames[case]))
    return folds
