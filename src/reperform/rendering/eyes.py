"""Eyes opened wide (upper lid raiser, AU5): the lid goes up and uncovers eyeball, not stretched eye.

Surprise and fear are read from the white showing above the iris. A smooth warp that lifts the
upper lid would stretch what is under it — the iris turns into an egg and no white appears. Here
the lid margin and lashes ride up rigidly, the lid skin above them folds into the crease
(compressed over a band of LID_SKIN_REACH_IOD, as a real lid folds), and the strip of eyeball
uncovered between the old and the new margin is painted from the person's own eye: the sclera's
colour measured in this frame's open eye, shaded where the lid overhangs it, and — inside the iris
circle (MediaPipe's refined iris points) — the iris's own texture mirrored from its lower half.

It is the mirror image of an added blink (:meth:`.expression.ExpressionWarp._blink`), and done
the same way: per pixel column of the eye in the normalised frame, at full resolution on the
eye's box only.
"""

from __future__ import annotations

import cv2
import numpy as np

from .. import landmarks as L
from .geometry import apply, invert

#: At AU5 intensity 1 the upper lid rises to show this much sclera above the iris (share of the
#: iris radius) — the white above the iris people read as surprise or fear...
SCLERA_SHOW_IRIS = 0.5
#: ... and at least this share of the lid gap (an eye already open that far still widens).
MIN_RAISE_SHARE = 0.4
#: The rise is capped (inter-ocular units): the lid skin above has to fold into the crease.
MAX_RAISE_IOD = 0.1
#: Height (inter-ocular units) of lid skin above the lashes that folds into the crease.
LID_SKIN_REACH_IOD = 0.14
#: Height (inter-ocular units) of the lash band that rides up with the margin, unchanged, and how
#: far below the mesh's lid contour the lashes reach (they hang over the eyeball).
LASH_IOD = 0.03
LASH_BELOW_IOD = 0.012
#: The uncovered sclera is darkened by up to this share right under the lid (its shadow), fading
#: over SHADOW_SHARE of the uncovered strip's height.
SHADOW_DEPTH = 0.3
SHADOW_SHARE = 0.8
#: Eyes whose lid gap is under IRIS_SEEN_FROM of the iris's diameter are not widened, fully from
#: IRIS_SEEN_FROM + IRIS_SEEN_SPAN (vr4's downcast eyes: 0.2-0.4; open eyes of the dev faces ≥ 0.6).
IRIS_SEEN_FROM = 0.4
IRIS_SEEN_SPAN = 0.25
#: Below this rise (px) nothing is drawn.
STILL_PX = 0.3
#: Sclera colour: this quantile of brightness among the open eye's pixels outside the iris.
SCLERA_QUANTILE = 0.75

UPPER_LID, LOWER_LID, EYE_CORNERS, IRIS = L.UPPER_LID, L.LOWER_LID, L.EYE_CORNERS, L.IRIS


