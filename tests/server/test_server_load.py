"""The loopback load test itself works: a short run with few clients, errors counted, 429s intended."""

from __future__ import annotations

import sys

import pytest
from reperform_harness import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.media]


def test_a_short_load_run_reports_latencies_and_no_errors() -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    import load_server

    result = load_server.run(duration_s=3, clients=5, workers=0)
    assert result["errors"] == 0, result["error_kinds"]
    assert result["gets"] > 0 and result["creates_accepted"] > 0
    assert 0 < result["get_p50_ms"] <= result["get_p99_ms"]
    assert 0 < result["create_p50_ms"] <= result["create_p99_ms"]
