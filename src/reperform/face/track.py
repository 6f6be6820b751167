"""Follow one face through the video and produce the FaceTrack record.

The tracker is fed frames in order during the analysis pass; it keeps only small per-frame arrays.
Face choice (until active-speaker selection exists): the largest, most central face, kept across
frames by overlap, re-chosen after shot cuts or when lost.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import cv2
import numpy as np

from ..landmarks import N_LANDMARKS, interocular, mouth_params
from ..records import FaceTrack
from .detect import Detection, MeshRunner
from .pose import head_pose

log = logging.getLogger(__name__)

#: Re-run the detector this often even while tracking: catches a better (larger/central) face
#: entering, and recovers from a mesh locked on the wrong face after a dissolve.
REDETECT_EVERY_FRAMES = 15
#: Mean absolute difference (0..255) of 32×32 green-channel thumbnails above which a frame starts a
#: new shot (hard cuts in the test clips measure 25-27, fast motion up to ~13).
CUT_THRESHOLD = 20.0
#: Overlap needed to say a detection is the face we were following.
SAME_FACE_IOU = 0.3
#: Smoothing window (frames, odd) for landmark noise; order 2 keeps fast mouth peaks.
SMOOTH_WINDOW = 5
#: Face meshes computed at once by :meth:`FaceTracker.follow`, each by its own MediaPipe graph on
#: its own thread (MediaPipe releases the GIL). On 2 cores two lanes take the mesh from 5.6 to
#: 3.2 ms per 720p frame when nothing else runs; frame k's crop then comes from frame k-2's face
#: (the crop is 1.9× the face, and MediaPipe finds the face inside it itself).
MESH_LANES = 2


def savgol(x: np.ndarray, window: int, order: int) -> np.ndarray:
    """Savitzky-Golay smoothing along axis 0 (same result as scipy's ``savgol_filter`` in its
    default ``interp`` mode: ends take the polynomial fitted to the first/last window).

    Written out because importing ``scipy.signal`` costs ~0.5-1 s per process, a visible share of
    a short job, for one small least-squares filter.
    """
    n = x.shape[0]
    if n < window:
        raise ValueError(f"need at least {window} samples, got {n}")
    half = window // 2
    t = np.arange(-half, half + 1, dtype=np.float64)
    vander = np.vander(t, order + 1, increasing=True)  # window × (order+1)
    fit = np.linalg.pinv(vander)  # (order+1) × window: least-squares polynomial coefficients
    flat = x.reshape(n, -1).astype(np.float64)
    out = np.empty_like(flat)
    # Interior: the fitted polynomial's value at the window centre = a fixed convolution.
    out[half: n - half] = sum(c * flat[j: n - window + 1 + j] for j, c in enumerate(fit[0]))
    # Ends: evaluate the polynomial fitted to the first / last full window at the end samples.
    head = vander[:half] @ (fit @ flat[:window])
    tail = vander[half + 1:] @ (fit @ flat[n - window:])
    out[:half] = head
    out[n - half:] = tail
    return out.reshape(x.shape).astype(x.dtype, copy=False)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _prominence(d: Detection, w: int, h: int) -> float:
    """Largest and most central wins: area discounted by distance from the frame centre."""
    cx, cy = (d.box[0] + d.box[2]) / 2 / w - 0.5, (d.box[1] + d.box[3]) / 2 / h - 0.5
    area = (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) / (w * h)
    return float(area * (1.0 - 0.8 * np.hypot(cx, cy)) * (0.5 + 0.5 * d.score))


def _box_from_landmarks(lm: np.ndarray) -> np.ndarray:
    x0, y0 = lm[:, 0].min(), lm[:, 1].min()
    x1, y1 = lm[:, 0].max(), lm[:, 1].max()
    return np.array([x0, y0, x1, y1], np.float32)


class CutDetector:
    """Says which frames start a new shot (feed every frame in order)."""

    def __init__(self) -> None:
        self._prev_thumb: np.ndarray | None = None

    def is_cut(self, rgb: np.ndarray) -> bool:
        # Green channel of a strided view: a cut changes everything, so a coarse look is enough
        # and costs ~50x less than converting and area-resizing the full frame.
        step = max(1, min(rgb.shape[:2]) // 64)
        thumb = cv2.resize(rgb[::step, ::step, 1], (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
        cut = self._prev_thumb is not None and float(np.abs(thumb - self._prev_thumb).mean()) > CUT_THRESHOLD
        self._prev_thumb = thumb
        return cut


class FaceTracker:
    """Feed frames with :meth:`update` (or all of them through :meth:`follow`), then call
    :meth:`finish` for the FaceTrack."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._runner = MeshRunner()
        self._box: np.ndarray | None = None
        self._since_detect = REDETECT_EVERY_FRAMES
        self._cuts_seen = CutDetector()
        self._landmarks: list[np.ndarray | None] = []
        self._cuts: list[int] = [0]
        self._seen = 0  # frames accepted so far (update or follow)

    def _is_cut(self, rgb: np.ndarray) -> bool:
        return self._cuts_seen.is_cut(rgb)

    def _choose(self, rgb: np.ndarray) -> np.ndarray | None:
        dets = self._runner.detect(rgb)
        if not dets:
            return None
        if self._box is not None:
            best = max(dets, key=lambda d: _iou(d.box, self._box))
            if _iou(best.box, self._box) >= SAME_FACE_IOU:
                return best.box
        return max(dets, key=lambda d: _prominence(d, self.width, self.height)).box

    def _accept(self, index: int, rgb: np.ndarray) -> tuple[np.ndarray | None, bool]:
        """Start frame ``index``: note a shot cut, detect when due; the crop box for its mesh
        (None: no face to look for) and whether it was freshly detected in this frame."""
        if index != self._seen:
            raise ValueError(f"frames must be fed in order: got {index}, expected {self._seen}")
        self._seen += 1
        if self._is_cut(rgb):
            self._cuts.append(index)
            self._box = None
        if self._box is None or self._since_detect >= REDETECT_EVERY_FRAMES:
            chosen = self._choose(rgb)
            self._since_detect = 0
            if chosen is not None:
                self._box = chosen
            return self._box, True
        self._since_detect += 1
        return self._box, False

    def _settle(self, lm: np.ndarray | None) -> np.ndarray | None:
        """Record the next frame's landmarks (frames settle in order).

        Kept as float32, the track's own dtype (``build_track`` stores them so anyway): the
        mesh comes as float64 and every frame is held until :meth:`finish`, ~170 MiB for
        10 minutes at 25 fps in float64, half that in float32, the same track."""
        self._box = _box_from_landmarks(lm) if lm is not None else None
        self._landmarks.append(lm.astype(np.float32) if lm is not None else None)
        return lm

    def update(self, index: int, rgb: np.ndarray) -> np.ndarray | None:
        """Process source frame ``index`` (frames must come in order); landmarks px or None."""
        box, fresh = self._accept(index, rgb)
        lm = self._runner.mesh(rgb, box) if box is not None else None
        if lm is None and box is not None and not fresh:  # lost: one fresh detection in this frame
            lm = self._redetect(rgb, self._runner)
        return self._settle(lm)

    def _redetect(self, rgb: np.ndarray, runner: MeshRunner) -> np.ndarray | None:
        chosen = self._choose(rgb)
        self._since_detect = 0
        return runner.mesh(rgb, chosen) if chosen is not None else None

    def follow(self, frames: Iterable[tuple[int, np.ndarray]]) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        """Track ``(index, rgb)`` frames given in order; yields ``(index, rgb, landmarks)`` in order.

        The same decisions as :meth:`update`, with the meshes of :data:`MESH_LANES` consecutive
        frames computed at once (each lane owns a MediaPipe graph; detection stays on this
        thread). Only ``MESH_LANES`` frames are held at a time.
        """
        lanes: list[tuple[ThreadPoolExecutor, Future[MeshRunner]]] = []
        pending: deque[tuple[int, np.ndarray, Future[np.ndarray | None] | None, bool, int]] = deque()

        def lane_for(index: int) -> tuple[ThreadPoolExecutor, Future[MeshRunner]]:
            k = index % MESH_LANES
            while len(lanes) <= k:
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mesh")
                if lanes:  # further graphs are built on first use, on their lane's thread
                    lanes.append((pool, pool.submit(MeshRunner)))
                else:
                    own: Future[MeshRunner] = Future()
                    own.set_result(self._runner)
                    lanes.append((pool, own))
            return lanes[k]

        def mesh(runner: Future[MeshRunner], rgb: np.ndarray, box: np.ndarray) -> np.ndarray | None:
            return runner.result().mesh(rgb, box)

        def settle() -> tuple[int, np.ndarray, np.ndarray | None]:
            index, rgb, job, fresh, k = pending.popleft()
            lm = job.result() if job is not None else None
            if lm is None and job is not None and not fresh:
                # Lost. Its lane is idle now (the frames after it went to the other lanes), so
                # its graph can be used from this thread.
                lm = self._redetect(rgb, lanes[k][1].result())
            return index, rgb, self._settle(lm)

        try:
            for index, rgb in frames:
                box, fresh = self._accept(index, rgb)
                pool, runner = lane_for(index)
                job = pool.submit(mesh, runner, rgb, box) if box is not None else None
                pending.append((index, rgb, job, fresh, index % MESH_LANES))
                if len(pending) >= MESH_LANES:
                    yield settle()
            while pending:
                yield settle()
        finally:
            for pool, runner in lanes[1:]:
                pool.submit(lambda r=runner: r.result().close())
            for pool, _ in lanes:
                pool.shutdown(wait=True)

    def finish(self) -> FaceTrack:
        """Smooth within continuous runs (never across cuts or gaps) and measure every frame."""
        self._runner.close()
        landmarks, self._landmarks = self._landmarks, []
        return build_track(landmarks, self._cuts, self.width, self.height)


