"""Piecewise-affine backward warp of an exemplar crop onto target geometry, on a region of interest.

For every output pixel we need *where to sample* in the exemplar. Inside each triangle of the fixed
mesh that is one affine map; outside the mesh it is the rigid (similarity) alignment. Where the
mesh is whole the map is continuous, so it is evaluated on a grid ``MAP_STEP_PX`` times coarser than
the ROI and bilinearly upsampled: exact at the grid, sub-pixel close elsewhere, and ~10× cheaper.
Where it is not — lips closed over an open exemplar, whose mouth-hole triangles have no area, so
the upper lip's map meets the lower lip's along the seam — upsampling would blend the two maps
across a grid cell and sample the exemplar's dark gap between them: a stair-stepped crack along
the lips, one grid step per stair. Around such a seam the map is evaluated exactly, per pixel. The
sampling itself is bicubic at full resolution, so teeth and lip texture stay sharp.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Grid step of the map evaluation (px of the ROI): finer than any triangle of the mesh for
#: every face size (the mesh's smallest triangles are ~1/20 of the inter-ocular distance).
MAP_STEP_MIN_PX = 2
MAP_STEP_MAX_PX = 4
MAP_STEP_PER_IOD = 1 / 48


def map_step(iod_px: float) -> int:
    """Grid step (ROI px) the map is evaluated on for a face ``iod_px`` between the eyes."""
    return int(np.clip(round(iod_px * MAP_STEP_PER_IOD), MAP_STEP_MIN_PX, MAP_STEP_MAX_PX))


def triangle_affines(dst: np.ndarray, src: np.ndarray, tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-triangle 2×3 affines mapping ``dst`` triangles onto ``src`` triangles, ``float64[t, 2, 3]``.

    Closed form (the inverse of [[x], [y], [1]] by cofactors), batched: ~10× faster than a batched
    ``np.linalg.solve`` for a few hundred triangles. Degenerate destination triangles (a closed
    mouth's hole) are flagged in ``ok`` and never rasterised.
    """
    d = dst[tris]  # t,3,2
    s = src[tris]
    x0, y0 = d[:, 0, 0], d[:, 0, 1]
    x1, y1 = d[:, 1, 0], d[:, 1, 1]
    x2, y2 = d[:, 2, 0], d[:, 2, 1]
    det = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    ok = np.abs(det) > 1e-6
    inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    # Inverse of D = [[x0, x1, x2], [y0, y1, y2], [1, 1, 1]], rows = cofactor rows / det.
    inv = np.empty((len(tris), 3, 3))
    inv[:, 0, 0], inv[:, 0, 1], inv[:, 0, 2] = y1 - y2, x2 - x1, x1 * y2 - x2 * y1
    inv[:, 1, 0], inv[:, 1, 1], inv[:, 1, 2] = y2 - y0, x0 - x2, x2 * y0 - x0 * y2
    inv[:, 2, 0], inv[:, 2, 1], inv[:, 2, 2] = y0 - y1, x1 - x0, x0 * y1 - x1 * y0
    inv *= inv_det[:, None, None]
    out = np.einsum("tki,tkj->tij", s, inv)  # (2×3 src points) · D⁻¹
    return out, ok


