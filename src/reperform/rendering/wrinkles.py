"""Expression texture: the creases, folds and highlights that make a moved face read as an emotion.

People read expressions from texture as much as from shape: the Duchenne smile's crow's feet and
the bulge under the lower lid, the deepened nasolabial fold, the vertical lines between lowered
brows, the horizontal forehead lines of raised brows, the wrinkled nose of disgust. A warp alone
moves points; it cannot make a fold. So each action unit also *shades* the person's own skin:
a crease is a thin line where the skin is darkened (multiplied, so its colour, pores and grain
stay theirs) with, for folds, a broad highlight on the bulging side (the relit skin that a fold
pushes up). Shadows are kept warm (red darkens less), as skin in a crease is.

Every line is placed on the frame's *warped* landmarks in the normalised face frame (see
:mod:`.geometry`), so it moves with the expression and the head, and its width and depth are in
inter-ocular units — the same look at any resolution. Lines taper at their ends and carry a
small fixed wobble so they do not read as drawn. ``neutral`` does the opposite:
:func:`smooth_creases` irons out the person's own frown and forehead lines a little.

The shading map is drawn per line group (same width and sign) as anti-aliased polylines on a
small canvas over the lines' box, blurred to the crease profile and applied in one multiply.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import apply, invert

#: AU column order (the expression module's; a test checks they agree).
AUS: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU15", "AU23", "AU26")
_A = {name: i for i, name in enumerate(AUS)}
#: Largest darkening any crease reaches (share of the skin's brightness) and the canvas scale.
MAX_DEPTH = 0.5
#: Red keeps this share of a shadow's darkening: skin in a crease is darker *and* redder.
WARM_RED_SHARE = 0.85
#: Thinnest crease (px, σ): thinner than this, a line aliases into dots.
MIN_SIGMA_PX = 0.6
#: Below this shading level nothing is drawn.
STILL_LEVEL = 0.01

# Crease depths (share of brightness) and widths (σ, inter-ocular units) at AU intensity 1.
FOREHEAD_DEPTH, FOREHEAD_SIGMA = 0.24, 0.009
GLABELLA_DEPTH, GLABELLA_SIGMA = 0.24, 0.011
NOSE_DEPTH, NOSE_SIGMA = 0.26, 0.008
FOLD_DEPTH, FOLD_SIGMA = 0.22, 0.012
FOLD_LIGHT, FOLD_LIGHT_SIGMA = 0.12, 0.035
CROW_DEPTH, CROW_SIGMA = 0.24, 0.006
LID_DEPTH, LID_SIGMA = 0.20, 0.010
LID_LIGHT, LID_LIGHT_SIGMA = 0.07, 0.02
BROW_SHADOW, BROW_SHADOW_SIGMA = 0.14, 0.035
MARIONETTE_DEPTH, MARIONETTE_SIGMA = 0.18, 0.012
CHEEK_LIGHT, CHEEK_LIGHT_SIGMA = 0.06, 0.08
#: Creases start at this AU intensity and are full this much above it.
CREASE_FROM = 0.15
CREASE_FULL = 0.6
#: ``neutral``'s crease ironing: blur radius (inter-ocular units) and largest blend share.
IRON_SIGMA_IOD = 0.04
IRON_SHARE = 0.75

# Mesh contours used to place the lines (MediaPipe indices; subject's right side first).
_BROW_TOP = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
_INNER_BROW_LOW = (55, 285)
_OUTER_EYE = (33, 263)
_LOWER_LID = ((7, 163, 144, 145, 153), (249, 390, 373, 374, 380))
_LID_CREASE = ((247, 30, 29, 27, 28, 56, 190), (467, 260, 259, 257, 258, 286, 414))
_NOSE_WING = (129, 358)
_CORNERS = (61, 291)
_CHEEK_APPLE = (50, 280)
_NOSE_ROOT, _NOSE_BRIDGE = 168, 6


@dataclass(frozen=True, slots=True)
class Line:
    """One crease or highlight: polyline ``pts[m, 2]`` (normalised), per-vertex ``weight[m]`` 0..1,
    signed ``amp`` (negative darkens) and width ``sigma`` (inter-ocular units)."""

    pts: np.ndarray
    weight: np.ndarray
    amp: float
    sigma: float


def _ramp(level: float) -> float:
    t = float(np.clip((level - CREASE_FROM) / CREASE_FULL, 0.0, 1.0))
    return t * t * (3 - 2 * t)


def _taper(m: int) -> np.ndarray:
    """0 → 1 → 0 along a line's vertices (sine), so creases fade out at their ends."""
    return np.sin(np.linspace(0.0, np.pi, m)) ** 0.7


