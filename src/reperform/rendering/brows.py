"""Raised brows (AU1 inner, AU2 outer): the brow moves as a whole, the lid skin below it stretches.

A smooth warp cannot raise a brow well. Its field changes over a few hundredths of the
inter-ocular distance, while the band between a brow's lower edge and the lid crease is barely
wider than that: the brow's lower edge lags its upper edge, and the hair is stretched down into
a tall dark smear (dfrf's anchor at surprise looked as if his brows had been painted on with a
thumb). Here, as for the lids (:mod:`.eyes`), the move is a 1-D remap down each pixel column of
the brow in the normalised face frame:

- the forehead above the brow is compressed by the rise (where frontalis folds it; the texture
  pass adds the furrows),
- the brow itself — from its top to a little below its lower edge, BROW_RIGID_SHARE of the way
  to the lid crease, where the last sparse hairs sit — moves up rigidly,
- the lid skin between the brow and the crease stretches to fill the gap, and
- nothing below the crease moves (the eye keeps its shape).

Per column the rise is interpolated along the brow from the planned displacements of the brow's
mesh points and tapers to zero beyond the brow's ends, so the columns join without a seam.
"""

from __future__ import annotations

import cv2
import numpy as np

from .. import landmarks as L
from .geometry import apply, invert

#: Mesh points along each brow's upper and lower edge and the lid crease below it (subject's right
#: side first), outer end to inner end.
BROW_TOP, BROW_BOTTOM, LID_CREASE = L.BROW_TOP, L.BROW_BOTTOM, L.LID_CREASE
#: The brow block that moves rigidly reaches this share of the way from its lower edge to the
#: lid crease (the sparse hairs just under the mesh's brow line go with the brow).
BROW_RIGID_SHARE = 0.4
#: The lid skin stretched into the gap is taken from this share of the band below the brow block
#: down to the crease (the upper part is in the brow's shadow).
LID_SKIN_FROM = 0.4
#: Along-the-brow smoothing (σ, inter-ocular units) of stretched lid skin, and the light it gains
#: (share of its brightness) once the brow no longer shades it.
STREAK_SMOOTH_IOD = 0.03
REVEAL_LIGHT = 0.06
#: The forehead compresses over this height above the brow (inter-ocular units).
FOREHEAD_REACH_IOD = 0.35
#: Beyond the brow's ends the rise tapers to zero over this width (inter-ocular units).
END_TAPER_IOD = 0.06
#: Below this rise (px) nothing is drawn.
STILL_PX = 0.3
#: Glasses: the bridge between the eyes holds horizontal edges this many times stronger than the
#: forehead's skin (set between the dev faces with and without glasses: docs/tuning.md,
#: "Expression").
GLASSES_EDGE_RATIO = 6.0


