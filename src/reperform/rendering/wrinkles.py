"""Expression texture: the folds, bulges and shadows that make a moved face read as an emotion.

People read expressions from texture as much as from shape: the Duchenne smile's raised cheeks
and the bulge under the lower lid, the deepened nasolabial fold, the furrows between lowered
brows, the forehead's folds under raised brows, the wrinkled nose of disgust. A warp alone moves
points; it cannot make a fold. So each action unit also *shades* the person's own skin, in two
ways, both multiplicative (the skin's colour, pores and grain stay theirs; shadows are kept
warm, as skin in a fold is darker *and* slightly redder):

1. **the person's own creases deepen** (:func:`own_crease_shading`): where an AU folds the skin
   (forehead, glabella, nasolabial folds, eye corners, nose), the skin's own mid-frequency
   shading — darker than its surroundings at a few hundredths of the inter-ocular distance — is
   amplified. Whatever lines this face already has are where it folds, so they grow in place;
2. **soft relief** (:func:`lines_for`): broad, low-contrast shadows and highlights along the
   folds FACS describes (a fold's shadow on one side, the bulge's light on the other; the
   cheek apple lifted into the light). They are wide (σ ≥ 0.014 inter-ocular units) and
   shallow: relief, never drawn lines.

Every stroke is placed on the frame's *warped* landmarks in the normalised face frame (see
:mod:`.geometry`), so it moves with the expression and the head, and its width and depth are in
inter-ocular units — the same look at any resolution. A turned head foreshortens its far side;
strokes there shrink sideways and fade out before the side is seen edge-on (a fold drawn flat on
a cheek seen obliquely is a dark slash). ``neutral`` does the opposite: :func:`smooth_creases`
irons out the person's own frown and forehead lines a little.

The relief map is drawn per stroke group (same width and sign) as anti-aliased polylines on a
small canvas over the strokes' box, blurred to the profile and applied in one multiply.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .. import landmarks as L
from .geometry import apply, invert

#: AU column order (the expression module's; a test checks they agree).
AUS: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU15", "AU23", "AU26")
_A = {name: i for i, name in enumerate(AUS)}
#: Largest darkening any stroke reaches (share of the skin's brightness) and the canvas scale.
MAX_DEPTH = 0.5
#: Red keeps this share of a shadow's darkening: skin in a fold is darker *and* a little redder.
#: (0.85 made thin frown lines read as red scratches.)
WARM_RED_SHARE = 0.92
#: Thinnest stroke (px, σ): thinner than this, a stroke aliases into dots.
MIN_SIGMA_PX = 0.8
#: Below this shading level nothing is drawn.
STILL_LEVEL = 0.01

# Relief depths (share of brightness) and widths (σ, inter-ocular units) at AU intensity 1.
FOREHEAD_DEPTH, FOREHEAD_SIGMA = 0.08, 0.02
GLABELLA_DEPTH, GLABELLA_SIGMA = 0.10, 0.022
NOSE_DEPTH, NOSE_SIGMA = 0.15, 0.014
FOLD_DEPTH, FOLD_SIGMA = 0.09, 0.03
FOLD_LIGHT, FOLD_LIGHT_SIGMA = 0.08, 0.05
CROW_DEPTH, CROW_SIGMA = 0.07, 0.012
LID_DEPTH, LID_SIGMA = 0.09, 0.022
LID_LIGHT, LID_LIGHT_SIGMA = 0.06, 0.025
BROW_SHADOW, BROW_SHADOW_SIGMA = 0.12, 0.04
MARIONETTE_DEPTH, MARIONETTE_SIGMA = 0.11, 0.025
CHEEK_LIGHT, CHEEK_LIGHT_SIGMA = 0.07, 0.07
#: Relief starts at this AU intensity and is full this much above it.
CREASE_FROM = 0.15
CREASE_FULL = 0.6
#: The person's own creases: band-pass of the luminance (fine σ removes pores and grain, coarse σ
#: is the skin's local level, inter-ocular units); at full intensity a crease's contrast grows by
#: OWN_GAIN (1 = twice as deep), never beyond OWN_MAX darkening.
OWN_FINE_IOD, OWN_COARSE_IOD = 0.012, 0.06
OWN_GAIN = 0.8
OWN_MAX = 0.3
#: Foreshortening (share of the frontal half-width) below which a side's strokes are gone, and
#: the span over which they fade in.
SEEN_FROM, SEEN_SPAN = 0.55, 0.3
#: ``neutral``'s crease ironing: blur radius (inter-ocular units) and largest blend share.
IRON_SIGMA_IOD = 0.04
IRON_SHARE = 0.75

# Mesh contours used to place the strokes (MediaPipe indices; subject's right side first).
_BROW_TOP = L.BROW_TOP[0] + L.BROW_TOP[1][::-1]  # one line over both brows, right to left
_INNER_BROW_LOW = (L.BROW_BOTTOM[0][-1], L.BROW_BOTTOM[1][-1])
_OUTER_EYE = (L.EYE_CORNERS[0][0], L.EYE_CORNERS[1][0])
_LOWER_LID = tuple(lid[:5] for lid in L.LOWER_LID)  # the outer part, where crow's feet start
_LID_CREASE, _NOSE_WING, _CORNERS, _CHEEK_APPLE = L.LID_CREASE, L.NOSE_WING, L.MOUTH_CORNERS, L.CHEEK_APPLE
_NOSE_ROOT, _NOSE_BRIDGE = 168, 6
#: Dark features that are not creases (closed outlines): brows, eyes, outer lips, nostril points.
_BROWS = ((70, 63, 105, 66, 107, 55, 65, 52, 53, 46), (300, 293, 334, 296, 336, 285, 295, 282, 283, 276))
_EYES = ((33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7),
         (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249))
_LIPS, _NOSTRILS = L.LIPS_OUTER, L.NOSTRILS
#: Margin (inter-ocular units) kept around those features.
FEATURE_PAD_IOD = 0.025


@dataclass(frozen=True, slots=True)
class Line:
    """One relief stroke: polyline ``pts[m, 2]`` (normalised), per-vertex ``weight[m]`` 0..1,
    signed ``amp`` (negative darkens) and width ``sigma`` (inter-ocular units)."""

    pts: np.ndarray
    weight: np.ndarray
    amp: float
    sigma: float


@dataclass(frozen=True, slots=True)
class Region:
    """A soft elliptical region (normalised centre, radii) where the person's own creases deepen."""

    centre: np.ndarray
    sx: float
    sy: float
    level: float


