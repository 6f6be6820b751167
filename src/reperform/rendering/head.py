"""Head mode's warp: make the head in an output frame appear rotated by the planned pose delta.

There is no 3-D head model offline, so the rotation is shown with a smooth 2-D displacement field:

1. The frame's 3-D face mesh (px, z away from the camera) is rotated about a pivot near the top of
   the spine (behind and below the face centre, so a nod also moves the face slightly, as a real
   one does) and projected orthographically: that gives the exact 2-D motion of every face point,
   with parallax (the nose moves more than the cheeks on a turn).
2. Points we have no mesh for get plausible motion: the skull and hair (rings outside the upper
   face outline, at the depth of the head's centre) rotate with the head; the neck follows the jaw
   with a fading share; shoulders, chest, everything beyond ~1.45 face heights and the border of
   the edited region stay put (zero).
3. The scattered motion is splatted on a coarse grid, filled in between by harmonic (membrane)
   interpolation — the smoothest field through the constraints, with no overshoot — blurred and
   upsampled, and applied as a *backward* map with ``cv2.remap``: every output pixel fetches a
   source pixel, so nothing tears and no holes open; the background between the head and the
   zero ring is stretched or squeezed by a few pixels at most.

The field is defined at the *destination* positions (where each point ends up) and points back to
where it came from, so the warp is exact at the control points without inverting anything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import cv2
import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

from ..landmarks import CHIN, FACE_OVAL, JAW_LINE, NOSE_TIP, STABLE, SUBNASALE, interocular
from ..records import FaceTrack, MotionPlan

log = logging.getLogger(__name__)

#: Deltas smaller than this (degrees, every axis) are treated as zero: the frame passes through.
MIN_DELTA_DEG = 1e-3
#: Pivot of the rotation, from anatomy (atlas joint): this far behind the nose tip (inter-ocular
#: distances; nose to ear ≈ 10 cm ≈ 1.6 IOD) and this far below the subnasale (face heights).
PIVOT_BEHIND_NOSE_IOD = 1.6
PIVOT_BELOW_SUBNASALE_H = 0.12
#: The skull's centre sits this far behind the nose tip (IOD): hair rings are placed at its depth.
SKULL_DEPTH_IOD = 1.3
#: Skull/hair rings: upper face outline scaled about the face centre by these factors.
HAIR_RING_SCALES = (1.22, 1.5)
#: Upper outline = face-oval points above this share of the eye-to-chin distance below the eyes.
UPPER_OVAL_BELOW_EYES = 0.45
#: Neck rows below the jaw line (face heights) and the share of the jaw's motion each keeps.
NECK_ROWS_H = ((0.12, 0.5), (0.3, 0.15))
#: Static ring (face heights from the face centre): no motion beyond it.
STATIC_RING_H = 1.45
#: Shoulders: static below this depth under the chin (face heights) and beyond this far to either
#: side of the face centre (face widths); the chest: static below CHEST_BELOW_CHIN_H whatever x.
SHOULDER_BELOW_CHIN_H = 0.2
SHOULDER_SIDE_W = 0.65
CHEST_BELOW_CHIN_H = 0.5
#: Coarse grid cell (face heights; at least MIN_CELL_PX): the field is smooth on that scale.
CELL_H = 1.0 / 16.0
MIN_CELL_PX = 4
#: Blur of the coarse field (cells): rounds the harmonic field's creases along the constraints.
FIELD_BLUR_CELLS = 0.8
#: A pixel counts as changed when it moves more than this (px) — used for the edit box.
MOVED_PX = 0.02


def rotation_matrix(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """R = Rz(roll) · Ry(yaw) · Rx(pitch) in image axes (x right, y down, z away).

    The inverse of ``face.pose._euler``, so a mesh rotated by it measures as that pose change.
    """
    y, p, r = np.radians([yaw_deg, pitch_deg, roll_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


#: Face-mesh points driving the field: outline, rigid points and a thinned interior.
_FACE_POINTS = np.unique(np.concatenate([np.asarray(FACE_OVAL), np.asarray(STABLE), np.arange(0, 468, 5)]))


def head_geometry(lm: np.ndarray) -> dict[str, np.ndarray | float]:
    """Face measures (px) the field is built from: centre, height, width, IOD, pivot, skull depth."""
    oval = lm[list(FACE_OVAL)]
    centre = oval[:, :2].mean(axis=0)
    height = float(np.linalg.norm(lm[10, :2] - lm[CHIN, :2]))
    width = float(oval[:, 0].max() - oval[:, 0].min())
    iod = float(interocular(lm))
    pivot = np.array([
        centre[0],
        lm[SUBNASALE, 1] + PIVOT_BELOW_SUBNASALE_H * height,
        lm[NOSE_TIP, 2] + PIVOT_BEHIND_NOSE_IOD * iod,
    ])
    return {"centre": centre, "height": height, "width": width, "iod": iod, "pivot": pivot,
            "skull_z": float(lm[NOSE_TIP, 2] + SKULL_DEPTH_IOD * iod)}


def control_points(lm: np.ndarray, delta_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Destination positions [m, 2] px, backward displacements [m, 2] px, and the face height.

    Backward: a pixel at ``dst`` in the output shows the source pixel at ``dst + disp``.
    """
    lm = np.asarray(lm, np.float64)
    g = head_geometry(lm)
    centre, height, pivot = g["centre"], g["height"], g["pivot"]
    rot = rotation_matrix(*[float(v) for v in delta_deg])

    def moved(p3: np.ndarray) -> np.ndarray:
        return ((p3 - pivot) @ rot.T + pivot)[:, :2]

    src, dst = [], []
    face = lm[_FACE_POINTS]
    src.append(face[:, :2])
    dst.append(moved(face))

    # Skull and hair: the upper outline pushed outwards, sunk to the skull's depth.
    oval = lm[list(FACE_OVAL)]
    eyes_y = lm[list(STABLE[:4]), 1].mean()
    upper = oval[oval[:, 1] < eyes_y + UPPER_OVAL_BELOW_EYES * (lm[CHIN, 1] - eyes_y)]
    for i, s in enumerate(HAIR_RING_SCALES):
        ring = upper.copy()
        ring[:, :2] = centre + (upper[:, :2] - centre) * s
        share = (i + 1) / len(HAIR_RING_SCALES)
        ring[:, 2] = (1 - share) * upper[:, 2] + share * g["skull_z"]
        src.append(ring[:, :2])
        dst.append(moved(ring))

    # Neck: rows under the jaw keep a fading share of the jaw's motion.
    jaw = lm[list(JAW_LINE)]
    jaw_disp = moved(jaw) - jaw[:, :2]
    for below_h, share in NECK_ROWS_H:
        row = jaw[:, :2] + np.array([0.0, below_h * height])
        src.append(row)
        dst.append(row + share * jaw_disp)

    src_a, dst_a = np.concatenate(src), np.concatenate(dst)
    return dst_a, src_a - dst_a, height


