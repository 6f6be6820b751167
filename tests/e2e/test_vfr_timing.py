"""Variable frame rate on real footage: the mouth is on time for each frame's real timestamp.

A 12 s cut of a real news clip and a VFR copy of it (30 % of the frames dropped in irregular runs,
every kept frame at its true time, as a phone under load records) are re-performed to the cut's own
speech. The person's real mouth, read at each output frame's own time, is the truth for both. An
engine that took VFR frames as evenly spaced — when it learns this speaker from the source and its
sound, or when it chooses which source frame an output frame shows — would drift against that truth:
its best lag would move and its correlation fall, as the negative control below shows.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from benchmarks.clips import write_wav
from benchmarks.measure import frame_times, measure_video
from benchmarks.vfr import make_vfr, truth_at

import reperform
from benchmarks import metrics
from reperform import media

pytestmark = pytest.mark.e2e

CLIP = "dfrf_cnn2_25fps"
FRAMES = 300  # 12 s at 25 fps


@pytest.fixture(scope="module")
def cut(tmp_path_factory, media_dir) -> dict[str, Path]:
    """The constant-rate cut with its sound, its VFR copy and the cut's sound as a WAV."""
    work = tmp_path_factory.mktemp("vfr")
    src = media_dir / "videos" / f"{CLIP}.mp4"
    info = media.probe(src)
    sound = media.load_audio_for_output(src)
    n_audio = int(round(FRAMES / float(info.fps) * media.audio.OUTPUT_RATE))
    cfr = work / "cfr.mp4"
    writer = None
    for index, _t, rgb in media.iter_frames(info):
        if index >= FRAMES:
            break
        if writer is None:
            writer = media.Mp4Writer(cfr, rgb.shape[1], rgb.shape[0], info.fps, sound[:, :n_audio], FRAMES)
        writer.write(rgb)
    writer.close()
    vfr, kept, total = make_vfr(cfr, work / "vfr.mp4")
    assert total == FRAMES and 0.6 * FRAMES < kept < 0.8 * FRAMES
    own = media.load_audio(cfr, rate=48000)
    return {"cfr": cfr, "vfr": vfr, "wav": write_wav(work / "own.wav", own.samples, own.rate), "work": work}


@pytest.fixture(scope="module")
def truth(cut) -> np.ndarray:
    """The person's real mouth opening in each frame of the constant-rate cut (25 fps)."""
    return metrics.mouth_opening(measure_video(cut["cfr"]).landmarks)


def _reperformed(cut, kind: str) -> tuple[np.ndarray, np.ndarray]:
    out = cut["work"] / f"{kind}_out.mp4"
    if not out.exists():
        reperform.generate(cut[kind], cut["wav"], out)
    return metrics.mouth_opening(measure_video(out).landmarks), frame_times(out)


def test_the_vfr_copy_really_has_irregular_frame_times(cut):
    gaps = np.diff(frame_times(cut["vfr"]))
    assert gaps.max() >= 2.5 * gaps.min()  # runs of dropped frames: 40, 80, 120 ms gaps
    # Its average rate is what the output is written at: fewer frames over the same 12 s.
    assert float(media.probe(cut["vfr"]).fps) == pytest.approx((len(gaps) + 1) / (FRAMES / 25.0), rel=0.05)


def test_the_mouth_is_on_time_on_variable_frame_rate_input(cut, truth):
    fps = 25.0
    results = {}
    for kind in ("cfr", "vfr"):
        opening, times = _reperformed(cut, kind)
        results[kind] = metrics.best_lag(opening, truth_at(truth, fps, times), max_lag=6)
    (lag_c, r_c), (lag_v, r_v) = results["cfr"], results["vfr"]
    # On time: the best match is at the real time (within one output frame), as on the constant-rate cut.
    assert abs(lag_v) <= 1 and abs(lag_c) <= 1, results
    # And as good: re-performing the person's own speech follows their real mouth as on constant rate.
    assert r_c > 0.4, results
    assert r_v > r_c - 0.1, results


def test_reading_vfr_frames_as_evenly_spaced_would_be_caught(cut, truth):
    """Negative control for the test above: the VFR output's own frames, scored as if the source's
    kept frames had been evenly spaced (the error this guards against), drift off the truth."""
    opening, times = _reperformed(cut, "vfr")
    kept_times = frame_times(cut["vfr"])
    # Where an evenly-spacing engine would have put each source frame: index / average rate.
    even = np.arange(len(kept_times)) / float(Fraction(media.probe(cut["vfr"]).fps))
    # The output's frame k shows what that engine would have shown at time ``times[k]``:
    # the source frame whose evenly-spaced time is latest ≤ t, really filmed at kept_times[i].
    shown = np.clip(np.searchsorted(even, times + 1e-6, side="right") - 1, 0, len(kept_times) - 1)
    wrong = truth_at(truth, 25.0, kept_times[shown])
    _, r_right = metrics.best_lag(opening, truth_at(truth, 25.0, times), max_lag=6)
    r_wrong_at_0 = metrics.pearson(opening, wrong)
    assert r_wrong_at_0 < r_right - 0.15, (r_wrong_at_0, r_right)
