"""``reperform generate --workers N`` (issue 18): a long output rendered in N processes, joined.

On 16.8 s of a real clip the two-worker output is the one-process output (frame count, A/V duration,
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
from tests.conftest import clip_excerpt

pytestmark = [pytest.mark.e2e, pytest.mark.media]


#: Output frames of ``clip``: 16.8 s at 25 fps.
N_FRAMES = 420


@pytest.fixture(scope="module")
def clip(media_dir, shared_tmp):
    """16.8 s of a German news anchor driven by his own speech: 420 frames, two chunks of 8 s or
    more (chunking.MIN_CHUNK_S). Full size (512×512): the PSNR bounds below were measured there."""
    return clip_excerpt(media_dir / "videos" / "mimictalk_German_20s.mp4", shared_tmp / "chunks_16.8s.mp4", 16.8)


@pytest.fixture(scope="module")
def planned(clip):
    analysis = reperform.analyze(clip, clip)
    analysis.release_frames()
    return analysis, reperform.plan(analysis, reperform.Options(mode="lips"))


@pytest.fixture(scope="module")
def one_process(planned, tmp_path_factory):
    """The whole plan rendered in one piece in this process (the analysis is the one the other
    tests use: made once for the module)."""
    analysis, plan = planned
    return reperform.render(analysis, plan, tmp_path_factory.mktemp("workers") / "one.mp4")


def test_two_workers_write_the_one_process_output(clip, one_process, tmp_path):
    out = tmp_path / "two.mp4"
    result = CliRunner().invoke(app, ["generate", str(clip), str(clip), "-o", str(out), "--mode", "lips",
                                      "--workers", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"{N_FRAMES} frames" in result.output
    one, two = reperform.probe(one_process.output), reperform.probe(out)
    assert two.n_frames == one.n_frames == N_FRAMES
    assert two.duration_s == pytest.approx(one.duration_s, abs=1e-6)
    assert two.audio_duration_s == pytest.approx(one.audio_duration_s, abs=1e-6)
    # Before encoding the frames are the same (tests/e2e/test_chunked_render.py); encoded, a chunk
    # restarts x264's GOP and rate control, so frames after a join carry other encoder noise:
    # measured min 39.5 dB (the join frame: an IDR here, a B-frame in one piece), median 41.7.
    scores = np.array([psnr(a, b) for a, b in zip(iter_rgb(one_process.output), iter_rgb(out), strict=True)])
    assert scores.min() >= 38.0 and np.median(scores) >= 40.0, (scores.min(), np.median(scores))
    assert not list(tmp_path.glob(".two.mp4*"))  # the chunks' scratch folder is gone


def test_progress_is_the_sum_of_the_chunks(planned, tmp_path):
    analysis, plan = planned
    seen: list[float] = []
    files, edited, _ = chunked.render_chunks(analysis, plan, [(0, 200), (200, N_FRAMES)], tmp_path, 2,
                                            lambda f, _d: seen.append(f))
    assert len(files) == 2 and edited > 0.8 * N_FRAMES
    assert seen[-1] == pytest.approx(1.0) and max(seen) <= 1.0
    assert any(0.2 < f < 0.8 for f in seen)  # partial progress arrives while the chunks render
    assert reperform.join(analysis, plan, files, tmp_path / "joined.mp4") == N_FRAMES


def test_a_failing_chunk_fails_the_job_with_its_error(planned, tmp_path):
    analysis, plan = planned
    gone = dataclasses.replace(analysis, video=tmp_path / "deleted.mp4")
    with pytest.raises(AnalysisOutdated, match="deleted.mp4"):
        chunked.render_chunks(gone, plan, [(0, 210), (210, N_FRAMES)], tmp_path, 2, lambda f, d: None)
    assert not list(tmp_path.glob("chunk*.mp4"))
