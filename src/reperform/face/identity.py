"""Who a face is: dlib's 128-d face descriptor, to say that two face tracks show the same person.

Why dlib: its ResNet descriptor (trained on faces in the wild, shipped offline in the
``face_recognition_models`` wheel) separates people across shots, lighting and pose; by dlib's own
convention two faces closer than 0.6 are the same person, and a re-encode alone moves a face by
~0.02. A mesh-shape signature would be cheaper but confuses people with similar proportions and
moves with expression. One descriptor costs ~15-40 ms, so a track is described at a few frames only.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import EngineError

#: Descriptor distance under which two faces are the same person (dlib's own threshold is 0.6;
#: a little tighter here, since linking two different people edits the wrong face).
SAME_PERSON = 0.55
#: Mesh points bounding the box dlib's shape predictor expects (brows to chin; the mesh's top is
#: the forehead, higher than dlib's detector boxes): brow top and chin.
_BROW_TOP, _CHIN = 105, 152


def _model_dir() -> Path:
    """The models folder of ``face_recognition_models``, found without importing the package (its
    ``__init__`` imports the deprecated ``pkg_resources`` only to compute these paths)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("face_recognition_models is not installed; it ships the face identity model")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class FaceDescriber:
    """Computes face descriptors; build once per job (loading the models takes ~0.3 s)."""

    def __init__(self) -> None:
        import dlib  # heavy; only when several faces are followed

        models = _model_dir()
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def describe(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """float64[128] descriptor of the face whose mesh is ``landmarks`` (px) in ``rgb``."""
        x0, x1 = float(landmarks[:, 0].min()), float(landmarks[:, 0].max())
        y0, y1 = float(landmarks[_BROW_TOP, 1]), float(landmarks[_CHIN, 1])
        rect = self._dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
        img = np.ascontiguousarray(rgb)
        shape = self._shape(img, rect)
        return np.asarray(self._net.compute_face_descriptor(img, shape), np.float64)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between descriptors (dlib's measure)."""
    return float(np.linalg.norm(a - b))
