"""A long job rendered in chunks (issue 18): each chunk is ``render(..., frames=range)`` into a
video-only MP4 with its own closed GOP, and ``join`` lays them end to end with the sound muxed once.

The chunked output must be the one-piece output: the same frame count and A/V duration, every
frame within encoder noise of it (PSNR ≥ 40 dB; before encoding the frames are identical, since
a chunk's renderer replays the geometry of the frames before it), and no step in mouth opening
at a join that would stand out among the frame-to-frame steps elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.joins import join_steps, psnr
from benchmarks.measure import iter_rgb, measure_video
from benchmarks.metrics import mouth_opening

import reperform
from reperform import media, rendering
from reperform.chunking import plan_chunks
from reperform.errors import EngineError, InvalidOptions

pytestmark = [pytest.mark.e2e, pytest.mark.media]

HAPPY = reperform.Options(mode="face", emotion="happy")


@pytest.fixture(scope="module")
def job(tmp_path_factory, media_dir):
    """videoretalking_4 (6.6 s, 199 frames at 30 fps) driven by its own speech, face mode."""
    video = media_dir / "videos" / "videoretalking_4.mp4"
    analysis = reperform.analyze(video, video)
    analysis.release_frames()
    return analysis, reperform.plan(analysis, HAPPY), tmp_path_factory.mktemp("chunks")


def _renderer(analysis, plan):
    return rendering.Renderer(analysis.track, analysis.bank, plan.motion, analysis.profile, plan.options)


def test_a_chunk_renders_exactly_the_frames_of_the_whole_render(job):
    analysis, plan, _ = job
    starts = (70, 133)  # mid-speech: the mouth is moving and its contour is carried over
    source = media.FrameSource(analysis.info, analysis.frame_times_s, backward=False)
    try:
        whole = _renderer(analysis, plan)
        want = {}
        for k in range(max(starts) + 3):
            out, _ = whole.render(k, source.get(int(plan.timemap.src_frame[k])))
            if any(b <= k < b + 3 for b in starts):
                want[k] = out.copy()
        for b in starts:
            chunk, cold = _renderer(analysis, plan), _renderer(analysis, plan)
            chunk.warm_up(b)
            for k in range(b, b + 3):
                rgb = source.get(int(plan.timemap.src_frame[k]))
                assert np.array_equal(chunk.render(k, rgb)[0], want[k]), (b, k)
            # Without the warm-up the chunk's first frame would not be the whole render's.
            assert not np.array_equal(cold.render(b, source.get(int(plan.timemap.src_frame[b])))[0], want[b])
    finally:
        source.close()


def test_chunks_joined_are_the_one_piece_output(job):
    analysis, plan, work = job
    whole = reperform.render(analysis, plan, work / "whole.mp4")
    spans = plan_chunks(plan.n_out, 3, quiet=~plan.motion.speaking)
    assert len(spans) == 3
    chunks = []
    for i, (a, b) in enumerate(spans):
        got = reperform.render(analysis, plan, work / f"chunk{i}.mp4", frames=range(a, b))
        assert got.n_frames == b - a and not reperform.probe(got.output).has_audio
        chunks.append(got.output)
    assert reperform.join(analysis, plan, chunks, work / "joined.mp4") == whole.n_frames == plan.n_out

    one, joined = reperform.probe(work / "whole.mp4"), reperform.probe(work / "joined.mp4")
    assert joined.n_frames == one.n_frames == plan.n_out
    assert joined.duration_s == pytest.approx(one.duration_s, abs=1e-6)
    assert joined.audio_duration_s == pytest.approx(one.audio_duration_s, abs=1e-6)
    assert np.array_equal(media.load_audio_for_output(work / "joined.mp4"),
                          media.load_audio_for_output(work / "whole.mp4"))
    worst = min(psnr(a, b) for a, b in zip(iter_rgb(work / "whole.mp4"), iter_rgb(work / "joined.mp4"), strict=True))
    assert worst >= 40.0

    opening = mouth_opening(measure_video(work / "joined.mp4").landmarks)
    at_joins, p99 = join_steps(opening, [a for a, _ in spans[1:]])
    assert len(at_joins) == 2 and np.all(at_joins <= p99), (at_joins, p99)


def test_chunks_that_do_not_tile_the_plan_are_refused(job):
    analysis, plan, work = job
    part = reperform.render(analysis, plan, work / "part.mp4", frames=range(0, 20))
    with pytest.raises(EngineError, match="20 frames"):
        reperform.join(analysis, plan, [part.output], work / "short.mp4")
    assert not (work / "short.mp4").exists()
    with pytest.raises(InvalidOptions):
        reperform.render(analysis, plan, work / "bad.mp4", frames=range(10, plan.n_out + 1))
