"""Head pose deltas from prosody (head mode only; lips and face modes keep the source's pose)."""

from __future__ import annotations

import numpy as np


def no_head_motion(n_frames: int) -> np.ndarray:
    """Pose unchanged: float32[n_frames, 3] (yaw, pitch, roll degrees) zeros."""
    return np.zeros((n_frames, 3), np.float32)