def _curve(lm: np.ndarray, idx: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    pts = lm[list(idx)]
    o = np.argsort(pts[:, 0])
    return pts[o, 0], pts[o, 1]


def lift(frame: np.ndarray, face_norm: np.ndarray, rise: np.ndarray, m_cur: np.ndarray, side: int,
         box: tuple[int, int, int, int] | None, inplace: bool = False):
    """Raise brow ``side`` by ``rise[len(BROW_TOP[side])]`` (normalised units, ≥ 0, one per upper
    brow point) on ``frame`` whose face sits at normalised landmarks ``face_norm``; returns
    (frame, box grown by what changed)."""
    rise = np.maximum(np.asarray(rise, np.float64), 0.0)
    img_from_norm = invert(m_cur)
    px_n = 1.0 / max(float(np.sqrt(abs(np.linalg.det(img_from_norm[:, :2])))), 1e-6)
    if float(rise.max(initial=0.0)) / px_n < STILL_PX:
        return frame, box
    xt, yt = _curve(face_norm, BROW_TOP[side])
    xb, yb = _curve(face_norm, BROW_BOTTOM[side])
    xc, yc = _curve(face_norm, LID_CREASE[side])
    top_pts = face_norm[list(BROW_TOP[side])]
    o = np.argsort(top_pts[:, 0])
    xr = top_pts[o, 0]
    rr = rise[o]
    lo_x, hi_x = float(min(xt.min(), xb.min())), float(max(xt.max(), xb.max()))
    # Rise per column: along the brow from its points, tapering to 0 beyond both ends.
    xs_knots = np.concatenate([[lo_x - END_TAPER_IOD], xr, [hi_x + END_TAPER_IOD]])
    rs_knots = np.concatenate([[0.0], rr, [0.0]])
    y0n = float(yt.min() - rr.max() - FOREHEAD_REACH_IOD) - 0.01
    y1n = float(yc.max()) + 0.01
    x0n, x1n = lo_x - END_TAPER_IOD, hi_x + END_TAPER_IOD
    quad = apply(img_from_norm, np.array([[x0n, y0n], [x1n, y0n], [x0n, y1n], [x1n, y1n]]))
    H, W = frame.shape[:2]
    x0, y0 = np.maximum(np.floor(quad.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(quad.max(0)).astype(int) + 1, [W, H])
    if x1 - x0 < 3 or y1 - y0 < 3:
        return frame, box
    h, w = y1 - y0, x1 - x0
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    pn = apply(m_cur, np.stack([xx.ravel(), yy.ravel()], 1))
    x, y = pn[:, 0], pn[:, 1]
    r = np.interp(x, xs_knots, rs_knots, left=0.0, right=0.0)
    top = np.interp(x, xt, yt)
    bottom = np.interp(x, xb, yb)
    crease = np.maximum(np.interp(x, xc, yc), bottom + 0.02)
    rigid = bottom + BROW_RIGID_SHARE * (crease - bottom)
    fore = top - FOREHEAD_REACH_IOD
    src = y.copy()
    a = (y >= fore) & (y < top - r)
    src[a] = fore[a] + (y[a] - fore[a]) * (top[a] - fore[a]) / np.maximum(top[a] - r[a] - fore[a], 1e-6)
    b = (y >= top - r) & (y < rigid - r)
    src[b] = y[b] + r[b]
    # The lid skin that fills the gap comes from the lower part of the band (the upper part lies
    # in the brow's shadow and holds its last hairs: stretched, they streak).
    skin = rigid + LID_SKIN_FROM * (crease - rigid)
    c = (y >= rigid - r) & (y < crease)
    src[c] = skin[c] + (y[c] - (rigid[c] - r[c])) * (crease[c] - skin[c]) / np.maximum(crease[c] - rigid[c] + r[c], 1e-6)
    stretch = np.where(c, (crease - rigid + r) / np.maximum(crease - skin, 1e-6), 1.0)
    moved = np.abs(src - y) / px_n > STILL_PX * 0.5
    if not moved.any():
        return frame, box
    sp = apply(img_from_norm, np.stack([x, src], 1)).astype(np.float32)
    warped = cv2.remap(frame, sp[:, 0].reshape(h, w), sp[:, 1].reshape(h, w), interpolation=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    # Stretched skin carries vertical streaks of whatever varied along the band: smooth it along
    # the brow (horizontally) in proportion to the stretch, and let it catch a little light (the
    # brow no longer shades it).
    st = stretch.reshape(h, w).astype(np.float32)
    if float(st.max()) > 1.2:
        sig = max(STREAK_SMOOTH_IOD / px_n, 1.0)
        smooth = cv2.GaussianBlur(warped, (0, 0), sigmaX=sig, sigmaY=0.5).astype(np.float32)
        wgt = cv2.GaussianBlur(np.clip((st - 1.0) / 2.0, 0.0, 1.0), (0, 0), 1.0)[..., None]
        lit = 1.0 + REVEAL_LIGHT * wgt
        warped = np.clip((warped * (1 - wgt) + smooth * wgt) * lit + 0.5, 0, 255).astype(np.uint8)
    moved = moved.reshape(h, w)
    out = frame if inplace else frame.copy()
    np.copyto(out[y0:y1, x0:x1], warped, where=moved[..., None])
    rows, cols = np.nonzero(moved.any(axis=1))[0], np.nonzero(moved.any(axis=0))[0]
    ebox = (int(x0 + cols[0]), int(y0 + rows[0]), int(x0 + cols[-1] + 1), int(y0 + rows[-1] + 1))
    if box is not None:
        ebox = (min(box[0], ebox[0]), min(box[1], ebox[1]), max(box[2], ebox[2]), max(box[3], ebox[3]))
    return out, ebox


def glasses_score(frame: np.ndarray, face_norm: np.ndarray, m_cur: np.ndarray) -> float:
    """How strongly horizontal edges cross the nose bridge between the eyes, over the forehead's.

    A spectacle frame's bridge (and the rims' upper bars) sit right there; skin has none. Above
    GLASSES_EDGE_RATIO the face wears glasses, and its brows must not be warped as freely: the
    frame in front of them would bend with them.
    """
    img_from_norm = invert(m_cur)
    iod = float(np.sqrt(abs(np.linalg.det(img_from_norm[:, :2]))))
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)

    def edges(x0: float, x1: float, y0: float, y1: float) -> float:
        xs, ys = np.meshgrid(np.linspace(x0, x1, 12), np.linspace(y0, y1, 12))
        p = apply(img_from_norm, np.stack([xs.ravel(), ys.ravel()], 1)).astype(np.float32)
        lo = np.maximum(np.floor(p.min(0)).astype(int) - 4, 0)
        hi = np.minimum(np.ceil(p.max(0)).astype(int) + 5, [grey.shape[1], grey.shape[0]])
        if np.any(hi - lo < 4):
            return 0.0
        roi = cv2.GaussianBlur(grey[lo[1]:hi[1], lo[0]:hi[0]], (0, 0), max(0.01 * iod, 0.7))
        gy = np.abs(cv2.Sobel(roi, cv2.CV_32F, 0, 1))
        q = (p - lo).astype(np.float32)
        v = cv2.remap(gy, q[:, 0].reshape(12, 12), q[:, 1].reshape(12, 12), cv2.INTER_LINEAR)
        return float(v.max(0).mean())

    centre = face_norm[168]
    bridge = edges(centre[0] - 0.1, centre[0] + 0.1, centre[1] - 0.15, centre[1] + 0.1)
    top = float(face_norm[[107, 336], 1].mean())
    forehead = edges(centre[0] - 0.3, centre[0] + 0.3, top - 0.5, top - 0.3)
    return bridge / max(forehead, 1.0)
