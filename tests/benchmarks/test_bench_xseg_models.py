"""benchmarks.xseg_models: a clip's windows pooled as the report pools them."""

from __future__ import annotations

import math

from benchmarks import metrics, xseg_models


def _row(r: float, ci: tuple[float, float], neff: float) -> dict[str, object]:
    return {"clip": "c", "window": "w", "model": "old", "r": r, "ci": ci, "neff": neff, "lag": 0, "route": "aligned"}


def test_one_window_is_reported_as_measured_and_several_are_pooled_by_fisher():
    assert xseg_models.pooled([_row(0.4, (0.2, 0.6), 50.0)]) == (0.4, 0.2, 0.6)
    rows = [_row(0.3, (0.1, 0.5), 80.0), _row(0.5, (0.3, 0.7), 80.0), _row(math.nan, (math.nan, math.nan), 10.0)]
    r, lo, hi, _n = metrics.pool_correlations([0.3, 0.5], [80.0, 80.0])
    assert xseg_models.pooled(rows) == (r, lo, hi)
    assert lo < 0.4 < hi
