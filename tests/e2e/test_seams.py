"""generate = analyze → plan → render, through the public API on a real clip (issue 16).

The seams must change nothing: the three calls write the very bytes ``generate`` writes, an
analysis saved and loaded plans exactly as the original, and a second emotion planned on a loaded
analysis renders what a fresh ``generate`` of that emotion renders — without analysing again.
videoretalking_4 is used: a clip with speech of its own exercises every stage. (pcavs_00373's
MP4 used to vary between runs from identical frames, through x264's AVX-512 kernels; see
tests/e2e/test_determinism.py.)
"""

from __future__ import annotations

import dataclasses
import wave

import numpy as np
import pytest

import reperform
from reperform.errors import AnalysisOutdated, InvalidOptions
from reperform.progress import RecordingSink

pytestmark = [pytest.mark.e2e, pytest.mark.media]

LIPS = reperform.Options(mode="lips")
HAPPY = reperform.Options(mode="face", emotion="happy")
SAD_HEAD = reperform.Options(mode="head", emotion="sad", sync_mode="loop")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, media_dir):
    """videoretalking_4 and the first 2.5 s of a different speaker's voice (a short render)."""
    work = tmp_path_factory.mktemp("seams")
    with wave.open(str(media_dir / "audio" / "sadtalker_RD_Radio36_000.wav")) as w:
        params, frames = w.getparams(), w.readframes(int(2.5 * w.getframerate()))
    audio = work / "voice.wav"
    with wave.open(str(audio), "wb") as out:
        out.setparams(params)
        out.writeframes(frames)
    return media_dir / "videos" / "videoretalking_4.mp4", audio, work


@pytest.fixture(scope="module")
def analysis(inputs):
    video, audio, _ = inputs
    sink = RecordingSink()
    a = reperform.analyze(video, audio, progress=sink)
    fractions = [f for _s, f, _d in sink.events]
    assert fractions == sorted(fractions) and sink.events[-1][:2] == ("done", 1.0)
    return a


def test_analyze_plan_render_write_the_bytes_generate_writes(inputs, analysis):
    video, audio, work = inputs
    generated = reperform.generate(video, audio, work / "generate.mp4", LIPS)
    plan = reperform.plan(analysis, LIPS)
    rendered = reperform.render(analysis, plan, work / "seams.mp4")
    assert (work / "seams.mp4").read_bytes() == (work / "generate.mp4").read_bytes()
    assert rendered.n_frames == generated.n_frames == plan.n_out
    assert rendered.frames_edited == generated.frames_edited > 0
    assert set(generated.timings_s) >= {"probe", "analyze", "speech", "plan", "render", "total"}
    assert analysis.frame_store is None  # the first render used and emptied it


def test_a_saved_analysis_plans_exactly_as_the_original(inputs, analysis):
    _video, _audio, work = inputs
    loaded = reperform.Analysis.load(analysis.save(work / "saved"))
    for options in (LIPS, HAPPY, SAD_HEAD):
        a, b = reperform.plan(analysis, options), reperform.plan(loaded, options)
        assert a.mode == b.mode == options.mode
        assert np.array_equal(a.timemap.src_frame, b.timemap.src_frame) and a.n_out == b.n_out
        for f in dataclasses.fields(a.motion):
            assert np.array_equal(getattr(a.motion, f.name), getattr(b.motion, f.name)), (options, f.name)


def test_another_emotion_on_a_loaded_analysis_renders_what_generate_renders(inputs, analysis):
    video, audio, work = inputs
    loaded = reperform.Analysis.load(analysis.save(work / "saved2"))
    happy = reperform.plan(loaded, HAPPY)
    assert happy.motion.au.any() and not reperform.plan(loaded, LIPS).motion.au.any()
    reperform.render(loaded, happy, work / "happy_from_saved.mp4")
    reperform.generate(video, audio, work / "happy.mp4", HAPPY)
    assert (work / "happy_from_saved.mp4").read_bytes() == (work / "happy.mp4").read_bytes()


def test_a_plan_must_use_the_transcript_the_analysis_was_made_with(analysis):
    with pytest.raises(InvalidOptions, match="transcript"):
        reperform.plan(analysis, reperform.Options(text="something else entirely"))


def test_render_refuses_an_analysis_whose_inputs_changed(inputs, analysis):
    _video, _audio, work = inputs
    stale = dataclasses.replace(analysis, fingerprints={**analysis.fingerprints, "audio": "0" * 32},
                                frame_store=None)
    with pytest.raises(AnalysisOutdated, match="changed"):
        reperform.render(stale, reperform.plan(stale, LIPS), work / "never.mp4")
    assert not (work / "never.mp4").exists()
