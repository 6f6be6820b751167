"""``reperform.render_frames``: chosen output frames, in memory, are the frames ``reperform.render``
hands to its encoder — the same per-frame stages, the renderer's carried mouth contour replayed
before a frame that does not follow the last one."""

from __future__ import annotations

import numpy as np
import pytest

import reperform
from reperform import media
from reperform.errors import InvalidOptions
from tests.conftest import speech_excerpt

pytestmark = pytest.mark.media


@pytest.fixture(scope="module")
def head_run(media_dir, tmp_path_factory):
    """pcavs_00373 (224 px, fast) driven by 2 s of real speech in head mode (renderer, expression
    and head warp all run), rendered whole with every frame given to the encoder kept."""
    work = tmp_path_factory.mktemp("render_frames")
    audio = speech_excerpt(media_dir / "audio" / "pcavs_681600002.wav", work / "speech.wav", 2.0)
    analysis = reperform.analyze(media_dir / "videos" / "pcavs_00373.mp4", audio)
    plan = reperform.plan(analysis, reperform.Options(mode="head", emotion="happy"))
    written: list[np.ndarray] = []
    real_write = media.Mp4Writer.write
    mp = pytest.MonkeyPatch()
    mp.setattr(media.Mp4Writer, "write", lambda self, rgb: (written.append(rgb.copy()), real_write(self, rgb))[1])
    try:
        reperform.render(analysis, plan, work / "whole.mp4")
    finally:
        mp.undo()
    assert len(written) == plan.n_out
    return analysis, plan, written


def test_the_frames_are_the_ones_render_encodes(head_run):
    analysis, plan, written = head_run
    got = list(reperform.render_frames(analysis, plan, range(plan.n_out)))
    assert len(got) == plan.n_out
    for k, frame in enumerate(got):
        assert np.array_equal(frame, written[k]), f"frame {k}"
    # And they are edits, not the source passed through: the head turned, the mouth re-performed.
    source = media.FrameSource(analysis.info, analysis.frame_times_s)
    try:
        assert all(not np.array_equal(got[k], source.get(int(plan.timemap.src_frame[k]))) for k in (3, 17, 30))
    finally:
        source.close()


def test_a_frame_that_does_not_follow_the_last_is_the_one_in_sequence(head_run):
    """The renderer's carried mouth contour is replayed before a jump (lips mode: face and head
    mode also decide glasses from the first frames a warp draws, see ``render_frames``)."""
    analysis, _, _ = head_run
    plan = reperform.plan(analysis, reperform.Options(mode="lips"))
    in_order = list(reperform.render_frames(analysis, plan, range(plan.n_out)))
    ks = [3, 4, 17, 30, plan.n_out - 1]
    for k, frame in zip(ks, reperform.render_frames(analysis, plan, ks), strict=True):
        assert np.array_equal(frame, in_order[k]), f"frame {k}"


def test_frames_out_of_order_or_range_are_refused(head_run):
    analysis, plan, _ = head_run
    with pytest.raises(InvalidOptions):
        reperform.render_frames(analysis, plan, [5, 4])
    with pytest.raises(InvalidOptions):
        reperform.render_frames(analysis, plan, [plan.n_out])
