"""The mouth bank (real lower-face images from the source) and the Viterbi choice of exemplars.

Video Rewrite / VDub idea: the clip itself holds this person's real mouths — open, closed, teeth,
tongue, rounded — under the clip's own lighting. The bank keeps lower-face crops of source frames
during the analysis pass. Memory is bounded whatever the clip length: crops are binned by mouth
shape (open × width), and when the budget is exceeded the weakest crop of the most crowded bin is
dropped, so coverage of the shape space survives while duplicates go.

:func:`choose_exemplars` picks one exemplar per output frame by dynamic programming: a target cost
(shape distance to the plan, closures demand closed mouths, pose and lighting context close to the
frame being edited) against a transition cost (playing source frames consecutively is free; jumps
cost, more so between dissimilar-looking mouths). Consecutive runs keep real motion blur and
co-articulation; the DP avoids the flicker of a per-frame nearest neighbour.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from .. import landmarks as L
from .geometry import LOWER_JAW, apply, eye_frame, pose_proxy

log = logging.getLogger(__name__)

#: Default memory budget of the bank's crops; ~250 lower faces at 1080p close-up, thousands at 480p.
#: Sized so a long 1080p job stays under 1.5 GiB peak RSS with Whisper and the frame buffers loaded.
DEFAULT_MAX_BYTES = 224 * 1024 * 1024
#: Crops are stored at most at this inter-ocular size (px): enough for sharp teeth at 4K close-ups.
MAX_IOD_PX = 160.0
#: Crop margins around the lower face, in inter-ocular units: sides/below cover the jaw's anchor
#: ring and the band under the chin, above reaches past the nose tip.
CROP_MARGIN_SIDE = 0.85
CROP_MARGIN_TOP = 0.45
#: Most exemplars kept whatever the budget: the search costs O(exemplars) per output frame.
MAX_EXEMPLARS = 1500
#: Shape-space bins for the memory policy (inter-ocular units).
BIN_OPEN = 0.025
BIN_WIDTH = 0.05
#: Skin landmarks whose blurred colour describes the lighting/shot context around the mouth.
CONTEXT_POINTS = (50, 280, 205, 425, 187, 411, 216, 436, 212, 432, 202, 422, 199, 175, 148, 377, 4, 164)
#: Half-size of the box (inter-ocular units) averaged around each context point.
CONTEXT_BOX_IOD = 0.06
#: Mouth thumbnail size (w, h) for appearance comparison between exemplars.
THUMB_SIZE = (24, 16)

# Viterbi weights. Shape distance is measured in "typical error" units per parameter.
SHAPE_SCALE = np.array([0.035, 0.07, 0.07, 0.07], np.float32)
SHAPE_WEIGHT = np.array([1.0, 0.6, 0.25, 0.35], np.float32)
#: Closure frames: exemplars more open than this pay heavily (lips must seal on p/b/m).
CLOSED_OPEN = 0.035
CLOSURE_PENALTY = 40.0
POSE_SCALE = 0.06
POSE_WEIGHT = 1.0
#: Head pose from the 3-D mesh (yaw, pitch, roll in degrees, when the track's pose is given): a
#: yaw or pitch difference of this many degrees costs as much as one typical shape error. Beyond
#: ~10° the 3-D alignment still puts every point right, but skin seen at another angle is lit and
#: foreshortened differently; roll is undone exactly by the 2-D alignment and matters only for light.
POSE_SCALE_DEG = np.array([6.0, 6.0, 15.0], np.float32)
CONTEXT_SCALE = 12.0  # RGB levels
CONTEXT_WEIGHT = 1.0
#: Using the frame's own mouth (no alignment error at all) is worth a little.
SELF_BONUS = 0.5
JUMP_COST = 2.0
HOLD_COST = 0.8
APPEARANCE_SCALE = 25.0  # grey levels, mean absolute difference of mouth thumbnails
APPEARANCE_WEIGHT = 1.0
#: Cost per unit of log-magnification (an exemplar from a shot where the face was half the size).
MAGNIFY_WEIGHT = 4.0
#: Candidates kept per output frame (the DP is K² per frame).
N_CANDIDATES = 16


@dataclass(slots=True)
class Exemplar:
    """One stored lower face."""

    index: int  # source frame index
    crop: np.ndarray  # uint8[h, w, 3] RGB
    landmarks: np.ndarray  # float32[478, 2] in crop pixels
    params: np.ndarray  # float32[4] MOUTH_PARAMS
    pose: np.ndarray  # float32[2] pose proxy
    context: np.ndarray  # float32[len(CONTEXT_POINTS) * 3] skin colours around the mouth
    thumb: np.ndarray  # float32[h*w] grey mouth thumbnail
    quality: float  # sharpness and frontality, higher is better
    origin: np.ndarray = field(default_factory=lambda: np.zeros(2))  # crop's top-left in the source frame (px)
    scale: float = 1.0  # crop pixels per source pixel

    @property
    def nbytes(self) -> int:
        return int(self.crop.nbytes + self.landmarks.nbytes + self.thumb.nbytes + 256)


def _mouth_patch(rgb: np.ndarray, lm: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Grey mouth patch, normalised for position/scale/roll: x ±0.75, y ±0.5 around the lips' centre."""
    m = eye_frame(lm)
    centre = apply(m, lm[list(L.MOUTH_CORNERS)]).mean(0)
    w, h = size
    # normalised → patch pixels, composed with image → normalised
    sx, sy = w / 1.5, h / 1.0
    to_patch = np.array([[sx, 0, -sx * (centre[0] - 0.75)], [0, sy, -sy * (centre[1] - 0.5)]])
    a = to_patch[:, :2] @ m[:, :2]
    b = to_patch[:, :2] @ m[:, 2] + to_patch[:, 2]
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.warpAffine(grey, np.hstack([a, b[:, None]]), (w, h), flags=cv2.INTER_AREA)


