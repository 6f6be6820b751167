"""Progress reporting passed in as a parameter (never a flag inside the library).

A sink receives ``(stage, fraction, detail)``; :func:`split` gives each stage a weighted share of
one overall 0..1 bar, so the CLI, the job runner and tests all see one monotonic number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class ProgressSink(Protocol):
    def __call__(self, stage: str, fraction: float, detail: str = "") -> None: ...


def null_sink(stage: str, fraction: float, detail: str = "") -> None:
    """Ignore progress."""


@dataclass
class RecordingSink:
    """Keeps every event; used by tests and by callers who want a log."""

    events: list[tuple[str, float, str]] = field(default_factory=list)

    def __call__(self, stage: str, fraction: float, detail: str = "") -> None:
        self.events.append((stage, fraction, detail))


class Overall:
    """Maps per-stage fractions onto one overall fraction using stage weights.

    Emits to ``sink`` as ``(stage, overall_fraction, detail)``; never goes backwards.
    """

    def __init__(self, sink: ProgressSink, weights: dict[str, float]) -> None:
        self._sink = sink
        total = sum(weights.values()) or 1.0
        self._start: dict[str, float] = {}
        self._span: dict[str, float] = {}
        acc = 0.0
        for name, w in weights.items():
            self._start[name] = acc / total
            self._span[name] = w / total
            acc += w
        self._last = 0.0

    def stage(self, name: str) -> Callable[[float, str], None]:
        """A reporter for one stage: call it with that stage's own 0..1 fraction."""

        def report(fraction: float, detail: str = "") -> None:
            f = self._start[name] + self._span[name] * min(max(fraction, 0.0), 1.0)
            f = max(f, self._last)
            self._last = f
            self._sink(name, f, detail)

        return report

    def done(self) -> None:
        self._last = 1.0
        self._sink("done", 1.0, "")