def _curve(a: np.ndarray, b: np.ndarray, bow: float, m: int = 12, wobble: float = 0.0, seed: int = 0) -> np.ndarray:
    """Points from ``a`` to ``b`` bowed sideways by ``bow`` (normal to the chord) plus a fixed wobble."""
    t = np.linspace(0.0, 1.0, m)[:, None]
    d = b - a
    nrm = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-9)
    off = bow * np.sin(np.pi * t) + wobble * np.sin(2 * np.pi * (1.7 * t + 0.37 * seed))
    return a + t * d + off * nrm


def lines_for(p: np.ndarray, au: np.ndarray) -> list[Line]:
    """Creases and highlights of AU intensities ``au[N_AUS]`` on normalised landmarks ``p[≥468, 2]``."""
    # Skin folds only once a muscle pulls hard enough: each AU's crease level ramps in from
    # CREASE_FROM (a brow flick on a stressed syllable leaves the forehead smooth).
    a = {name: _ramp(float(au[i])) for name, i in _A.items()}
    out: list[Line] = []
    # A turned head foreshortens its far side: sideways offsets shrink with it, and lines on a
    # side seen too obliquely fade (a crease drawn flat there would sit in the wrong place).
    half = np.array([p[_NOSE_ROOT, 0] - p[_OUTER_EYE[0], 0], p[_OUTER_EYE[1], 0] - p[_NOSE_ROOT, 0]])
    fore = np.clip(half / max(float(half.mean()), 1e-6), 0.3, 1.5)
    seen = np.clip((fore - 0.45) / 0.35, 0.0, 1.0)

    def off(side: int, dx: float, dy: float) -> np.ndarray:
        s = -1.0 if side == 0 else 1.0
        return np.array([s * dx * fore[side], dy])

    def add(pts: np.ndarray, weight: np.ndarray, amp: float, sigma: float) -> None:
        if abs(amp) * float(np.max(weight, initial=0.0)) > STILL_LEVEL:
            out.append(Line(np.asarray(pts, np.float64), np.clip(weight, 0.0, 1.0), amp, sigma))

    # Forehead: raised brows fold the frontalis into horizontal lines above them — central for the
    # inner brow raiser (AU1, sadness and surprise), across for the outer (AU2, surprise).
    if a["AU1"] + a["AU2"] > STILL_LEVEL:
        top = p[list(_BROW_TOP)]
        order = np.argsort(top[:, 0])
        xs = np.linspace(top[:, 0].min() + 0.12, top[:, 0].max() - 0.12, 24)
        brow_y = np.interp(xs, top[order, 0], top[order, 1])
        mid_x = float(np.mean(top[:, 0]))
        base = 0.45 * brow_y + 0.55 * float(np.mean(brow_y))
        central = np.exp(-0.5 * ((xs - mid_x) / 0.3) ** 2)
        lateral = np.exp(-0.5 * ((np.abs(xs - mid_x) - 0.6) / 0.22) ** 2)
        for k in range(3):
            y = base - (0.11 + 0.085 * k) + 0.006 * np.sin(xs * 13 + 2.1 * k)
            w = np.minimum(1.0, a["AU1"] * central + a["AU2"] * lateral) * _taper(len(xs)) * (1 - 0.15 * k)
            add(np.stack([xs, y], 1), w, -FOREHEAD_DEPTH, FOREHEAD_SIGMA)
            add(np.stack([xs, y - 0.025], 1), 0.6 * w, 0.35 * FOREHEAD_DEPTH, 2.2 * FOREHEAD_SIGMA)
    # Glabella: the brow lowerer (AU4) pulls the brows together into vertical lines between them,
    # and the procerus a short horizontal one at the nose root (stronger with the nose wrinkler).
    r_in, l_in = p[_INNER_BROW_LOW[0]], p[_INNER_BROW_LOW[1]]
    mx, gap = (r_in[0] + l_in[0]) / 2, max(float(l_in[0] - r_in[0]), 0.1)
    y_top = min(r_in[1], l_in[1]) - 0.09
    y_bot = float(p[_NOSE_ROOT, 1]) - 0.01
    if a["AU4"] > STILL_LEVEL:
        for side, s in ((0, -1), (1, 1)):
            pts = _curve(np.array([mx + s * 0.2 * gap, y_top]), np.array([mx + s * 0.15 * gap, y_bot]),
                         0.01 * s, wobble=0.003, seed=s)
            w = a["AU4"] * _taper(len(pts)) * seen[side]
            add(pts, w, -GLABELLA_DEPTH, GLABELLA_SIGMA)
            add(pts + off(side, 0.03, 0.0), 0.7 * w, 0.25 * GLABELLA_DEPTH, 2.5 * GLABELLA_SIGMA)
        # The lowered brow shades the upper lid (the glare of anger).
        for side in (0, 1):
            crease = p[list(_LID_CREASE[side])]
            add(crease, a["AU4"] * _taper(len(crease)) ** 0.3 * seen[side], -BROW_SHADOW, BROW_SHADOW_SIGMA)
    procerus = min(1.0, 0.5 * a["AU4"] + a["AU9"])
    if procerus > STILL_LEVEL:
        y = float(p[_NOSE_ROOT, 1]) + 0.01
        pts = _curve(np.array([mx - 0.09, y]), np.array([mx + 0.09, y]), 0.01, m=8)
        add(pts, procerus * _taper(8), -0.6 * NOSE_DEPTH, NOSE_SIGMA)
    # Nose wrinkler (AU9): oblique lines down the sides of the bridge.
    if a["AU9"] > STILL_LEVEL:
        bridge = p[_NOSE_BRIDGE]
        for side, s in ((0, -1), (1, 1)):
            for j in range(3):
                a0 = bridge + off(side, 0.035, -0.04 + 0.045 * j)
                a1 = bridge + off(side, 0.15, 0.03 + 0.05 * j)
                pts = _curve(a0, a1, -0.012 * s, m=8, wobble=0.003, seed=j)
                add(pts, a["AU9"] * _taper(8) * (1 - 0.2 * j) * seen[side], -NOSE_DEPTH, NOSE_SIGMA)
    # Nasolabial fold: deepened by the smile (AU12), the upper-lip raiser (AU10) and the nose
    # wrinkler; the cheek beside it bulges into the light.
    fold = min(1.0, a["AU12"] + 0.7 * a["AU10"] + 0.5 * a["AU9"] + 0.3 * a["AU6"])
    if fold > STILL_LEVEL:
        for side, s in ((0, -1), (1, 1)):
            wing, corner = p[_NOSE_WING[side]], p[_CORNERS[side]]
            start = wing + off(side, 0.03, -0.02)
            end = corner + off(side, 0.07, 0.02)
            pts = _curve(start, end, 0.04 * -s * fore[side], m=14, wobble=0.004, seed=side)
            w = fold * _taper(14) ** 0.6 * seen[side]
            add(pts, w, -FOLD_DEPTH, FOLD_SIGMA)
            add(pts + off(side, 0.045, -0.01), w, FOLD_LIGHT, FOLD_LIGHT_SIGMA)
    # Duchenne smile (AU6): crow's feet fan out from the outer eye corners, the lower lid bulges
    # up with a crease under it, the cheek apples rise into the light.
    if a["AU6"] > STILL_LEVEL:
        for side, s in ((0, -1), (1, 1)):
            c = p[_OUTER_EYE[side]]
            for j, ang in enumerate((-0.45, -0.05, 0.35)):
                d = np.array([s * np.cos(ang) * fore[side], np.sin(ang)])
                pts = _curve(c + 0.05 * d, c + 0.15 * d, 0.01, m=7, wobble=0.002, seed=j)
                add(pts, a["AU6"] * _taper(7) * (0.8 + 0.2 * (j == 1)) * seen[side], -CROW_DEPTH, CROW_SIGMA)
            add(p[_CHEEK_APPLE[side]][None] + np.array([[-0.04, -0.06], [0.04, -0.06]]),
                np.full(2, a["AU6"] * seen[side]), CHEEK_LIGHT, CHEEK_LIGHT_SIGMA)
    lid = min(1.0, a["AU6"] + 0.5 * a["AU7"])
    if lid > STILL_LEVEL:
        for side in (0, 1):
            low = p[list(_LOWER_LID[side])]
            add(low + [0.0, 0.065], lid * _taper(len(low)) * seen[side], -LID_DEPTH, LID_SIGMA)
            add(low + [0.0, 0.035], lid * _taper(len(low)) * seen[side], LID_LIGHT, LID_LIGHT_SIGMA)
    # Lip corner depressor (AU15): short shadows down from the corners (the sad mouth).
    if a["AU15"] > STILL_LEVEL:
        for side, s in ((0, -1), (1, 1)):
            c = p[_CORNERS[side]]
            pts = _curve(c + off(side, 0.02, 0.03), c + off(side, 0.06, 0.17), 0.01 * s, m=8)
            add(pts, a["AU15"] * _taper(8) * seen[side], -MARIONETTE_DEPTH, MARIONETTE_SIGMA)
    return out