def _ramp(level: float) -> float:
    t = float(np.clip((level - CREASE_FROM) / CREASE_FULL, 0.0, 1.0))
    return t * t * (3 - 2 * t)


def _taper(m: int) -> np.ndarray:
    """0 → 1 → 0 along a stroke's vertices (sine), so relief fades out at its ends."""
    return np.sin(np.linspace(0.0, np.pi, m)) ** 0.7


def _curve(a: np.ndarray, b: np.ndarray, bow: float, m: int = 12) -> np.ndarray:
    """Points from ``a`` to ``b`` bowed sideways by ``bow`` (normal to the chord)."""
    t = np.linspace(0.0, 1.0, m)[:, None]
    d = b - a
    nrm = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-9)
    return a + t * d + bow * np.sin(np.pi * t) * nrm


def _levels(au: np.ndarray) -> dict[str, float]:
    """Each AU's relief level: ramps in from CREASE_FROM (a brow flick on a stressed syllable
    leaves the forehead smooth)."""
    return {name: _ramp(float(au[i])) for name, i in _A.items()}


def foreshortening(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fore[2], seen[2]) per side (subject's right, left) of normalised landmarks ``p``.

    ``fore`` is each side's half-width (eye corner to nose root) over their mean: < 1 on the far
    side of a turned head. ``seen`` fades that side's strokes out as it turns away.
    """
    half = np.array([p[_NOSE_ROOT, 0] - p[_OUTER_EYE[0], 0], p[_OUTER_EYE[1], 0] - p[_NOSE_ROOT, 0]])
    fore = np.clip(half / max(float(half.mean()), 1e-6), 0.3, 1.5)
    seen = np.clip((fore - SEEN_FROM) / SEEN_SPAN, 0.0, 1.0)
    return fore, seen * seen * (3 - 2 * seen)


def _fold_level(a: dict[str, float]) -> float:
    """Nasolabial fold: deepened by the smile (AU12), the upper-lip raiser, the nose wrinkler."""
    return min(1.0, a["AU12"] + 0.7 * a["AU10"] + 0.5 * a["AU9"] + 0.3 * a["AU6"])


def regions_for(p: np.ndarray, au: np.ndarray, retrieved: float = 0.0) -> list[Region]:
    """Where the person's own creases deepen for AU intensities ``au`` (normalised landmarks ``p``).

    ``retrieved`` (0..1) is the share of the smile's folds already drawn from the person's own
    smiling frames (:class:`.smile.SmileBank`): the fold region deepens that much less."""
    a = _levels(au)
    _fore, seen = foreshortening(p)
    out: list[Region] = []

    def add(c: np.ndarray, sx: float, sy: float, level: float) -> None:
        if level > STILL_LEVEL:
            out.append(Region(np.asarray(c, np.float64), sx, sy, min(1.0, level)))

    top = p[list(_BROW_TOP)]
    mid_brow = (p[_INNER_BROW_LOW[0]] + p[_INNER_BROW_LOW[1]]) / 2
    add([float(top[:, 0].mean()), float(top[:, 1].min()) - 0.2], 0.4, 0.1, a["AU1"] + a["AU2"])
    add(mid_brow + [0.0, -0.03], 0.09, 0.09, a["AU4"] + 0.5 * a["AU9"])
    fold = _fold_level(a) * (1.0 - retrieved)
    for side, s in ((0, -1.0), (1, 1.0)):
        wing, corner = p[_NOSE_WING[side]], p[_CORNERS[side]]
        add((wing + corner) / 2 + [0.04 * s, 0.0], 0.07, 0.14, fold * seen[side])
        add(p[_OUTER_EYE[side]] + [0.08 * s, 0.02], 0.06, 0.06, a["AU6"] * seen[side])
        add(p[_NOSE_BRIDGE] + [0.07 * s, 0.03], 0.05, 0.06, a["AU9"] * seen[side])
    return out


def lines_for(p: np.ndarray, au: np.ndarray, retrieved: float = 0.0) -> list[Line]:
    """Relief strokes of AU intensities ``au[N_AUS]`` on normalised landmarks ``p[≥468, 2]``;
    the nasolabial fold and the cheeks' light fade by ``retrieved`` (see :func:`regions_for`)."""
    a = _levels(au)
    out: list[Line] = []
    fore, seen = foreshortening(p)

    def off(side: int, dx: float, dy: float) -> np.ndarray:
        s = -1.0 if side == 0 else 1.0
        return np.array([s * dx * fore[side], dy])

    def add(pts: np.ndarray, weight: np.ndarray, amp: float, sigma: float) -> None:
        if abs(amp) * float(np.max(weight, initial=0.0)) > STILL_LEVEL:
            out.append(Line(np.asarray(pts, np.float64), np.clip(weight, 0.0, 1.0), amp, sigma))

    # Forehead: raised brows fold the frontalis into horizontal furrows above them — central for
    # the inner brow raiser (AU1, sadness and surprise), across for the outer (AU2, surprise).
    # Each furrow is a soft shadow with the skin bulging into the light just above it.
    if a["AU1"] + a["AU2"] > STILL_LEVEL:
        top = p[list(_BROW_TOP)]
        order = np.argsort(top[:, 0])
        xs = np.linspace(top[:, 0].min() + 0.12, top[:, 0].max() - 0.12, 24)
        brow_y = np.interp(xs, top[order, 0], top[order, 1])
        mid_x = float(np.mean(top[:, 0]))
        base = 0.45 * brow_y + 0.55 * float(np.mean(brow_y))
        central = np.exp(-0.5 * ((xs - mid_x) / 0.3) ** 2)
        lateral = np.exp(-0.5 * ((np.abs(xs - mid_x) - 0.6) / 0.22) ** 2)
        side_seen = np.interp(xs, [float(top[:, 0].min()), mid_x, float(top[:, 0].max())], [seen[0], 1.0, seen[1]])
        for k in range(3):
            y = base - (0.12 + 0.09 * k) + 0.004 * np.sin(xs * 9 + 2.1 * k)
            w = np.minimum(1.0, a["AU1"] * central + a["AU2"] * lateral) * _taper(len(xs)) * (1 - 0.2 * k) * side_seen
            add(np.stack([xs, y], 1), w, -FOREHEAD_DEPTH, FOREHEAD_SIGMA)
            add(np.stack([xs, y - 0.035], 1), 0.7 * w, 0.5 * FOREHEAD_DEPTH, 2.0 * FOREHEAD_SIGMA)
    # Glabella: the brow lowerer (AU4) bunches the skin between the brows into vertical furrows,
    # and the lowered brow shades the upper lid (the glare of anger). (A highlight for the bulge
    # between the furrows read as a lump on turned heads: the warp's bunching already shows it.)
    r_in, l_in = p[_INNER_BROW_LOW[0]], p[_INNER_BROW_LOW[1]]
    mx, gap = (r_in[0] + l_in[0]) / 2, max(float(l_in[0] - r_in[0]), 0.1)
    y_top = min(r_in[1], l_in[1]) - 0.09
    y_bot = float(p[_NOSE_ROOT, 1]) - 0.01
    if a["AU4"] > STILL_LEVEL:
        for side, s in ((0, -1), (1, 1)):
            pts = _curve(np.array([mx + s * 0.2 * gap, y_top]), np.array([mx + s * 0.15 * gap, y_bot]), 0.01 * s)
            w = a["AU4"] * _taper(len(pts)) * seen[side]
            add(pts, w, -GLABELLA_DEPTH, GLABELLA_SIGMA)
        for side in (0, 1):
            crease = p[list(_LID_CREASE[side])]
            add(crease, a["AU4"] * _taper(len(crease)) ** 0.3 * seen[side], -BROW_SHADOW, BROW_SHADOW_SIGMA)
    procerus = min(1.0, 0.5 * a["AU4"] + a["AU9"])
    if procerus > STILL_LEVEL:
        y = float(p[_NOSE_ROOT, 1]) + 0.01
        add(_curve(np.array([mx - 0.09, y]), np.array([mx + 0.09, y]), 0.01, m=8), procerus * _taper(8) * min(seen),
            -0.6 * NOSE_DEPTH, NOSE_SIGMA)
    # Nose wrinkler (AU9): oblique folds down the sides of the bridge.
    if a["AU9"] > STILL_LEVEL:
        bridge = p[_NOSE_BRIDGE]
        for side, s in ((0, -1), (1, 1)):
            for j in range(2):
                a0 = bridge + off(side, 0.04, -0.03 + 0.05 * j)
                a1 = bridge + off(side, 0.14, 0.04 + 0.05 * j)
                add(_curve(a0, a1, -0.012 * s, m=8), a["AU9"] * _taper(8) * (1 - 0.25 * j) * seen[side],
                    -NOSE_DEPTH, NOSE_SIGMA)
    # Nasolabial fold: the cheek bulges over it into the light; the fold itself is a soft shadow.
    fold = _fold_level(a) * (1.0 - retrieved)
    if fold > STILL_LEVEL:
        for side, s in ((0, -1), (1, 1)):
            wing, corner = p[_NOSE_WING[side]], p[_CORNERS[side]]
            start = wing + off(side, 0.03, -0.02)
            end = corner + off(side, 0.06, 0.03)
            pts = _curve(start, end, 0.035 * -s * fore[side], m=14)
            w = fold * _taper(14) ** 0.6 * seen[side]
            add(pts, w, -FOLD_DEPTH, FOLD_SIGMA)
            add(pts + off(side, 0.06, -0.02), w, FOLD_LIGHT, FOLD_LIGHT_SIGMA)
    # Duchenne smile (AU6): the cheek apples rise into the light, the lower lid bulges up with a
    # soft shadow under it, and faint crow's feet gather at the outer eye corners.
    if a["AU6"] > STILL_LEVEL:
        for side, s in ((0, -1), (1, 1)):
            c = p[_OUTER_EYE[side]]
            for j, ang in enumerate((-0.3, 0.15)):
                d = np.array([s * np.cos(ang) * fore[side], np.sin(ang)])
                add(_curve(c + 0.06 * d, c + 0.14 * d, 0.008, m=7), a["AU6"] * _taper(7) * (0.9 - 0.2 * j) * seen[side],
                    -CROW_DEPTH, CROW_SIGMA)
            apple = p[_CHEEK_APPLE[side]]
            add(np.array([apple + off(side, -0.05, -0.07), apple + off(side, 0.05, -0.07)]),
                np.full(2, a["AU6"] * seen[side] * (1.0 - retrieved)), CHEEK_LIGHT, CHEEK_LIGHT_SIGMA)
    lid = min(1.0, a["AU6"] + 0.5 * a["AU7"])
    if lid > STILL_LEVEL:
        for side in (0, 1):
            low = p[list(_LOWER_LID[side])]
            add(low + [0.0, 0.07], lid * _taper(len(low)) * seen[side], -LID_DEPTH, LID_SIGMA)
            add(low + [0.0, 0.035], lid * _taper(len(low)) * seen[side], LID_LIGHT, LID_LIGHT_SIGMA)
    # Lip corner depressor (AU15): soft shadows down from the corners (the sad mouth).
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


def _features_mask(p: np.ndarray, img_from_norm: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """float32[h, w] 1 on the dark features that are not creases — brows, eyes and lashes, lips,
    nostrils — with a soft edge: amplifying their darkness would paint heavier brows and lashes."""
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    iod_px = float(np.sqrt(abs(np.linalg.det(img_from_norm[:, :2]))))
    mask = np.zeros((h, w), np.uint8)

    def px(idx) -> np.ndarray:
        return np.round((apply(img_from_norm, p[list(idx)]) - [x0, y0]) * 4).astype(np.int32)

    pad = max(int(round(FEATURE_PAD_IOD * iod_px)), 1)
    for brow in _BROWS:
        cv2.polylines(mask, [px(brow)], True, 1, thickness=2 * pad + 1, lineType=cv2.LINE_8, shift=2)
        cv2.fillPoly(mask, [px(brow)], 1, lineType=cv2.LINE_8, shift=2)
    for eye in _EYES:
        cv2.fillPoly(mask, [px(eye)], 1, lineType=cv2.LINE_8, shift=2)
        cv2.polylines(mask, [px(eye)], True, 1, thickness=2 * pad + 1, lineType=cv2.LINE_8, shift=2)
    cv2.fillPoly(mask, [px(_LIPS)], 1, lineType=cv2.LINE_8, shift=2)
    cv2.polylines(mask, [px(_LIPS)], True, 1, thickness=2 * pad + 1, lineType=cv2.LINE_8, shift=2)
    for c in px(_NOSTRILS):
        cv2.circle(mask, (int(c[0]), int(c[1])), int(round(1.5 * pad * 4)), 1, -1, lineType=cv2.LINE_8, shift=2)
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.5 * pad, 1.0))