def _lid_curves(lm: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    corners = EYE_CORNERS[side]
    up = lm[[corners[0], *UPPER_LID[side], corners[1]]]
    lo = lm[[corners[0], *LOWER_LID[side], corners[1]]]
    ou, ol = np.argsort(up[:, 0]), np.argsort(lo[:, 0])
    return up[ou, 0], up[ou, 1], lo[ol, 0], lo[ol, 1]


def widen(frame: np.ndarray, lm: np.ndarray, m_cur: np.ndarray, level: float, side: int, box,
          inplace: bool = False):
    """Raise eye ``side``'s upper lid by ``level`` (0..1; 1 shows SCLERA_SHOW_IRIS of white above the
    iris, at least MIN_RAISE_SHARE of the gap, at most MAX_RAISE_IOD); returns (frame, box).

    ``lm`` are the frame's normalised landmarks (478 with the iris points), ``m_cur`` image →
    normalised.
    """
    if lm.shape[0] < 478 or level <= 0:
        return frame, box
    xu, yu_pts, xl, yl_pts = _lid_curves(lm, side)
    img_from_norm = invert(m_cur)
    px_n = 1.0 / max(float(np.sqrt(abs(np.linalg.det(img_from_norm[:, :2])))), 1e-6)
    iris = lm[list(IRIS[side])]
    ic = iris[0]
    ir = float(np.mean(np.linalg.norm(iris[1:] - ic, axis=1)))
    gap_x = np.interp(xu, xl, yl_pts) - yu_pts
    gap_mid = float(np.max(gap_x))
    lid_at_iris = float(np.interp(ic[0], xu, yu_pts))
    want = max(lid_at_iris - (ic[1] - (1.0 + SCLERA_SHOW_IRIS) * ir), MIN_RAISE_SHARE * gap_mid)
    # A lid that hides most of the iris (a downcast gaze) has nothing to uncover that we could
    # paint: the "iris mirrored from its lower half" would be the lid itself, and the eye came
    # out a dark hole (videoretalking_4). Such eyes widen only as far as the iris shows.
    seen = float(np.clip((gap_mid / max(2 * ir, 1e-6) - IRIS_SEEN_FROM) / IRIS_SEEN_SPAN, 0.0, 1.0))
    raise_mid = level * seen * min(want, MAX_RAISE_IOD)
    if raise_mid / px_n < STILL_PX or gap_mid <= 0:
        return frame, box
    reach = LID_SKIN_REACH_IOD
    lo_n = np.array([xu.min() - 0.02, yu_pts.min() - reach - 0.01])
    hi_n = np.array([xu.max() + 0.02, yl_pts.max() + 0.01])
    quad = apply(img_from_norm, np.array([lo_n, [hi_n[0], lo_n[1]], [lo_n[0], hi_n[1]], hi_n]))
    H, W = frame.shape[:2]
    x0, y0 = np.maximum(np.floor(quad.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(quad.max(0)).astype(int) + 1, [W, H])
    if x1 - x0 < 3 or y1 - y0 < 3:
        return frame, box
    h, w = y1 - y0, x1 - x0
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    pn = apply(m_cur, np.stack([xx.ravel(), yy.ravel()], 1))
    x, y = pn[:, 0], pn[:, 1]
    yu = np.interp(x, xu, yu_pts)
    yl = np.interp(x, xl, yl_pts)
    inside_x = (x > xu.min()) & (x < xu.max())
    gap = np.maximum(yl - yu, 0.0) * inside_x
    # The lid rises most at its middle, not at all at the corners: a share of the local gap
    # (the gap itself already tapers to zero at the corners).
    raise_ = raise_mid * np.clip(gap / gap_mid, 0.0, 1.0)
    margin = yu + LASH_BELOW_IOD * (gap > 0)  # the lashes' lower edge, over the eyeball
    edge = margin - raise_
    top = yu - reach
    band = reach + LASH_BELOW_IOD - LASH_IOD  # skin between the crease reach and the lashes
    # Source row of each output pixel above the old margin (skin compressed, lashes moved up).
    src_y = np.where(y < edge - LASH_IOD, top + (y - top) * band / np.maximum(band - raise_, 1e-3), y + raise_)
    above = (y >= top) & (y < edge) & (raise_ > 0)
    uncovered = (y >= edge) & (y < margin) & (raise_ > 0)
    src = apply(img_from_norm, np.stack([x, np.where(above, src_y, y)], 1)).astype(np.float32)
    warped = cv2.remap(frame, src[:, 0].reshape(h, w), src[:, 1].reshape(h, w),
                       interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(-1, 3).astype(np.float32)
    # The eyeball uncovered: sclera colour of this eye, the iris mirrored from its lower half.
    flat = frame[y0:y1, x0:x1].reshape(-1, 3).astype(np.float32)
    open_eye = (y > yu) & (y < yl) & (np.hypot(x - ic[0], y - ic[1]) > 1.15 * ir)
    if open_eye.sum() >= 4:
        bright = flat[open_eye].mean(1)
        sel = bright >= np.quantile(bright, SCLERA_QUANTILE)
        sclera = np.median(flat[open_eye][sel], axis=0)
    else:
        sclera = np.array([215.0, 205.0, 200.0], np.float32)
    depth = np.clip((y - edge) / np.maximum(SHADOW_SHARE * (margin - edge), 1e-6), 0.0, 1.0)
    paint = sclera[None, :] * (1 - SHADOW_DEPTH * (1 - depth))[:, None]
    in_iris = np.hypot(x - ic[0], y - ic[1]) < ir
    if in_iris.any() and ir > 0:
        mirror = apply(img_from_norm, np.stack([x, 2 * ic[1] - y], 1)).astype(np.float32)
        sample = cv2.remap(frame, mirror[:, 0].reshape(h, w), mirror[:, 1].reshape(h, w),
                           interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(-1, 3)
        iris_px = sample.astype(np.float32) * (1 - 0.5 * SHADOW_DEPTH * (1 - depth))[:, None]
        paint = np.where(in_iris[:, None], iris_px, paint)
    result = np.where(uncovered[:, None], paint, warped)
    # Anti-alias the iris rim and the new margin's lower edge by one pixel.
    changed = (above | uncovered).reshape(h, w)
    if not changed.any():
        return frame, box
    result = result.reshape(h, w, 3)
    soft = cv2.GaussianBlur(result, (0, 0), 0.6)
    u8 = uncovered.reshape(h, w).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    band = cv2.dilate(u8, kernel).astype(bool) & ~cv2.erode(u8, kernel).astype(bool)
    result = np.where(band[..., None], soft, result)
    out = frame if inplace else frame.copy()
    roi = out[y0:y1, x0:x1]
    mask = cv2.dilate(changed.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    np.copyto(roi, np.clip(result + 0.5, 0, 255).astype(np.uint8), where=mask[..., None])
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    ebox = (int(x0 + cols[0]), int(y0 + rows[0]), int(x0 + cols[-1] + 1), int(y0 + rows[-1] + 1))
    if box is not None:
        ebox = (min(box[0], ebox[0]), min(box[1], ebox[1]), max(box[2], ebox[2]), max(box[3], ebox[3]))
    return out, ebox
