"""Landmarks and identity embeddings measured on video files, independently of the engine.

MediaPipe's face *detection* (full-range model) finds the face in the whole frame; the face
*mesh* (refined, 478 points) then runs on a square crop around it, upscaled so that small faces
(a 90 px face in a 640x360 shot, a 210 px face in a 1080x1920 portrait) still fill the mesh's
input. Identity uses dlib's ResNet face descriptor (the model shipped in ``face_recognition_models``).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

log = logging.getLogger(__name__)

#: Crop side as a multiple of the detected face box: the mesh wants forehead-to-chin plus margin.
CROP_SCALE = 1.9
#: Side (px) the crop is resized to before the mesh runs; small faces are upscaled to this.
CROP_SIDE_PX = 384
#: Minimum detector confidence to accept a face.
MIN_DETECTION_CONFIDENCE = 0.5
#: Centrality weight when choosing among several faces (the engine edits the largest/most central).
CENTRE_WEIGHT = 0.5


@dataclass(frozen=True, slots=True)
class VideoFaces:
    """Per-frame landmarks of one video: ``landmarks`` float64[n, 478, 3] px, NaN where no face."""

    landmarks: np.ndarray
    fps: float
    width: int
    height: int

    @property
    def present(self) -> np.ndarray:
        return np.isfinite(self.landmarks[:, 0, 0])


def iter_rgb(path: Path) -> Iterator[np.ndarray]:
    """Every frame of a video as RGB uint8, in decode order (display rotation is not applied:
    the benchmark's own files carry none)."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in c.decode(stream):
            yield frame.to_ndarray(format="rgb24")


def frame_times(path: Path) -> np.ndarray:
    """Presentation time (s) of every video frame, from the packets alone (nothing decoded), sorted:
    their spacing says whether a clip has a variable frame rate."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        pts = [p.pts for p in c.demux(stream) if p.pts is not None and p.size]
    return np.sort(np.asarray(pts, np.float64) * float(stream.time_base))


def video_fps(path: Path) -> float:
    with av.open(str(path)) as c:
        return float(c.streams.video[0].average_rate)


class FaceMeasurer:
    """MediaPipe detection + refined mesh on an upscaled crop; one instance per video (not thread-safe)."""

    def __init__(self) -> None:
        import mediapipe as mp

        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=MIN_DETECTION_CONFIDENCE
        )
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.3
        )

    def close(self) -> None:
        self._detector.close()
        self._mesh.close()

    def __enter__(self) -> FaceMeasurer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _face_box(self, rgb: np.ndarray) -> tuple[float, float, float] | None:
        """Centre x, centre y and side (px) of the chosen face's crop, or None."""
        h, w = rgb.shape[:2]
        res = self._detector.process(rgb)
        if not res.detections:
            return None
        best, best_score = None, -np.inf
        for det in res.detections:
            b = det.location_data.relative_bounding_box
            cx, cy, side = (b.xmin + b.width / 2) * w, (b.ymin + b.height / 2) * h, max(b.width * w, b.height * h)
            off_centre = np.hypot(cx / w - 0.5, cy / h - 0.5)
            score = side / max(h, w) - CENTRE_WEIGHT * off_centre * side / max(h, w)
            if score > best_score:
                best, best_score = (cx, cy - 0.05 * side, side * CROP_SCALE), score
        return best

    def landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        """``float64[478, 3]`` px for the chosen face of one frame, or None."""
        box = self._face_box(rgb)
        if box is None:
            return None
        cx, cy, side = box
        scale = CROP_SIDE_PX / side
        # Affine crop (handles boxes reaching past the frame edge with a border fill).
        m = np.array([[scale, 0, CROP_SIDE_PX / 2 - cx * scale], [0, scale, CROP_SIDE_PX / 2 - cy * scale]])
        crop = cv2.warpAffine(rgb, m, (CROP_SIDE_PX, CROP_SIDE_PX), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        res = self._mesh.process(crop)
        if not res.multi_face_landmarks:
            return None
        pts = np.array([(p.x, p.y, p.z) for p in res.multi_face_landmarks[0].landmark], np.float64)
        pts *= CROP_SIDE_PX  # normalised crop coords → crop px (z shares x's scale)
        pts[:, 0] = (pts[:, 0] - m[0, 2]) / scale
        pts[:, 1] = (pts[:, 1] - m[1, 2]) / scale
        pts[:, 2] /= scale
        return pts


def measure_frames(frames: Iterable[np.ndarray]) -> np.ndarray:
    """Landmarks ``float64[n, 478, 3]`` px of each RGB frame (NaN where no face), one frame held at a time."""
    rows: list[np.ndarray] = []
    with FaceMeasurer() as fm:
        for rgb in frames:
            lm = fm.landmarks(rgb)
            rows.append(lm if lm is not None else np.full((478, 3), np.nan))
    return np.stack(rows) if rows else np.zeros((0, 478, 3))


def measure_video(path: Path, max_frames: int | None = None) -> VideoFaces:
    """Landmarks of every frame of ``path`` (or its first ``max_frames``)."""
    size: list[tuple[int, int]] = []

    def frames() -> Iterator[np.ndarray]:
        for rgb in itertools.islice(iter_rgb(path), max_frames):
            size[:] = [rgb.shape[:2]]
            yield rgb

    arr = measure_frames(frames())
    h, w = size[0] if size else (0, 0)
    log.debug("measured %s: %d frames, %d with a face", path.name, len(arr), int(np.isfinite(arr[:, 0, 0]).sum()))
    return VideoFaces(arr, video_fps(path), w, h)


class IdentityEmbedder:
    """dlib's 128-d face descriptor (LFW-trained ResNet) on a face located by our mesh.

    Same person ≈ distance < 0.6 by dlib's own convention; a re-encode alone gives ~0.02.
    """

    def __init__(self) -> None:
        import dlib
        import face_recognition_models as frm

        self._dlib = dlib
        self._shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self._net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

    def embed(self, rgb: np.ndarray, lm: np.ndarray) -> np.ndarray | None:
        """128-d descriptor of the face whose mesh is ``lm`` (px), or None without a face."""
        if not np.isfinite(lm[0, 0]):
            return None
        x0, x1 = float(np.min(lm[:, 0])), float(np.max(lm[:, 0]))
        # dlib's detector boxes run from the brows to the chin; the mesh top (forehead) is higher.
        y0, y1 = float(lm[105, 1]), float(lm[152, 1])
        rect = self._dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
        shape = self._shape(np.ascontiguousarray(rgb), rect)
        return np.asarray(self._net.compute_face_descriptor(np.ascontiguousarray(rgb), shape), np.float64)
