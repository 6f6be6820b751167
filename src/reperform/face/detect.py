"""MediaPipe wrappers: a full-range face detector and a face-mesh run on a face-centred crop.

Why crops: MediaPipe's mesh graph detects faces on a 128-px copy of the whole image, so a 200 px
face in a 1080×1920 portrait (or a 90 px face in 640×360) is invisible to it. We find faces with
the full-range detector and give the mesh an upscaled square crop in which the face is large.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import types
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

#: The mesh crop is resized to this side (px): big enough for detail, small enough to be fast.
MESH_CROP_PX = 320
#: Crop side relative to the face box side: room for jaw motion and head turns.
CROP_SCALE = 1.9
#: The detector sees at most this many pixels on its longer side (it downsamples internally anyway).
DETECT_MAX_SIDE_PX = 960
MIN_DETECTION_SCORE = 0.5


@dataclass(frozen=True, slots=True)
class Detection:
    box: np.ndarray  # float32[4] x0, y0, x1, y1 px in the full frame
    score: float


class _DeferredModule(types.ModuleType):
    """Stands in for a module until one of its attributes is used, then imports the real one.

    (The standard library's ``importlib.util.LazyLoader`` cannot do this on Python 3.11: the import
    system itself reads ``__spec__`` off the module, which makes LazyLoader load it at once.)
    """

    def __getattr__(self, attr: str):  # noqa: ANN204 - whatever the real module holds
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)
        return getattr(real, attr)


#: Modules ``import mediapipe`` pulls in that the engine never uses, with what each costs at
#: start-up on the 2-core target (``python -X importtime``): MediaPipe's drawing helpers import
#: matplotlib and PIL (~0.25 s); its audio recorder imports sounddevice, which looks for
#: PortAudio by running ``ldconfig`` and ``gcc`` three times (~0.05 s and five processes).
_DEFERRED_MODULES = (
    ("mediapipe.python.solutions", "drawing_utils"),
    ("mediapipe.python.solutions", "drawing_styles"),
    ("", "sounddevice"),
)


def _import_mediapipe():  # noqa: ANN202 - the module
    """``import mediapipe`` without paying for the modules in ``_DEFERRED_MODULES``.

    A stand-in takes each one's place until one of its attributes is first used (never, by us);
    then the real module is imported, so anyone else in the process who uses them gets the real
    thing. Modules already imported are left alone.
    """
    stubs = {}
    for package, child in _DEFERRED_MODULES:
        name = f"{package}.{child}" if package else child
        # find_spec of the top-level name only: a dotted name would import its parents.
        if name in sys.modules or importlib.util.find_spec(name.partition(".")[0]) is None:
            continue
        stub = _DeferredModule(name)
        stub.__spec__ = None
        sys.modules[name] = stub
        stubs[name] = (package, child, stub)
    import mediapipe as mp

    # An import that finds its module in sys.modules does not set it on the parent package:
    # do it, so ``mp.solutions.drawing_utils`` still resolves (to the stand-in, then the real one).
    for package, child, stub in stubs.values():
        parent = sys.modules.get(package) if package else None
        if parent is not None and not hasattr(parent, child):
            setattr(parent, child, stub)
    return mp


def warm_up() -> None:
    """Import MediaPipe now (its graphs are built per job: they are cheap next to the import)."""
    _import_mediapipe()


class MeshRunner:
    """Owns the MediaPipe graphs (costly to build: one per tracker, reused for every frame)."""

    def __init__(self) -> None:
        mp = _import_mediapipe()  # heavy import; only when a tracker is built

        self._det = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=MIN_DETECTION_SCORE)
        # static_image_mode=True: our crops move from frame to frame, so MediaPipe's own tracking
        # ROI would be stale; running its detector on a face-filled crop costs ~1 ms.
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True,
            min_detection_confidence=0.4, min_tracking_confidence=0.4,
        )

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        s = min(1.0, DETECT_MAX_SIDE_PX / max(h, w))
        img = cv2.resize(rgb, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
        res = self._det.process(img)
        out: list[Detection] = []
        for d in res.detections or []:
            bb = d.location_data.relative_bounding_box
            box = np.array([bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h], np.float32)
            out.append(Detection(box=box, score=float(d.score[0]) if d.score else 0.0))
        return out

    def mesh(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """478×3 landmarks in full-frame px for the face in ``box``, or None when none is found."""
        h, w = rgb.shape[:2]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = max(box[2] - box[0], box[3] - box[1]) * CROP_SCALE
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        s = int(round(side))
        if s < 16:
            return None
        # Pad by edge replication where the crop leaves the frame (faces near borders).
        pad = max(0, -x0, -y0, x0 + s - w, y0 + s - h)
        src = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else rgb
        crop = src[y0 + pad : y0 + pad + s, x0 + pad : x0 + pad + s]
        # Bilinear even when shrinking: INTER_AREA costs ~5x more and the mesh does not need it.
        crop = cv2.resize(crop, (MESH_CROP_PX, MESH_CROP_PX), interpolation=cv2.INTER_LINEAR)
        res = self._mesh.process(crop)
        if not res.multi_face_landmarks:
            return None
        pts = res.multi_face_landmarks[0].landmark
        lm = np.array([(p.x, p.y, p.z) for p in pts], np.float32) * s
        lm[:, 0] += x0
        lm[:, 1] += y0
        return lm

    def close(self) -> None:
        self._det.close()
        self._mesh.close()