def _canvas_groups(lines: list[Line]) -> dict[tuple[float, int], list[Line]]:
    groups: dict[tuple[float, int], list[Line]] = {}
    for ln in lines:
        groups.setdefault((ln.sigma, 1 if ln.amp > 0 else -1), []).append(ln)
    return groups


def shading_map(lines: list[Line], img_from_norm: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """float32[h, w] multiplicative shading (−0.5..+0.5) over ``box`` (x0, y0, x1, y1) in image px."""
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    iod_px = float(np.sqrt(abs(np.linalg.det(img_from_norm[:, :2]))))
    total = np.zeros((h, w), np.float32)
    for (sigma, _sign), group in _canvas_groups(lines).items():
        canvas = np.zeros((h, w), np.uint8)
        for ln in group:
            pts = (apply(img_from_norm, ln.pts) - [x0, y0]) * 16.0
            lvl = np.abs(ln.amp) * ln.weight / MAX_DEPTH
            for i in range(len(pts) - 1):
                v = int(round(255 * min(1.0, 0.5 * (lvl[i] + lvl[i + 1]))))
                if v <= 0:
                    continue
                p0 = tuple(int(round(c)) for c in pts[i])
                p1 = tuple(int(round(c)) for c in pts[i + 1])
                cv2.line(canvas, p0, p1, v, 1, cv2.LINE_AA, shift=4)
        s_px = max(sigma * iod_px, MIN_SIGMA_PX)
        blurred = cv2.GaussianBlur(canvas.astype(np.float32), (0, 0), s_px)
        # A 1-px line blurred by σ peaks at 1/(√(2π)σ): scale back so the peak is the line's level.
        blurred *= np.sqrt(2 * np.pi) * s_px * MAX_DEPTH / 255.0
        total += (1.0 if _sign > 0 else -1.0) * np.minimum(blurred, MAX_DEPTH)
    return np.clip(total, -MAX_DEPTH, MAX_DEPTH)


def lines_box(lines: list[Line], img_from_norm: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Image box holding every line and 3σ around it, clipped to the frame; None if empty."""
    if not lines:
        return None
    iod_px = float(np.sqrt(abs(np.linalg.det(img_from_norm[:, :2]))))
    pts = np.concatenate([apply(img_from_norm, ln.pts) for ln in lines])
    pad = 3 * max(ln.sigma for ln in lines) * iod_px + 3
    x0, y0 = np.floor(pts.min(0) - pad).astype(int)
    x1, y1 = np.ceil(pts.max(0) + pad).astype(int)
    h, w = shape
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def shade(frame: np.ndarray, p_norm: np.ndarray, au: np.ndarray, m_cur: np.ndarray, *, inplace: bool = False
          ) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """Apply the creases of ``au`` to ``frame`` whose face sits at normalised landmarks ``p_norm``
    (``m_cur``: image → normalised). Returns the frame and the box that changed (or None)."""
    lines = lines_for(p_norm, au)
    img_from_norm = invert(m_cur)
    box = lines_box(lines, img_from_norm, frame.shape[:2])
    if box is None:
        return frame, None
    s = shading_map(lines, img_from_norm, box)
    if float(np.abs(s).max()) < 0.5 / 255:
        return frame, None
    x0, y0, x1, y1 = box
    gain = np.repeat((1.0 + s)[..., None], 3, axis=2)
    dark = s < 0
    gain[..., 0] = np.where(dark, 1.0 + WARM_RED_SHARE * s, gain[..., 0])
    out = frame if inplace else frame.copy()
    roi = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(roi * gain + 0.5, 0, 255).astype(np.uint8)
    return out, box


def smooth_creases(frame: np.ndarray, p_norm: np.ndarray, m_cur: np.ndarray, level: float, *,
                   inplace: bool = False) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """``neutral``: iron out the person's own frown and forehead lines by ``level`` (0..1).

    Creases are mid-frequency detail: blending towards a blur of IRON_SIGMA_IOD inside a soft mask
    over the glabella and the lower forehead flattens them while keeping the skin's colour; the
    share stays at IRON_SHARE at most, so pores and grain are dimmed, not erased.
    """
    if level <= STILL_LEVEL:
        return frame, None
    img_from_norm = invert(m_cur)
    iod_px = float(np.sqrt(abs(np.linalg.det(img_from_norm[:, :2]))))
    r_in, l_in = p_norm[_INNER_BROW_LOW[0]], p_norm[_INNER_BROW_LOW[1]]
    top = p_norm[list(_BROW_TOP)]
    mx = (r_in[0] + l_in[0]) / 2
    # Soft mask: the glabella (between the inner brows, down to the nose root) and the forehead band.
    y_top = min(r_in[1], l_in[1]) - 0.1
    blobs = [(np.array([mx, (y_top + p_norm[_NOSE_ROOT, 1]) / 2]), 0.1, 0.14),
             (np.array([mx, float(top[:, 1].min()) - 0.2]), 0.45, 0.1)]
    corners = np.concatenate([[c - [sx * 2, sy * 2], c + [sx * 2, sy * 2]] for c, sx, sy in blobs])
    pts = apply(img_from_norm, corners)
    h, w = frame.shape[:2]
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int), [w, h])
    if x1 - x0 < 4 or y1 - y0 < 4:
        return frame, None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    pn = apply(m_cur, np.stack([xx.ravel(), yy.ravel()], 1))
    mask = np.zeros(len(pn))
    for c, sx, sy in blobs:
        d = (pn - c) / [sx, sy]
        mask = np.maximum(mask, np.exp(-0.5 * (d**2).sum(1)))
    mask = (IRON_SHARE * level * mask).reshape(y1 - y0, x1 - x0).astype(np.float32)[..., None]
    roi = frame[y0:y1, x0:x1].astype(np.float32)
    blur = cv2.GaussianBlur(roi, (0, 0), max(IRON_SIGMA_IOD * iod_px, 1.0))
    out = frame if inplace else frame.copy()
    out[y0:y1, x0:x1] = np.clip(roi + mask * (blur - roi) + 0.5, 0, 255).astype(np.uint8)
    return out, (int(x0), int(y0), int(x1), int(y1))