def own_crease_shading(grey: np.ndarray, regions: list[Region], img_from_norm: np.ndarray,
                       box: tuple[int, int, int, int], p: np.ndarray | None = None) -> np.ndarray:
    """float32[h, w] multiplicative shading over ``box`` that deepens the person's own creases.

    ``grey`` is the frame's luminance over ``box``. A crease is where the skin is darker than its
    surroundings at the scale of a fold (band-pass between OWN_FINE_IOD — pores and grain are
    finer — and OWN_COARSE_IOD); inside each region it is made deeper by up to OWN_GAIN of
    itself. Only darker-than-surroundings detail is amplified: highlights and flat skin stay.
    """
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    iod_px = float(np.sqrt(abs(np.linalg.det(img_from_norm[:, :2]))))
    fine = cv2.GaussianBlur(grey, (0, 0), max(OWN_FINE_IOD * iod_px, 0.7))
    coarse = cv2.GaussianBlur(grey, (0, 0), max(OWN_COARSE_IOD * iod_px, 2.0))
    crease = np.clip(fine / np.maximum(coarse, 1.0) - 1.0, -OWN_MAX, 0.0)
    norm_from_img = invert(img_from_norm)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    pn = apply(norm_from_img, np.stack([xx.ravel(), yy.ravel()], 1))
    mask = np.zeros(h * w, np.float32)
    for r in regions:
        d = (pn - r.centre) / [r.sx, r.sy]
        mask = np.maximum(mask, r.level * np.exp(-0.5 * (d * d).sum(1)).astype(np.float32))
    mask = mask.reshape(h, w)
    if p is not None:
        mask *= 1.0 - np.clip(_features_mask(p, img_from_norm, box), 0.0, 1.0)
    return np.maximum(OWN_GAIN * crease * mask, -OWN_MAX).astype(np.float32)