def build_track(
    landmarks: list[np.ndarray | None], cuts: list[int], width: int, height: int, identity: np.ndarray | None = None
) -> FaceTrack:
    """The FaceTrack of per-frame raw landmarks (None: no face): smoothed within continuous runs,
    never across ``cuts`` (frames that start a shot, or where the followed person changes) or gaps,
    and measured every frame. ``identity`` (int32 per frame, -1 none) says whose face each frame
    shows when the track follows more than one person."""
    n = len(landmarks)
    present = np.array([lm is not None for lm in landmarks], bool)
    lms = np.zeros((n, N_LANDMARKS, 3), np.float32)
    for i, lm in enumerate(landmarks):
        if lm is not None:
            lms[i] = lm
    cut = np.zeros(n + 1, bool)
    cut[cuts] = True
    start = None
    for i in range(n + 1):
        inside = i < n and present[i] and not (cut[i] and start is not None)
        if start is None and i < n and present[i]:
            start = i
            continue
        if start is not None and not inside:
            if i - start >= SMOOTH_WINDOW:
                lms[start:i] = savgol(lms[start:i], SMOOTH_WINDOW, 2)
            start = i if (i < n and present[i]) else None
    bbox = np.zeros((n, 4), np.float32)
    scale = np.zeros(n, np.float32)
    mouth = np.zeros((n, 4), np.float32)
    pose = np.zeros((n, 3), np.float32)
    if present.any():
        p = present
        bbox[p] = np.stack([_box_from_landmarks(lm) for lm in lms[p]])
        scale[p] = interocular(lms[p])
        mouth[p] = mouth_params(lms[p])
        pose[p] = head_pose(lms[p])
    return FaceTrack(
        present=present, landmarks=lms, bbox=bbox, pose=pose, scale=scale, mouth=mouth,
        width=width, height=height, identity=identity,
    )