def backward_map(
    shape: tuple[int, int],
    dst_pts: np.ndarray,
    src_pts: np.ndarray,
    tris: np.ndarray,
    rigid: np.ndarray,
    iod_px: float = 96.0,
    src_shape: tuple[int, int] | None = None,
    exact_box: tuple[int, int, int, int] | None = None,
    rigid_tris: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampling maps (map_x, map_y) ``float32[h, w]`` for ``cv2.remap``.

    ``dst_pts`` control points in ROI pixels, ``src_pts`` the same points in exemplar pixels,
    ``rigid`` the 2×3 ROI→exemplar similarity used outside the mesh. Inside ``exact_box``
    (x0, y0, x1, y1 of the ROI: around the lips' seam) the mesh's map is evaluated per pixel, not
    upsampled (see the module docstring). Also returns where the map lands inside an exemplar of
    ``src_shape`` (h, w) as float32 0..1 (soft at the crop's edge: evaluated on the grid, so it
    costs nothing at full resolution). ``rigid_tris`` (bool per triangle) marks triangles known to
    map exactly as ``rigid`` does (nothing moved there): they are left to it, not rasterised.
    """
    h, w = shape
    step = map_step(iod_px)
    gh, gw = (h + step - 1) // step + 3, (w + step - 1) // step + 3
    # Grid cell j stands for ROI pixel (j − 1 + 0.5)·step − 0.5: exactly what cv2.resize's linear
    # upsampling assumes (so the map is not shifted by a fraction of a pixel), with one cell of
    # margin on every side so the ROI's border pixels are interpolated, not clamped.
    dst_grid = (dst_pts + 0.5) / step - 0.5 + 1
    affs, ok = triangle_affines(dst_grid, src_pts, tris)
    ids = np.full((gh, gw), -1, np.int32)
    corners = dst_grid[tris]
    # Only triangles that reach the grid (and are not known to be rigid) are rasterised.
    draw = ok & (corners[..., 0].max(1) >= 0) & (corners[..., 0].min(1) <= gw) \
        & (corners[..., 1].max(1) >= 0) & (corners[..., 1].min(1) <= gh)
    if rigid_tris is not None:
        draw &= ~rigid_tris
    tri_px = np.round(corners[draw] * 16).astype(np.int32)  # 4 fractional bits
    # One call per triangle: positional arguments over a list of small arrays keep the Python
    # overhead per call (a few hundred per frame) at ~1 µs; OpenCV fills the tiny triangles fast.
    fill, line8 = cv2.fillConvexPoly, cv2.LINE_8
    for t, poly in zip(np.nonzero(draw)[0].tolist(), list(tri_px), strict=True):
        fill(ids, poly, t, line8, 4)
    # Outside the mesh the rigid map applies: it becomes one more "triangle" (index -1 → last).
    g2p = np.array([[step, 0.0, -0.5 * step - 0.5], [0.0, step, -0.5 * step - 0.5]])  # grid → ROI px
    rig = rigid.astype(np.float64)
    rig_grid = np.hstack([rig[:, :2] @ g2p[:, :2], (rig[:, :2] @ g2p[:, 2] + rig[:, 2])[:, None]])
    coef = np.concatenate([affs.reshape(-1, 6), rig_grid.reshape(1, 6)]).astype(np.float32)
    c = coef[ids]  # (gh, gw, 6); ids == -1 picks the rigid row
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    mx = c[..., 0] * gx + c[..., 1] * gy + c[..., 2]
    my = c[..., 3] * gx + c[..., 4] * gy + c[..., 5]
    big = (gw * step, gh * step)
    map_x = cv2.resize(mx, big, interpolation=cv2.INTER_LINEAR)[step:step + h, step:step + w]
    map_y = cv2.resize(my, big, interpolation=cv2.INTER_LINEAR)[step:step + h, step:step + w]
    if exact_box is not None:
        _exact_map(map_x, map_y, dst_pts, src_pts, tris, exact_box)
    if src_shape is None:
        valid = np.ones((h, w), np.float32)
    else:
        sh, sw = src_shape
        inside_src = ((mx >= 1) & (mx <= sw - 2) & (my >= 1) & (my <= sh - 2)).astype(np.float32)
        valid = cv2.resize(inside_src, big, interpolation=cv2.INTER_LINEAR)[step:step + h, step:step + w]
        valid[valid < 0.999] = 0.0  # only where the whole neighbourhood is real exemplar pixels
    return np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), np.ascontiguousarray(valid)


def _exact_map(map_x: np.ndarray, map_y: np.ndarray, dst_pts: np.ndarray, src_pts: np.ndarray,
               tris: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Overwrite the maps inside ``box`` with the mesh's per-pixel map (pixels the mesh does not
    cover keep the upsampled values)."""
    h, w = map_x.shape
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(w, int(box[2])), min(h, int(box[3]))
    if x1 <= x0 or y1 <= y0:
        return
    local = dst_pts - np.array([x0, y0], np.float64)
    corners = local[tris]  # t,3,2
    near = ((corners[..., 0].max(1) >= -1) & (corners[..., 0].min(1) <= x1 - x0)
            & (corners[..., 1].max(1) >= -1) & (corners[..., 1].min(1) <= y1 - y0))
    sub = tris[near]
    affs, ok = triangle_affines(local, src_pts, sub)
    ids = np.full((y1 - y0, x1 - x0), -1, np.int32)
    fill, line8 = cv2.fillConvexPoly, cv2.LINE_8
    polys = np.round(corners[near] * 16).astype(np.int32)  # 4 fractional bits
    # Smallest first, so larger triangles win the pixels they share: a mouth hole a fraction of
    # a pixel high still gets whole rows from the rasteriser, and its map (the exemplar's whole
    # gap squeezed into it) would sample far outside the lips there.
    c3 = corners[near]
    area = np.abs((c3[:, 1, 0] - c3[:, 0, 0]) * (c3[:, 2, 1] - c3[:, 0, 1])
                  - (c3[:, 2, 0] - c3[:, 0, 0]) * (c3[:, 1, 1] - c3[:, 0, 1]))
    order = [t for t in np.argsort(area, kind="stable").tolist() if ok[t]]
    for t in order:
        fill(ids, polys[t], t, line8, 4)
    ys, xs = np.nonzero(ids >= 0)
    if ys.size == 0:
        return
    c = affs.reshape(-1, 6)[ids[ys, xs]]
    xf, yf = xs.astype(np.float64), ys.astype(np.float64)
    map_x[y0 + ys, x0 + xs] = c[:, 0] * xf + c[:, 1] * yf + c[:, 2]
    map_y[y0 + ys, x0 + xs] = c[:, 3] * xf + c[:, 4] * yf + c[:, 5]


def sample(
    img: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, detail_box: tuple[int, int, int, int] | None = None
) -> np.ndarray:
    """Sample ``img`` (uint8) through the maps; returns uint8 pixels.

    Bilinear everywhere (skin is smooth), bicubic inside ``detail_box`` (x0, y0, x1, y1 of the
    ROI: the lips and teeth), where bilinear's half-pixel softening would show: a third of the cost
    of bicubic everywhere for the same visible sharpness.
    """
    out = cv2.remap(img, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if detail_box is not None:
        x0, y0, x1, y1 = detail_box
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = cv2.remap(img, map_x[y0:y1, x0:x1], map_y[y0:y1, x0:x1],
                                          interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return out