def describe(rgb: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """(params, pose, context, thumb, sharpness) of a frame or crop with landmarks ``lm`` ``[478, 2+]``."""
    lm2 = np.asarray(lm, np.float64)[:, :2]
    params = L.mouth_params(lm2)
    pose = pose_proxy(lm2)
    iod = float(L.interocular(lm2))
    # Mean colour of a small box around each skin point, from an integral image: one pass over
    # the crop instead of a full Gaussian blur (which cost ~15 ms a frame for big faces).
    h, w = rgb.shape[:2]
    r = max(1, int(round(CONTEXT_BOX_IOD * iod)))
    integral = cv2.integral(rgb)  # (h+1, w+1, 3), int
    c = np.round(lm2[list(CONTEXT_POINTS)]).astype(int)
    xa, xb = np.clip(c[:, 0] - r, 0, w), np.clip(c[:, 0] + r + 1, 0, w)
    ya, yb = np.clip(c[:, 1] - r, 0, h), np.clip(c[:, 1] + r + 1, 0, h)
    area = np.maximum((xb - xa) * (yb - ya), 1)[:, None]
    sums = integral[yb, xb] - integral[ya, xb] - integral[yb, xa] + integral[ya, xa]
    context = (sums / area).astype(np.float32).ravel()
    sharp_patch = _mouth_patch(rgb, lm2, (72, 48)).astype(np.float32)
    sharpness = float(cv2.Laplacian(sharp_patch, cv2.CV_32F).var())
    thumb = cv2.resize(sharp_patch, THUMB_SIZE, interpolation=cv2.INTER_AREA).ravel()
    return params, pose, context, thumb, sharpness


class FrameTable:
    """Compact per-source-frame descriptors (~80 bytes a frame): shape, pose, lighting context.

    A dict of small arrays would cost ~1 kB a frame in Python overhead; an hour of video at 30 fps
    stays under 10 MB here.
    """

    def __init__(self) -> None:
        self._n = 0
        self.present = np.zeros(0, bool)
        self.params = np.zeros((0, 4), np.float32)
        self.pose = np.zeros((0, 2), np.float32)
        self.context = np.zeros((0, len(CONTEXT_POINTS) * 3), np.uint8)

    def __len__(self) -> int:
        return int(self.present[: self._n].sum())

    def put(self, index: int, params: np.ndarray, pose: np.ndarray, context: np.ndarray) -> None:
        if index >= len(self.present):
            cap = max(64, 2 * (index + 1))
            for name in ("present", "params", "pose", "context"):
                old = getattr(self, name)
                new = np.zeros((cap, *old.shape[1:]), old.dtype)
                new[: len(old)] = old
                setattr(self, name, new)
        self._n = max(self._n, index + 1)
        self.present[index] = True
        self.params[index] = params
        self.pose[index] = pose
        self.context[index] = np.clip(np.round(context), 0, 255)

    def pose_of(self, index: int) -> np.ndarray | None:
        return self.pose[index] if 0 <= index < self._n and self.present[index] else None

    def context_of(self, index: int) -> np.ndarray | None:
        return self.context[index].astype(np.float32) if 0 <= index < self._n and self.present[index] else None


class MouthBank:
    """Bounded store of lower-face exemplars collected during the analysis pass.

    ``offer`` every source frame that has a face; the bank decides what to keep. It also keeps a
    tiny descriptor of *every* offered frame (shape, pose, lighting context: ~300 bytes) so the
    renderer can match exemplars to frames whose own crop was not kept.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = int(max_bytes)
        self.exemplars: dict[int, Exemplar] = {}
        self.frames = FrameTable()
        self.nbytes = 0
        self._bins: dict[tuple[int, int], list[int]] = {}

    def __len__(self) -> int:
        return len(self.exemplars)

    def offer(self, index: int, rgb: np.ndarray, landmarks: np.ndarray) -> None:
        """Consider source frame ``index`` (RGB ``uint8[H, W, 3]``, landmarks ``float32[478, 3]`` px)."""
        lm = np.asarray(landmarks, np.float64)[:, :2]
        if not np.isfinite(lm).all():
            return
        iod = float(L.interocular(lm))
        if iod < 4:
            return
        crop, origin, scale = _crop_lower_face(rgb, lm, iod)
        if crop is None:
            return
        lm_c = ((lm - origin) * scale).astype(np.float32)
        params, pose, context, thumb, sharpness = describe(crop, lm_c)
        self.frames.put(index, params, pose, context)
        quality = float(np.log1p(sharpness) - 6.0 * abs(float(pose[0])))
        ex = Exemplar(index, crop, lm_c, params, pose, context, thumb, quality, origin, float(scale))
        self.exemplars[index] = ex
        self._bins.setdefault(_bin_key(params), []).append(index)
        self.nbytes += ex.nbytes
        while (self.nbytes > self.max_bytes or len(self.exemplars) > MAX_EXEMPLARS) and len(self.exemplars) > 1:
            self._evict()

    def _evict(self) -> None:
        """Drop the lowest-quality exemplar of the most crowded shape bin."""
        key = max(self._bins, key=lambda k: len(self._bins[k]))
        members = self._bins[key]
        worst = min(members, key=lambda i: self.exemplars[i].quality)
        members.remove(worst)
        if not members:
            del self._bins[key]
        self.nbytes -= self.exemplars.pop(worst).nbytes

    def state(self) -> dict[str, np.ndarray | int]:
        """Everything the bank holds as a few flat arrays, for saving an analysis.

        Crops of different sizes go into one byte buffer with their shapes beside it (a saved
        bank of 1500 exemplars is then a dozen arrays, not thousands). :meth:`from_state` gives
        back a bank that renders exactly as this one.
        """
        order = sorted(self.exemplars)
        ex = [self.exemplars[i] for i in order]
        n = self.frames._n

        def stack(name: str, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
            if not ex:
                return np.zeros((0, *shape), dtype)
            return np.stack([getattr(e, name) for e in ex])

        return {
            "max_bytes": self.max_bytes,
            "index": np.asarray(order, np.int64),
            "crop_shape": np.asarray([e.crop.shape for e in ex], np.int64).reshape(-1, 3),
            "crops": np.concatenate([e.crop.ravel() for e in ex]) if ex else np.zeros(0, np.uint8),
            "landmarks": stack("landmarks", np.float32, (478, 2)),
            "params": stack("params", np.float64, (4,)),
            "pose": stack("pose", np.float32, (2,)),
            "context": stack("context", np.float32, (len(CONTEXT_POINTS) * 3,)),
            "thumb": stack("thumb", np.float32, (THUMB_SIZE[0] * THUMB_SIZE[1],)),
            "quality": np.asarray([e.quality for e in ex], np.float64),
            "origin": stack("origin", np.float64, (2,)),
            "scale": np.asarray([e.scale for e in ex], np.float64),
            "frames_present": self.frames.present[:n].copy(),
            "frames_params": self.frames.params[:n].copy(),
            "frames_pose": self.frames.pose[:n].copy(),
            "frames_context": self.frames.context[:n].copy(),
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray | int]) -> MouthBank:
        """The bank :meth:`state` describes (the shape bins used for eviction are rebuilt too)."""
        bank = cls(int(state["max_bytes"]))
        shapes = np.asarray(state["crop_shape"])
        ends = np.cumsum(shapes.prod(axis=1)) if len(shapes) else np.zeros(0, np.int64)
        crops = np.asarray(state["crops"])
        for j, index in enumerate(np.asarray(state["index"]).tolist()):
            start = int(ends[j - 1]) if j else 0
            crop = crops[start:int(ends[j])].reshape(tuple(int(s) for s in shapes[j]))
            ex = Exemplar(
                int(index), crop, state["landmarks"][j], state["params"][j], state["pose"][j],
                state["context"][j], state["thumb"][j], float(state["quality"][j]), state["origin"][j],
                float(state["scale"][j]),
            )
            bank.exemplars[ex.index] = ex
            bank._bins.setdefault(_bin_key(ex.params), []).append(ex.index)
            bank.nbytes += ex.nbytes
        table = bank.frames
        table.present = np.asarray(state["frames_present"], bool).copy()
        table.params = np.asarray(state["frames_params"]).copy()
        table.pose = np.asarray(state["frames_pose"]).copy()
        table.context = np.asarray(state["frames_context"]).copy()
        table._n = len(table.present)
        return bank

    def without(self, indices: Iterable[int]) -> MouthBank:
        """This bank less the exemplars ``indices`` (a view: exemplars and the frame table are shared)."""
        drop = set(int(i) for i in indices)
        bank = MouthBank(self.max_bytes)
        bank.exemplars = {i: e for i, e in self.exemplars.items() if i not in drop}
        bank.frames = self.frames
        bank.nbytes = sum(e.nbytes for e in bank.exemplars.values())
        return bank

    def arrays(self) -> dict[str, np.ndarray]:
        """Stacked exemplar features for the search, in a fixed order (``order`` = source indices)."""
        order = sorted(self.exemplars)
        ex = [self.exemplars[i] for i in order]
        return {
            "order": np.asarray(order, np.int64),
            "params": np.stack([e.params for e in ex]),
            "pose": np.stack([e.pose for e in ex]),
            "context": np.stack([e.context for e in ex]),
            "thumb": np.stack([e.thumb for e in ex]),
            "quality": np.asarray([e.quality for e in ex], np.float32),
            "iod": np.asarray([float(L.interocular(e.landmarks)) for e in ex], np.float32),
        }


def _bin_key(params: np.ndarray) -> tuple[int, int]:
    """The shape-space bin (open × width) an exemplar counts in for the memory policy."""
    return int(params[0] // BIN_OPEN), int(params[1] // BIN_WIDTH)


def _crop_lower_face(rgb: np.ndarray, lm: np.ndarray, iod: float):
    """Crop nose-to-below-chin, cheek to cheek with margins; downscale big faces to MAX_IOD_PX."""
    h, w = rgb.shape[:2]
    pts = lm[list(LOWER_JAW) + [L.NOSE_TIP, 98, 327]]
    x0, y0 = pts.min(0) - [CROP_MARGIN_SIDE * iod, CROP_MARGIN_TOP * iod]
    x1, y1 = pts.max(0) + [CROP_MARGIN_SIDE * iod, CROP_MARGIN_SIDE * iod]
    x0, y0 = int(max(0, np.floor(x0))), int(max(0, np.floor(y0)))
    x1, y1 = int(min(w, np.ceil(x1))), int(min(h, np.ceil(y1)))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None, None, 1.0
    crop = rgb[y0:y1, x0:x1]
    scale = min(1.0, MAX_IOD_PX / iod)
    if scale < 1.0:
        # Mild reductions with bilinear (INTER_AREA at a non-integer ratio costs ~3 ms a frame);
        # strong ones need INTER_AREA's anti-aliasing.
        interp = cv2.INTER_LINEAR if scale > 0.6 else cv2.INTER_AREA
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                          interpolation=interp)
    return np.ascontiguousarray(crop), np.array([x0, y0], np.float64), scale


def target_costs(
    feats: dict[str, np.ndarray],
    target: np.ndarray,
    closure: bool,
    pose: np.ndarray | None,
    context: np.ndarray | None,
    src: int,
    iod_px: float = 0.0,
    pose_deg: np.ndarray | None = None,
) -> np.ndarray:
    """Cost of showing each exemplar at one output frame (lower is better).

    ``iod_px`` is the face size in the frame being edited: exemplars stored smaller than that
    would be magnified (blurred), so they pay in proportion to the magnification. ``pose_deg``
    (yaw, pitch, roll of the edited frame) compares head poses measured on the 3-D mesh against
    ``feats["pose_deg"]``; without it, the 2-D pose proxies are compared.
    """
    d = (feats["params"] - target[None, :]) / SHAPE_SCALE
    cost = (SHAPE_WEIGHT * d * d).sum(1)
    if closure:
        cost += CLOSURE_PENALTY * np.maximum(0.0, feats["params"][:, 0] - CLOSED_OPEN) / CLOSED_OPEN
    if pose_deg is not None and "pose_deg" in feats:
        cost += POSE_WEIGHT * (((feats["pose_deg"] - pose_deg) / POSE_SCALE_DEG) ** 2).sum(1)
    elif pose is not None:
        cost += POSE_WEIGHT * (((feats["pose"] - pose) / POSE_SCALE) ** 2).sum(1)
    if context is not None:
        diff = np.abs(feats["context"] - context).mean(1) / CONTEXT_SCALE
        cost += CONTEXT_WEIGHT * diff * diff
    if iod_px > 0 and "iod" in feats:
        cost += MAGNIFY_WEIGHT * np.maximum(0.0, np.log(iod_px / np.maximum(feats["iod"], 1.0)))
    cost -= 0.05 * feats["quality"]
    cost[feats["order"] == src] -= SELF_BONUS
    return cost


#: Cost of an exemplar from another person's face (several people followed): never worth it.
FOREIGN_COST = 1e6


def choose_exemplars(
    feats: dict[str, np.ndarray],
    targets: np.ndarray,
    closure: np.ndarray,
    src_frames: np.ndarray,
    valid: np.ndarray,
    frames: FrameTable | None = None,
    iod_px: np.ndarray | None = None,
    pose_deg: np.ndarray | None = None,
    identity: np.ndarray | None = None,
) -> np.ndarray:
    """Viterbi choice of one exemplar (source index) per output frame; -1 where ``valid`` is False.

    ``identity`` int[n_source] (whose face each source frame shows, when the track follows several
    people): an exemplar of another person is never chosen (it would paste their mouth on this one).

    ``targets`` float32[n_out, 4]; ``closure``/``valid`` bool[n_out]; ``src_frames`` int[n_out].
    ``pose_deg`` float32[n_source, 3]: every source frame's head pose (the face track's), so that
    exemplars are chosen by pose as well as shape. Invalid frames (no face) break the chain: the
    search restarts after them.
    """
    n_out = len(targets)
    order = feats["order"]
    if pose_deg is not None:
        feats = {**feats, "pose_deg": np.asarray(pose_deg, np.float32)[order]}
    n_ex = len(order)
    k_cand = min(N_CANDIDATES, n_ex)
    result = np.full(n_out, -1, np.int64)
    cands = np.zeros((n_out, k_cand), np.int64)
    back = np.zeros((n_out, k_cand), np.int32)
    score = None
    start = 0
    for k in range(n_out + 1):
        if k == n_out or not valid[k]:
            if score is not None:
                _backtrack(result, cands, back, score, start, k, order)
            score = None
            continue
        src = int(src_frames[k])
        pose = frames.pose_of(src) if frames is not None else None
        context = frames.context_of(src) if frames is not None else None
        size = float(iod_px[src]) if iod_px is not None and 0 <= src < len(iod_px) else 0.0
        pose3 = np.asarray(pose_deg[src], np.float32) if pose_deg is not None and 0 <= src < len(pose_deg) else None
        c = target_costs(feats, targets[k], bool(closure[k]), pose, context, src, size, pose3)
        if identity is not None:
            c = np.where(identity[order] == identity[src], c, c + FOREIGN_COST)
        idx = np.argpartition(c, k_cand - 1)[:k_cand] if k_cand < n_ex else np.arange(n_ex)
        cands[k] = idx
        tc = c[idx]
        if score is None:
            score, start = tc, k
            continue
        prev = cands[k - 1]
        step = src - int(src_frames[k - 1])
        trans = _transition(feats, prev, idx, step)
        tot = score[:, None] + trans
        back[k] = np.argmin(tot, axis=0)
        score = tot[back[k], np.arange(len(idx))] + tc
    return result


def _transition(feats: dict[str, np.ndarray], prev: np.ndarray, cur: np.ndarray, step: int) -> np.ndarray:
    """K×K transition costs: following the source's own timing is free, holding or jumping is not."""
    order = feats["order"]
    thumbs = feats["thumb"]
    app = np.abs(thumbs[prev][:, None, :] - thumbs[cur][None, :, :]).mean(2) / APPEARANCE_SCALE
    t = JUMP_COST + APPEARANCE_WEIGHT * app
    follows = order[cur][None, :] == order[prev][:, None] + step
    same = order[cur][None, :] == order[prev][:, None]
    t = np.where(same, HOLD_COST if step != 0 else 0.0, t)
    return np.where(follows, 0.0, t)


def _backtrack(result, cands, back, score, start, stop, order) -> None:
    j = int(np.argmin(score))
    for k in range(stop - 1, start - 1, -1):
        result[k] = order[cands[k, j]]
        j = int(back[k, j])
