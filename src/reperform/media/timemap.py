"""sync_mode → TimeMap: which source frame is shown at each output frame, and the output length.

Output frames sit on a fixed grid at the source's average frame rate; variable-frame-rate input is
resampled by timestamp (each output time takes the latest source frame shown at that time).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..options import SyncMode
from ..records import TimeMap

#: Output length when the visual is a still image and the audio is silent/empty is the audio's;
#: never less than one frame.
MIN_FRAMES = 1


def _frames_at(times_s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Index of the source frame on screen at each time ``t`` (latest frame with time ≤ t)."""
    idx = np.searchsorted(times_s, t + 1e-6, side="right") - 1
    return np.clip(idx, 0, len(times_s) - 1).astype(np.int32)


def build_timemap(
    frame_times_s: np.ndarray, fps: Fraction, audio_duration_s: float, sync_mode: SyncMode, *, still: bool = False
) -> TimeMap:
    """Map output frames to source frames.

    ``frame_times_s`` are the source frame times from the analysis pass (first frame at 0).
    A still image (``still=True``) always lasts as long as the audio.
    """
    times = np.asarray(frame_times_s, dtype=np.float64)
    n_src = len(times)
    period = 1.0 / float(fps)
    video_s = (times[-1] + period) if n_src else 0.0
    if still:
        n_out = max(MIN_FRAMES, int(round(audio_duration_s * float(fps))))
        return TimeMap(fps=fps, n_out=n_out, src_frame=np.zeros(n_out, np.int32), audio_duration_s=audio_duration_s)

    mode = SyncMode(sync_mode)
    if mode is SyncMode.cut_off:
        out_s = min(video_s, audio_duration_s)
    elif mode is SyncMode.silence:
        out_s = max(video_s, audio_duration_s)
    else:  # loop, bounce, remap: the audio decides
        out_s = audio_duration_s
    n_out = max(MIN_FRAMES, int(round(out_s * float(fps))))
    t = np.arange(n_out, dtype=np.float64) * period

    if mode is SyncMode.remap:
        t_src = t * (video_s / out_s) if out_s > 0 else t
    elif mode is SyncMode.loop:
        t_src = np.mod(t, video_s)
    elif mode is SyncMode.bounce:
        if n_src < 2:
            t_src = np.zeros_like(t)
        else:
            # Forward then backward without repeating the turn-around frames.
            cycle = np.concatenate([np.arange(n_src), np.arange(n_src - 2, 0, -1)])
            src = cycle[np.arange(n_out) % len(cycle)].astype(np.int32)
            return TimeMap(fps=fps, n_out=n_out, src_frame=src, audio_duration_s=audio_duration_s)
    else:  # cut_off, silence (silence holds the last frame past the video's end)
        t_src = np.minimum(t, video_s - 1e-6)
    return TimeMap(fps=fps, n_out=n_out, src_frame=_frames_at(times, t_src), audio_duration_s=audio_duration_s)
