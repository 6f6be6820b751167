"""The done-when targets of issues 3, 5 and 14, as data the report checks every row against."""

from __future__ import annotations

import math

#: Cross-segment mouth-opening correlation, mean over clips (issue 3).
LIPSYNC_MEAN_R_MIN = 0.5
#: Issue 14: the same mean in every report group (frontal, turned/moving, small face, ...).
LIPSYNC_GROUP_R_MIN = 0.35
#: Issue 14's tear measure (benchmarks/tears.py), 99th percentile over a clip's frames, in
#: inter-ocular distances. Outline step: the synthetic tear (lower face moved 0.08 IOD sideways
#: and 0.04 down, pasted hard) reads 0.07–0.09 on most frames, a re-encode 0.002–0.035 at its
#: 99th percentile; the limit sits between.
TEAR_STEP_MAX_IOD = 0.05
#: Still points (cheek outline beside the ears; eyes in lips mode): a re-encode moves them by up
#: to ~0.025 IOD at the 99th percentile (about a pixel on a 50 px face).
TEAR_STILL_MAX_IOD = 0.04
#: Best AV lag in frames, on every clip.
AV_LAG_MAX_FRAMES = 1
#: Share of pause frames with the mouth at rest.
PAUSE_CLOSED_MIN = 0.90
#: Fewest pause frames a clip needs for its at-rest share to count towards the target.
PAUSE_MIN_FRAMES = 20
#: PSNR outside the face region (dB).
PSNR_OUTSIDE_MIN_DB = 40.0
#: Landmark jitter relative to the input (lip points) and to the do-nothing output (rigid points).
JITTER_RATIO_MAX = 1.2
#: 720p real-time factor and ratio to the decode+encode floor.
RTF_720P_MAX = 1.0
FLOOR_RATIO_720P_MAX = 2.0
#: Peak RSS for a 60 s 1080p input.
RSS_60S_1080P_MAX_BYTES = int(1.5 * 2**30)
#: Issue 5: face/lips modes keep the head where it was; head mode moves it a natural amount.
POSE_CHANGE_MAX_DEG = 0.5
HEAD_POSE_STD_RANGE_DEG = (1.5, 6.0)
#: Issue 5: face mode time relative to lips mode; head mode relative to the floor (720p).
FACE_VS_LIPS_TIME_MAX = 1.5
HEAD_FLOOR_RATIO_720P_MAX = 2.0

#: Issue 5's expected signature per emotion: (measure, direction) pairs from expression_signature.
EMOTION_SIGNATURES: dict[str, tuple[tuple[str, int], ...]] = {
    "happy": (("lip_corner_height", +1), ("cheek_height", +1)),
    "sad": (("inner_brow_height", +1), ("lip_corner_height", -1)),
    "angry": (("brow_height", -1), ("brow_gap", -1)),
    "surprised": (("brow_height", +1), ("eye_opening", +1), ("jaw", +1)),
    "disgusted": (("nose_lip", -1),),
    "neutral": (),  # judged as "towards the person's neutral", reported without a sign check
}


def verdict(ok: bool | None) -> str:
    """A table cell for a check: pass, FAIL, or a dash when it could not be measured."""
    if ok is None:
        return "—"
    return "pass" if ok else "**FAIL**"


def finite(x: float) -> bool:
    return x is not None and math.isfinite(x)
