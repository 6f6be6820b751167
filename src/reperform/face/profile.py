"""FaceProfile: this person's rest mouth, mouth range and head-pose statistics, from the source."""

from __future__ import annotations

import numpy as np

from ..records import FaceProfile, FaceTrack, SpeechTimeline

#: Percentiles bounding "this person's range" (robust to a few mis-tracked frames).
RANGE_PERCENTILES = (5.0, 95.0)
#: Rest opening and jaw are never above this percentile of the person's own frames.
REST_CAP_PERCENTILE = 20.0
#: A frame whose opening is within this share of the range above the minimum counts as "at rest".
REST_BAND = 0.15


def build_profile(
    track: FaceTrack, source_speech: SpeechTimeline | None, frame_times_s: np.ndarray, *, source_offset_s: float = 0.0
) -> FaceProfile:
    """Measure the person. Rest = median mouth over frames in the source's pauses when the source
    has analysed speech, else over the most closed frames (people rest with lips together).

    ``source_offset_s``: where the first video frame sits on the source's audio clock (a video
    stream may start after its audio), so pauses are matched to the right frames.
    """
    m = track.mouth[track.present]
    lo, hi = np.percentile(m, RANGE_PERCENTILES, axis=0).astype(np.float32)
    rest_rows = None
    if source_speech is not None and source_speech.pauses:
        times = np.asarray(frame_times_s)[track.present] + source_offset_s
        in_pause = np.zeros(len(times), bool)
        for a, b in source_speech.pauses:
            in_pause |= (times >= a + 0.1) & (times <= b - 0.1)
        if in_pause.sum() >= 5:
            rest_rows = m[in_pause]
    if rest_rows is None:
        closed = m[:, 0] <= lo[0] + REST_BAND * max(hi[0] - lo[0], 1e-6)
        rest_rows = m[closed] if closed.any() else m
    neutral = np.median(rest_rows, axis=0).astype(np.float32)
    # Pauses in real speech hold breaths and half-finished words; the *rest* mouth is the closed end
    # of the person's range, so opening and jaw drop are capped at their REST_CAP_PERCENTILE.
    cap = np.percentile(m, REST_CAP_PERCENTILE, axis=0)
    for col in (0, 3):  # open, jaw
        neutral[col] = min(neutral[col], cap[col])
    speaking = float(np.mean(m[:, 0] > neutral[0] + 0.25 * max(hi[0] - lo[0], 1e-6)))
    pose = track.pose[track.present]
    return FaceProfile(
        neutral_mouth=neutral, mouth_min=lo, mouth_max=hi,
        pose_mean_deg=pose.mean(axis=0).astype(np.float32), pose_std_deg=pose.std(axis=0).astype(np.float32),
        speaking_fraction=speaking,
    )
