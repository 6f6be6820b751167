"""A second, independent mouth measurer: dlib's face detector and 68-point shape model.

The engine tracks faces with MediaPipe's mesh and the benchmark's main measurer
(:mod:`benchmarks.measure`) is MediaPipe too, so a mouth the renderer shaped to please that mesh
would be graded by the model it was fitted to. The independent judge of issue 14 read mouth opening
with dlib's 68 points instead — a different detector (HOG), a different landmark model (a
regression-tree ensemble trained on iBUG 300-W), different failure modes on turned heads and small
faces. This module measures the same quantity that way (both models ship in
``face_recognition_models``; nothing is downloaded), so the benchmark can report what a judge of
that kind would read beside its own number.

Opening = mean of the three inner-lip gaps (points 61–67, 62–66, 63–65, 0-based) divided by the
distance between the two eyes' centres (points 36–41 and 42–47): the same definition as
:func:`benchmarks.metrics.mouth_opening`, on another model's points. A frame where dlib finds no
face is NaN (left out of r, as MediaPipe's misses are).

Detection runs on the whole frame when there is no face yet, else on a crop around the last box
(twice its size), which is ~10× cheaper and keeps the same person; faces smaller than the HOG
window (~80 px) are found by upsampling the crop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from benchmarks.measure import iter_rgb

log = logging.getLogger(__name__)

#: Inner-lip pairs (upper, lower) of the 68-point model (0-based).
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
RIGHT_EYE = range(36, 42)
LEFT_EYE = range(42, 48)
#: Search crop around the previous face box, as a multiple of its side.
SEARCH_SCALE = 2.0
#: The HOG detector's window is 80 px: crops whose face box is smaller are upsampled to reach it,
#: larger ones are shrunk to about this size before detecting (the cost grows with the pixels; the
#: 68 points are then fitted on the full-resolution frame).
MIN_FACE_PX = 100.0
DETECT_FACE_PX = 140.0
#: Largest image side (px) that is searched again one octave up when nothing was found.
RETRY_MAX_SIDE_PX = 1000
#: Frames without a detection before the search falls back to the whole frame.
LOST_AFTER = 3


@dataclass(frozen=True, slots=True)
class DlibMouth:
    """Per-frame mouth opening (inter-ocular units, NaN where dlib found no face) and the 68 points."""

    opening: np.ndarray  # float64[n]
    points: np.ndarray  # float32[n, 68, 2] px, NaN where no face

    @property
    def found(self) -> float:
        """Share of frames with a face."""
        return float(np.isfinite(self.opening).mean()) if len(self.opening) else 0.0


class DlibMouthMeter:
    """Measures mouth opening on video files with dlib (one instance per process; models load once)."""

    @cached_property
    def _models(self):  # noqa: ANN202 - dlib objects have no useful static type
        import dlib
        import face_recognition_models as frm

        return dlib, dlib.get_frontal_face_detector(), dlib.shape_predictor(frm.pose_predictor_model_location())

    def frames(self, rgbs: Iterable[np.ndarray]) -> DlibMouth:
        dlib, detect, shape = self._models
        openings: list[float] = []
        points: list[np.ndarray] = []
        box: tuple[float, float, float, float] | None = None
        missed = 0
        for rgb in rgbs:
            rect = self._find(rgb, box, dlib, detect)
            if rect is None:
                missed += 1
                if missed >= LOST_AFTER:
                    box = None
                openings.append(float("nan"))
                points.append(np.full((68, 2), np.nan, np.float32))
                continue
            missed = 0
            box = (rect.left(), rect.top(), rect.right(), rect.bottom())
            sh = shape(rgb, rect)
            p = np.array([[sh.part(i).x, sh.part(i).y] for i in range(68)], np.float32)
            points.append(p)
            openings.append(opening(p))
        return DlibMouth(np.asarray(openings, np.float64), np.asarray(points, np.float32).reshape(-1, 68, 2))

    def video(self, path: Path) -> DlibMouth:
        return self.frames(iter_rgb(path))

    @staticmethod
    def _find(rgb: np.ndarray, box: tuple[float, float, float, float] | None, dlib, detect):  # noqa: ANN001, ANN205
        """The face's rectangle in full-frame coordinates: near ``box`` if given, else the largest."""
        h, w = rgb.shape[:2]
        x0 = y0 = 0
        scale = 1.0
        if box is None:
            crop = rgb
            up = 1 if min(h, w) <= 720 else 0
        else:
            side = max(box[2] - box[0], box[3] - box[1])
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            half = side * SEARCH_SCALE / 2
            x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
            x1, y1 = min(w, int(cx + half)), min(h, int(cy + half))
            crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
            up = 1 if side < MIN_FACE_PX else 0
            if side > DETECT_FACE_PX * 1.5:
                import cv2

                scale = DETECT_FACE_PX / side
                crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        dets = _detect(detect, crop, up)
        if not len(dets):
            return None
        b = max(dets, key=lambda r: r.width() * r.height())
        return dlib.rectangle(int(b.left() / scale + x0), int(b.top() / scale + y0),
                              int(b.right() / scale + x0), int(b.bottom() / scale + y0))


def _detect(detect, img: np.ndarray, up: int):  # noqa: ANN001, ANN202
    """Faces in ``img``: at ``up`` upsamplings, and once more upsampled when that finds none (the
    HOG detector misses some large, open-mouthed faces at their own size and finds them one octave
    up: 17 consecutive frames of videoretalking_2 did) unless the image is already large."""
    dets = detect(img, up)
    if not len(dets) and up == 0 and max(img.shape[:2]) <= RETRY_MAX_SIDE_PX:
        dets = detect(img, 1)
    return dets


def opening(p: np.ndarray) -> float:
    """Inner-lip gap over eye-centre distance for one frame's 68 points."""
    gap = np.mean([np.linalg.norm(p[a] - p[b]) for a, b in INNER_LIP_PAIRS])
    iod = np.linalg.norm(p[list(RIGHT_EYE)].mean(axis=0) - p[list(LEFT_EYE)].mean(axis=0))
    return float(gap / iod) if iod > 0 else float("nan")