def _harmonic_fill(values: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Fill the free nodes of a [ny, nx, c] grid with the harmonic (membrane) interpolation of the fixed ones.

    A harmonic field is the smoothest surface through the constraints and never overshoots them
    (maximum principle), so the motion decays monotonically from the head to the static anchors.
    The border must be fixed (every free node then has four neighbours).
    """
    ny, nx, nc = values.shape
    free = ~fixed
    nf = int(free.sum())
    if nf == 0:
        return values
    idx = np.full((ny, nx), -1, np.int64)
    idx[free] = np.arange(nf)
    rows, cols = [np.arange(nf)], [np.arange(nf)]
    data = [np.full(nf, 4.0)]
    rhs = np.zeros((nf, nc))
    fy, fx = np.nonzero(free)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny_, nx_ = fy + dy, fx + dx
        j = idx[ny_, nx_]
        me = idx[fy, fx]
        inner = j >= 0
        rows.append(me[inner])
        cols.append(j[inner])
        data.append(np.full(int(inner.sum()), -1.0))
        rhs[me[~inner]] += values[ny_[~inner], nx_[~inner]]
    a = sparse.csc_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(nf, nf))
    sol = spsolve(a, rhs).reshape(nf, nc)
    out = values.copy()
    out[free] = sol
    return out


def _splat(points: np.ndarray, vals: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average control values onto their nearest grid nodes: (grid values [ny, nx, 2], has-a-point mask)."""
    ny, nx = len(gy), len(gx)
    ix = np.clip(np.round((points[:, 0] - gx[0]) / (gx[1] - gx[0])).astype(int), 0, nx - 1)
    iy = np.clip(np.round((points[:, 1] - gy[0]) / (gy[1] - gy[0])).astype(int), 0, ny - 1)
    flat = iy * nx + ix
    count = np.bincount(flat, minlength=nx * ny).reshape(ny, nx)
    acc = np.stack([np.bincount(flat, vals[:, c], minlength=nx * ny) for c in range(vals.shape[1])], axis=1)
    acc = acc.reshape(ny, nx, -1) / np.maximum(count, 1)[..., None]
    return acc, count > 0


#: "No precomputed field given" (None is a real field value: nothing moves in that frame).
_UNSET = object()


class HeadWarper:
    """Rotates the head of each output frame by ``plan.head_delta[k]`` (head mode).

    ``apply(k, rgb, edit_box)`` is called after the renderer; it never modifies ``rgb`` (the frame
    source caches frames) and returns the edit box grown to bound every pixel it changed.
    """

    def __init__(self, track: FaceTrack, plan: MotionPlan) -> None:
        self.track = track
        self.plan = plan
        self._grid: np.ndarray | None = None

    def field(self, k: int, shape: tuple[int, int]) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
        """(box x0, y0, x1, y1 of the pixels that may move; float32[h, w, 2] source x, y for each) or None."""
        if k >= self.plan.n_out:
            return None
        delta = np.asarray(self.plan.head_delta[k], np.float64)
        s = int(self.plan.src_frame[k])
        if not np.any(np.abs(delta) > MIN_DELTA_DEG) or s >= self.track.n or not self.track.present[s]:
            return None
        dst, disp, height = control_points(self.track.landmarks[s], delta)
        width = float(np.ptp(self.track.landmarks[s, list(FACE_OVAL), 0]))
        h, w = shape
        reach = STATIC_RING_H * height
        centre = self.track.landmarks[s, list(FACE_OVAL), :2].astype(np.float64).mean(axis=0)
        x0, y0 = np.floor(centre - reach).astype(int)
        x1, y1 = np.ceil(centre + reach).astype(int) + 1
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        cell = max(MIN_CELL_PX, height * CELL_H)
        nx, ny = max(3, int(np.ceil((x1 - x0) / cell))), max(3, int(np.ceil((y1 - y0) / cell)))
        # Coarse node centres follow cv2.resize's pixel-centre convention.
        gx = x0 + (np.arange(nx) + 0.5) * (x1 - x0) / nx - 0.5
        gy = y0 + (np.arange(ny) + 0.5) * (y1 - y0) / ny - 0.5
        values, fixed = _splat(dst, disp, gx, gy)
        # Static: the roi's border, everything beyond the static ring, the shoulders and chest.
        mx, my = np.meshgrid(gx, gy)
        # One cell inside the ring: linear upsampling spreads a node's value one cell outwards.
        far = np.hypot(mx - centre[0], my - centre[1]) > reach - 1.5 * cell
        chin_y = float(self.track.landmarks[s, CHIN, 1])
        body = (my > chin_y + SHOULDER_BELOW_CHIN_H * height) & (np.abs(mx - centre[0]) > SHOULDER_SIDE_W * width)
        body |= my > chin_y + CHEST_BELOW_CHIN_H * height
        static = far | body
        static[0], static[-1], static[:, 0], static[:, -1] = True, True, True, True
        values[static] = 0.0
        coarse = _harmonic_fill(values, fixed | static).astype(np.float32)
        coarse = cv2.GaussianBlur(coarse, (0, 0), FIELD_BLUR_CELLS, borderType=cv2.BORDER_CONSTANT)
        coarse[static] = 0.0  # the blur must not leak motion back onto static ground
        # The changed region: cells that move, grown by one cell (the upsampling spreads them).
        moving = np.nonzero(cv2.dilate((np.abs(coarse).max(axis=2) > MOVED_PX).astype(np.uint8), np.ones((3, 3))))
        if len(moving[0]) == 0:
            return None
        dense = cv2.resize(coarse, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        sx, sy = (x1 - x0) / nx, (y1 - y0) / ny
        box = (x0 + int(np.floor(moving[1].min() * sx)), y0 + int(np.floor(moving[0].min() * sy)),
               x0 + min(x1 - x0, int(np.ceil((moving[1].max() + 1) * sx))),
               y0 + min(y1 - y0, int(np.ceil((moving[0].max() + 1) * sy))))
        bx0, by0, bx1, by1 = box
        # Absolute backward map of the moving box only (outside it the map is the identity).
        map_xy = cv2.add(dense[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0], self._coords(shape)[by0:by1, bx0:bx1])
        return box, map_xy

    def fields(
        self, shape: tuple[int, int], frames: range | None = None
    ) -> Iterator[tuple[tuple[int, int, int, int], np.ndarray] | None]:
        """:meth:`field` of every output frame in ``frames`` (default: all), in order.

        The field depends only on the plan and the face track, never on pixels, so the pipeline
        computes it on another thread ahead of the renderer (the harmonic solve and the dense
        upsampling are most of head mode's extra cost).
        """
        for k in range(self.plan.n_out) if frames is None else frames:
            yield self.field(k, shape)

    def _coords(self, shape: tuple[int, int]) -> np.ndarray:
        """float32[h, w, 2] pixel coordinates (x, y), built once per frame size."""
        if self._grid is None or self._grid.shape[:2] != shape:
            ys, xs = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
            self._grid = np.dstack([xs, ys])
        return self._grid

    def apply(
        self, k: int, rgb: np.ndarray, edit_box: tuple[int, int, int, int] | None, *, inplace: bool = False,
        field: object = _UNSET,
    ) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
        """Output frame ``k`` with its head rotated; untouched (same array, same box) without a delta or face.

        ``inplace=True`` lets it write into ``rgb`` (the caller's own copy, e.g. the renderer's
        edited frame) instead of copying the whole frame first. ``field`` is this frame's
        :meth:`field` when the caller computed it ahead (see :meth:`fields`).
        """
        got = self.field(k, rgb.shape[:2]) if field is _UNSET else field
        if got is None:
            return rgb, edit_box
        box, map_xy = got
        bx0, by0, bx1, by1 = box
        warped = cv2.remap(rgb, map_xy, None, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out = rgb if inplace else rgb.copy()
        out[by0:by1, bx0:bx1] = warped
        if edit_box is not None:
            box = (min(box[0], edit_box[0]), min(box[1], edit_box[1]), max(box[2], edit_box[2]), max(box[3], edit_box[3]))
        return out, box
