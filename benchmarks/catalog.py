"""The dev clips the cross-segment benchmark uses: who speaks, in what language, how many
source/target windows each yields, and which report groups each falls in.

Groups (issue 14) are decided by rules on facts *measured* on each clip (face size, head turn,
frame timing; :func:`groups_of`) plus its language from ``../shared/media/README.md``; the report
prints the facts beside the groups, so a reader can check every assignment. A group no clip falls
in is reported as empty, not dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """One dev clip with speech."""

    stem: str
    speaker: str  # one id per person: leave-one-speaker-out folds hold out all of a speaker's clips
    language: str  # "en" or a language name (media README)
    pairs: int  # disjoint (source, target) window pairs cut from the clip (1 = the two halves)
    train: bool  # training footage for fitted motion models (one visible speaker talking; as mouth_model)


#: Every clip with speech. The long ones give several disjoint window pairs (issue 14: ~12 s per
#: window on the 71 s clip, 5 s on the 20 s one); the short ones their two halves.
CLIPS: tuple[ClipInfo, ...] = (
    ClipInfo("videoretalking_2", "vr2_man", "en", 1, True),
    ClipInfo("videoretalking_4", "vr4_woman", "en", 1, True),
    ClipInfo("pcavs_00373", "pcavs_woman", "en", 1, True),
    ClipInfo("latentsync_demo1_video", "latentsync_woman", "non-English (Mandarin)", 1, True),
    # Several faces, shot changes and a microphone at the mouth: no clean training footage.
    ClipInfo("facerecognition_short_hamilton_clip", "hamilton_performer", "en", 1, False),
    ClipInfo("dfrf_cnn2_25fps", "cnn_anchor", "en", 3, True),
    ClipInfo("mimictalk_German_20s", "german_anchor", "German", 2, True),
)
BY_STEM = {c.stem: c for c in CLIPS}

#: Report groups, in report order.
GROUPS = ("frontal close-up", "turned or moving head", "small face", "non-English", "VFR")
#: A face smaller than this (median inter-ocular distance, px) is a "small face": the mouth is a
#: few dozen pixels wide, where tracking noise and blur dominate.
SMALL_FACE_IOD_PX = 60.0
#: A head is "turned or moving" when its median |yaw| exceeds this (a ¾ view) ...
TURNED_YAW_DEG = 15.0
#: ... or its pose moves with a standard deviation above this (mean over yaw/pitch/roll).
MOVING_POSE_STD_DEG = 6.0
#: Variable frame rate: frame intervals whose coefficient of variation exceeds this.
VFR_CV = 0.01


@dataclass(frozen=True, slots=True)
class ClipFacts:
    """What the benchmark's measurer reads on a whole clip (the groups are decided from these)."""

    iod_px: float  # median inter-ocular distance over frames with a face
    abs_yaw_deg: float  # median |yaw|
    pose_std_deg: float  # mean over yaw/pitch/roll of the pose's standard deviation
    face_share: float  # share of frames with a face
    interval_cv: float  # coefficient of variation of the frame intervals (VFR when > VFR_CV)


def facts(landmarks: np.ndarray, frame_times_s: np.ndarray) -> ClipFacts:
    """:class:`ClipFacts` from a clip's measured meshes ``[n, 478, 3]`` and its frame times."""
    from benchmarks import metrics as M

    present = np.isfinite(landmarks[:, 0, 0])
    lm = landmarks[present]
    iod = float(np.median(M.inter_ocular(lm))) if len(lm) else math.nan
    pose = M.head_pose_deg(lm) if len(lm) else np.full((0, 3), np.nan)
    yaw = float(np.median(np.abs(pose[:, 0]))) if len(pose) else math.nan
    std = float(np.mean(np.std(pose, axis=0))) if len(pose) > 1 else math.nan
    dt = np.diff(np.asarray(frame_times_s, np.float64))
    cv = float(np.std(dt) / np.mean(dt)) if len(dt) > 1 and np.mean(dt) > 0 else 0.0
    return ClipFacts(iod, yaw, std, float(present.mean()) if len(present) else 0.0, cv)


def groups_of(info: ClipInfo, f: ClipFacts) -> tuple[str, ...]:
    """The report groups a clip falls in (a clip may be in several)."""
    turned = f.abs_yaw_deg > TURNED_YAW_DEG or f.pose_std_deg > MOVING_POSE_STD_DEG
    small = f.iod_px < SMALL_FACE_IOD_PX
    out = []
    if not turned and not small:
        out.append("frontal close-up")
    if turned:
        out.append("turned or moving head")
    if small:
        out.append("small face")
    if info.language != "en":
        out.append("non-English")
    if f.interval_cv > VFR_CV:
        out.append("VFR")
    return tuple(out)
