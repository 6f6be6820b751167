"""The planner on a real clip: the planned mouth must follow the real mouth of the same speech.

The cross-segment experiment of issue 3, on the plan alone, through the engine's seams: the first
half of ``videoretalking_4`` (its pictures and the sound under them, as a user's video) is
analysed with the second half's audio as the driving speech; ``reperform.plan`` plans it, and the
planned opening is correlated with the mouth really filmed during the second half. Measured
0.69 through the seams (the first half re-encoded, as the rendered benchmark does; 0.58–0.65
planning from the raw frames' track while tuning); the threshold leaves room for alignment noise
across versions; do-nothing ≈ 0.
"""

from __future__ import annotations

import wave

import numpy as np
import pytest

import reperform
from reperform import face, media
from reperform.media.audio import OUTPUT_RATE

MIN_CROSS_SEGMENT_R = 0.45


def _halves(clip, work):
    """(first half with its own sound as an MP4, the audio under the second half as a WAV, half)."""
    info = media.probe(clip)
    frames = [rgb for _i, _t, rgb in media.iter_frames(info)]
    half = len(frames) // 2
    cut_s = info.video_start_s + half / float(info.fps)
    sound = media.load_audio_for_output(clip)
    first = work / "first_half.mp4"
    with media.Mp4Writer(first, info.width, info.height, info.fps, sound[:, : int(round(cut_s * OUTPUT_RATE))],
                         half) as w:
        for rgb in frames[:half]:
            w.write(rgb)
    audio = media.load_audio(clip)
    pcm = (np.clip(audio.samples[int(round(cut_s * audio.rate)):], -1, 1) * 32767).astype("<i2")
    second = work / "second_half.wav"
    with wave.open(str(second), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(audio.rate)
        out.writeframes(pcm.tobytes())
    return first, second, frames, half


@pytest.mark.media
def test_planned_opening_correlates_with_the_real_mouth_of_unseen_speech(media_dir, tmp_path):
    clip = media_dir / "videos" / "videoretalking_4.mp4"
    first, second, frames, half = _halves(clip, tmp_path)
    analysis = reperform.analyze(first, second)
    assert analysis.speech.method == "aligned" and analysis.source_speech is not None
    plan = reperform.plan(analysis)

    # The truth: the engine's tracker on the real second half (as filmed, not re-encoded).
    tracker = face.FaceTracker(frames[0].shape[1], frames[0].shape[0])
    for index, rgb in enumerate(frames):
        tracker.update(index, rgb)
    track = tracker.finish()
    n = min(plan.n_out, track.n - half)
    real, ok = track.mouth[half:half + n, 0], track.present[half:half + n]
    r = float(np.corrcoef(plan.motion.mouth[:n][ok, 0], real[ok])[0, 1])
    assert r >= MIN_CROSS_SEGMENT_R, f"cross-segment correlation {r:.3f}"
    assert plan.motion.closure.any(), "the second half says 'bank' and 'money': lips must seal"
