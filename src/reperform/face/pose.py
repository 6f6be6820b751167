"""Head pose (yaw, pitch, roll in degrees) from the 3-D face mesh.

MediaPipe ships no canonical face model offline, so pose is measured against the clip's own
median face shape with a rigid 3-D Procrustes fit on points that do not move in speech; the median
is taken as frontal. That is exact for *changes* of pose — what head mode and the pose-stability
checks need — and approximate for the absolute angle.
"""

from __future__ import annotations

import numpy as np

from ..landmarks import STABLE, interocular


def _normalise(lm: np.ndarray) -> np.ndarray:
    pts = lm[..., STABLE, :].astype(np.float64)
    pts = pts - pts.mean(axis=-2, keepdims=True)
    return pts / interocular(lm)[..., None, None]


def _euler(r: np.ndarray) -> np.ndarray:
    """Rotation matrix (image axes: x right, y down, z away) → yaw, pitch, roll degrees."""
    yaw = np.degrees(np.arcsin(np.clip(-r[2, 0], -1, 1)))
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return np.array([yaw, pitch, roll], np.float32)


def head_pose(lms: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Pose of each of ``lms[n, 478, 3]`` relative to ``reference`` (default: their median shape)."""
    pts = _normalise(lms)
    ref = np.median(pts, axis=0) if reference is None else _normalise(reference[None])[0]
    out = np.zeros((len(pts), 3), np.float32)
    for i, p in enumerate(pts):
        u, _s, vt = np.linalg.svd(p.T @ ref)
        d = np.sign(np.linalg.det(u @ vt))
        r = u @ np.diag([1.0, 1.0, d]) @ vt  # rotation taking ref → p
        out[i] = _euler(r)
    return out
