"""Helpers for render tests: real frames with MediaPipe landmarks, hand-built tracks and plans.

The render stage never imports the face stage, and its tests do not either: landmarks come
straight from MediaPipe's face mesh here, which is what the face stage wraps.
"""

from __future__ import annotations

from pathlib import Path

import mediapipe as mp
import numpy as np
import pytest

from reperform import landmarks as L
from reperform import media, rendering
from reperform.records import FaceTrack, MotionPlan


class Mesh:
    """MediaPipe face mesh returning ``float32[478, 3]`` pixel landmarks (or None)."""

    def __init__(self, static: bool) -> None:
        self._fm = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.5
        )

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        r = self._fm.process(rgb)
        if not r.multi_face_landmarks:
            return None
        h, w = rgb.shape[:2]
        return np.array([[p.x * w, p.y * h, p.z * w] for p in r.multi_face_landmarks[0].landmark], np.float32)

    def close(self) -> None:
        self._fm.close()


def measure_mouth(frames: list[np.ndarray]) -> np.ndarray:
    """MOUTH_PARAMS of each frame as MediaPipe sees it (NaN rows where no face is found)."""
    mesh = Mesh(static=True)
    try:
        out = []
        for f in frames:
            lm = mesh(f)
            out.append(L.mouth_params(lm) if lm is not None else np.full(4, np.nan, np.float32))
        return np.array(out)
    finally:
        mesh.close()


def make_track(lms: list[np.ndarray | None], width: int, height: int) -> FaceTrack:
    """A FaceTrack from per-frame landmarks (None = no face), unsmoothed."""
    n = len(lms)
    present = np.array([lm is not None for lm in lms])
    arr = np.zeros((n, 478, 3), np.float32)
    for i, lm in enumerate(lms):
        if lm is not None:
            arr[i] = lm
    mouth = np.zeros((n, 4), np.float32)
    scale = np.zeros(n, np.float32)
    if present.any():
        mouth[present] = L.mouth_params(arr[present])
        scale[present] = L.interocular(arr[present])
    return FaceTrack(present=present, landmarks=arr, bbox=np.zeros((n, 4), np.float32),
                     pose=np.zeros((n, 3), np.float32), scale=scale, mouth=mouth, width=width, height=height)


def make_plan(src: np.ndarray, mouth: np.ndarray, closure: np.ndarray | None = None) -> MotionPlan:
    n = len(src)
    return MotionPlan(
        src_frame=np.asarray(src, np.int32), mouth=np.asarray(mouth, np.float32),
        closure=np.zeros(n, bool) if closure is None else np.asarray(closure, bool),
        speaking=np.ones(n, bool), viseme=np.zeros(n, np.int8), au=np.zeros((n, 0), np.float32),
        blink=np.zeros(n, np.float32), head_delta=np.zeros((n, 3), np.float32),
    )


class Clip:
    """First frames of a real clip with landmarks, and a bank filled from them."""

    def __init__(self, path: Path, max_frames: int) -> None:
        info = media.probe(path)
        mesh = Mesh(static=info.kind == "image")
        self.frames: list[np.ndarray] = []
        lms: list[np.ndarray | None] = []
        try:
            for i, _t, rgb in media.iter_frames(info):
                if i >= max_frames:
                    break
                self.frames.append(rgb)
                lms.append(mesh(rgb))
        finally:
            mesh.close()
        self.raw = lms
        self.track = make_track(lms, info.width, info.height)
        self.bank = rendering.MouthBank()
        for i, lm in enumerate(lms):
            if lm is not None:
                self.bank.offer(i, self.frames[i], lm)


_CLIPS: dict[tuple[str, int], Clip] = {}


@pytest.fixture(scope="session")
def clip_loader(media_dir: Path):
    """Load (and cache for the session) the first ``n`` frames of a shared clip or image."""

    def load(rel: str, n: int) -> Clip:
        key = (rel, n)
        if key not in _CLIPS:
            _CLIPS[key] = Clip(media_dir / rel, n)
        return _CLIPS[key]

    return load