def _regions_box(regions: list[Region], img_from_norm: np.ndarray, shape: tuple[int, int]):
    if not regions:
        return None
    pts = np.concatenate([apply(img_from_norm, np.array([r.centre - [2 * r.sx, 2 * r.sy], r.centre + [2 * r.sx, 2 * r.sy],
                                                         r.centre + [2 * r.sx, -2 * r.sy], r.centre + [-2 * r.sx, 2 * r.sy]]))
                          for r in regions])
    h, w = shape
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int), [w, h])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def shade(frame: np.ndarray, p_norm: np.ndarray, au: np.ndarray, m_cur: np.ndarray, *, inplace: bool = False,
          retrieved: float = 0.0) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """Apply the folds of ``au`` to ``frame`` whose face sits at normalised landmarks ``p_norm``
    (``m_cur``: image → normalised): the person's own creases deepened, plus soft relief.
    Returns the frame and the box that changed (or None)."""
    lines = lines_for(p_norm, au, retrieved)
    regions = regions_for(p_norm, au, retrieved)
    img_from_norm = invert(m_cur)
    shape = frame.shape[:2]
    b1, b2 = lines_box(lines, img_from_norm, shape), _regions_box(regions, img_from_norm, shape)
    if b1 is None and b2 is None:
        return frame, None
    boxes = [b for b in (b1, b2) if b is not None]
    box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    x0, y0, x1, y1 = box
    roi = frame[y0:y1, x0:x1].astype(np.float32)
    s = shading_map(lines, img_from_norm, box) if lines else np.zeros((y1 - y0, x1 - x0), np.float32)
    if regions:
        grey = roi @ np.array([0.299, 0.587, 0.114], np.float32)
        s = s + own_crease_shading(grey, regions, img_from_norm, box, p_norm)
    s = np.clip(s, -MAX_DEPTH, MAX_DEPTH)
    if float(np.abs(s).max()) < 0.5 / 255:
        return frame, None
    gain = np.repeat((1.0 + s)[..., None], 3, axis=2)
    dark = s < 0
    gain[..., 0] = np.where(dark, 1.0 + WARM_RED_SHARE * s, gain[..., 0])
    out = frame if inplace else frame.copy()
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
