"""Piecewise-affine backward warp of an exemplar crop onto target geometry, on a region of interest.

For every output pixel we need *where to sample* in the exemplar. Inside each triangle of the fixed
mesh that is one affine map; outside the mesh it is the rigid (similarity) alignment. A piecewise
affine map is continuous, so it is evaluated on a grid ``MAP_STEP_PX`` times coarser than the ROI and
bilinearly upsampled: exact at the grid, sub-pixel close elsewhere, and ~10× cheaper. The sampling
itself is bicubic at full resolution, so teeth and lip texture stay sharp.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Grid step of the map evaluation (px of the ROI).
MAP_STEP_PX = 2


def triangle_affines(dst: np.ndarray, src: np.ndarray, tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-triangle 2×3 affines mapping ``dst`` triangles onto ``src`` triangles, ``float64[t, 2, 3]``.

    Solved in one batch; degenerate destination triangles (a closed mouth's hole) get the identity
    of their first vertex and are never rasterised anyway.
    """
    d = dst[tris]  # t,3,2
    s = src[tris]
    a = np.concatenate([d, np.ones((len(tris), 3, 1))], axis=2)  # t,3,3
    det = np.linalg.det(a)
    ok = np.abs(det) > 1e-6
    out = np.zeros((len(tris), 2, 3))
    out[:, 0, 0] = out[:, 1, 1] = 1.0
    if ok.any():
        sol = np.linalg.solve(a[ok], s[ok])  # (3,3)·(3,2) → coefficients for x', y'
        out[ok] = np.transpose(sol, (0, 2, 1))
    return out, ok


def backward_map(
    shape: tuple[int, int],
    dst_pts: np.ndarray,
    src_pts: np.ndarray,
    tris: np.ndarray,
    rigid: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Sampling maps (map_x, map_y) ``float32[h, w]`` for ``cv2.remap``.

    ``dst_pts`` control points in ROI pixels, ``src_pts`` the same points in exemplar pixels,
    ``rigid`` the 2×3 ROI→exemplar similarity used outside the mesh.
    """
    h, w = shape
    step = MAP_STEP_PX
    gh, gw = (h + step - 1) // step + 1, (w + step - 1) // step + 1
    # Grid cell j stands for ROI pixel (j + 0.5)·step − 0.5: exactly what cv2.resize's linear
    # upsampling assumes, so the upsampled map is not shifted by a fraction of a pixel.
    dst_grid = (dst_pts + 0.5) / step - 0.5
    affs, ok = triangle_affines(dst_grid, src_pts, tris)
    ids = np.full((gh, gw), -1, np.int32)
    tri_px = np.round(dst_grid[tris] * 16).astype(np.int32)  # 4 fractional bits
    for t in np.nonzero(ok)[0]:
        cv2.fillConvexPoly(ids, tri_px[t], int(t), lineType=cv2.LINE_8, shift=4)
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float64)
    px, py = (gx + 0.5) * step - 0.5, (gy + 0.5) * step - 0.5
    rig = rigid.astype(np.float64)
    mx = rig[0, 0] * px + rig[0, 1] * py + rig[0, 2]
    my = rig[1, 0] * px + rig[1, 1] * py + rig[1, 2]
    inside = ids >= 0
    if inside.any():
        a = affs[ids[inside]]
        x, y = gx[inside], gy[inside]
        mx[inside] = a[:, 0, 0] * x + a[:, 0, 1] * y + a[:, 0, 2]
        my[inside] = a[:, 1, 0] * x + a[:, 1, 1] * y + a[:, 1, 2]
    big = (gw * step, gh * step)
    map_x = cv2.resize(mx.astype(np.float32), big, interpolation=cv2.INTER_LINEAR)[:h, :w]
    map_y = cv2.resize(my.astype(np.float32), big, interpolation=cv2.INTER_LINEAR)[:h, :w]
    return np.ascontiguousarray(map_x), np.ascontiguousarray(map_y)


def sample(img: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bicubic sampling of ``img``; returns (pixels float32[h, w, 3], valid float32[h, w] 0/1)."""
    out = cv2.remap(img, map_x, map_y, interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    h, w = img.shape[:2]
    valid = ((map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)).astype(np.float32)
    return out.astype(np.float32), valid
