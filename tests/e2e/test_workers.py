"""``reperform generate --workers N`` (issue 18): a long output rendered in N processes, joined.

On a real 20 s clip the two-worker output is the one-process output (frame count, A/V duration,
every frame within encoder noise), progress sums the chunks', and a chunk that fails in its
worker fails the job with that worker's error and leaves no output.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from benchmarks.joins import psnr
from benchmarks.measure import iter_rgb
from typer.testing import CliRunner

import reperform
from reperform import chunked
from reperform.cli import app
from reperform.errors import AnalysisOutdated

pytestmark = [pytest.mark.e2e, pytest.mark.media]


@pytest.fixture(scope="module")
def clip(media_dir):
    """20 s of a German news anchor driven by his own speech: 500 frames, two chunks of 8 s or more."""
    return media_dir / "videos" / "mimictalk_German_20s.mp4"


@pytest.fixture(scope="module")
def one_process(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("workers") / "one.mp4"
    return reperform.generate(clip, clip, out, reperform.Options(mode="lips"), workers=1)


def test_two_workers_write_the_one_process_output(clip, one_process, tmp_path):
    out = tmp_path / "two.mp4"
    result = CliRunner().invoke(app, ["generate", str(clip), str(clip), "-o", str(out), "--mode", "lips",
                                      "--workers", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "500 frames" in result.output
    one, two = reperform.probe(one_process.output), reperform.probe(out)
    assert two.n_frames == one.n_frames == 500
    assert two.duration_s == pytest.approx(one.duration_s, abs=1e-6)
    assert two.audio_duration_s == pytest.approx(one.audio_duration_s, abs=1e-6)
    # Before encoding the frames are the same (tests/e2e/test_chunked_render.py); encoded, a chunk
    # restarts x264's GOP and rate control, so frames after a join carry other encoder noise:
    # measured min 39.5 dB (the join frame: an IDR here, a B-frame in one piece), median 41.7.
    scores = np.array([psnr(a, b) for a, b in zip(iter_rgb(one_process.output), iter_rgb(out), strict=True)])
    assert scores.min() >= 38.0 and np.median(scores) >= 40.0, (scores.min(), np.median(scores))
    assert not list(tmp_path.glob(".two.mp4*"))  # the chunks' scratch folder is gone


@pytest.fixture(scope="module")
def planned(clip):
    analysis = reperform.analyze(clip, clip)
    analysis.release_frames()
    return analysis, reperform.plan(analysis, reperform.Options(mode="lips"))


def test_progress_is_the_sum_of_the_chunks(planned, tmp_path):
    analysis, plan = planned
    seen: list[float] = []
    files, edited, _ = chunked.render_chunks(analysis, plan, [(0, 240), (240, 500)], tmp_path, 2,
                                            lambda f, _d: seen.append(f))
    assert len(files) == 2 and edited > 400
    assert seen[-1] == pytest.approx(1.0) and max(seen) <= 1.0
    assert any(0.2 < f < 0.8 for f in seen)  # partial progress arrives while the chunks render
    assert reperform.join(analysis, plan, files, tmp_path / "joined.mp4") == 500


def test_a_failing_chunk_fails_the_job_with_its_error(planned, tmp_path):
    analysis, plan = planned
    gone = dataclasses.replace(analysis, video=tmp_path / "deleted.mp4")
    with pytest.raises(AnalysisOutdated, match="deleted.mp4"):
        chunked.render_chunks(gone, plan, [(0, 250), (250, 500)], tmp_path, 2, lambda f, d: None)
    assert not list(tmp_path.glob("chunk*.mp4"))
