"""The smile's appearance: upper teeth in the parted lips, and the person's own smile retrieved.

A smile is read from the mouth first: widened, corners up, lips parted with the *upper* teeth
showing. The plan widens and parts the mouth (``expression.mouth_target_offsets``) and the mouth
exemplars supply real interiors — but many speakers never show their upper teeth while talking
(dfrf's anchor shows his lower teeth; measured on the bank: the band under his upper lip is 0.3×
the skin's brightness at every opening), so a parted smile made of their talking mouths shows a
dark slit over the lower teeth, which reads as a snarl. :func:`upper_teeth` paints the upper row
where the rendered mouth has none, with the procedural interior of :mod:`.cavity` (its teeth
colour taken from the person's own teeth when the bank shows any).

Where the source itself contains the person smiling (liveportrait_d13 grins; so does the Hamilton
performer), :class:`SmileBank` keeps the appearance of that smile: the *expression ratio image*
(Liu, Shan & Zhang 2001) of their cheeks and folds — a smiling frame's low-frequency shading
divided by a calm frame's in the same face geometry — and multiplies it onto the output. The folds,
bulges and highlights are then this person's own, in their own light, instead of drawn ones.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from . import cavity
from .geometry import INNER_LOWER, INNER_UPPER, apply, invert

log = logging.getLogger(__name__)

#: Upper teeth count as already visible when the band under the upper lip is this bright
#: (share of the nearby skin's brightness); fully painted below TEETH_VISIBLE - TEETH_VISIBLE_SPAN.
TEETH_VISIBLE = 0.8
TEETH_VISIBLE_SPAN = 0.3
#: Band under the upper inner lip (share of the gap) sampled to tell whether teeth show.
TEETH_BAND = (0.08, 0.4)
#: Teeth are painted only where the lips are parted by at least this much (inter-ocular units).
MIN_GAP_IOD = 0.035
#: Height of the painted upper teeth: this share of the lips' gap, at most TEETH_IOD (inter-ocular
#: units; real upper incisors show about 0.09-0.1 of the inter-ocular distance in a broad smile).
TEETH_SHARE = 0.55
TEETH_IOD = 0.095
#: Painted teeth: desaturated by this share and at least this bright relative to the skin.
TEETH_DESATURATE = 0.35
TEETH_MIN_LUM = 0.95
#: Skin points beside the mouth (cheeks below the nose, chin) giving the skin's brightness.
SKIN_POINTS = (205, 425, 199)
#: Real teeth: inner-mouth pixels at least this much brighter than the interior's median, and
#: brighter than this share of the skin, are teeth; their median colour is the person's teeth colour.
TEETH_FROM_SKIN = 0.85
#: ... and whose chroma (max - min channel) is below this share of the skin's.
TEETH_CHROMA_SHARE = 0.5


def _lum(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def upper_teeth_visibility(frame: np.ndarray, lm_img: np.ndarray) -> float:
    """How bright the band under the upper inner lip is, as a share of the nearby skin (0..~1.2).

    ``lm_img`` are the frame's image landmarks as rendered. Dark (≈0.3) is the open mouth's shadow
    or a tongue; ≥ TEETH_VISIBLE is teeth.
    """
    up = lm_img[list(INNER_UPPER)][2:7]
    lo = lm_img[list(INNER_LOWER)][2:7]
    h, w = frame.shape[:2]
    f = np.linspace(*TEETH_BAND, 4)
    pts = (up[:, None, :] + f[None, :, None] * (lo - up)[:, None, :]).reshape(-1, 2)
    p = np.clip(np.round(pts).astype(int), 0, [w - 1, h - 1])
    s = np.clip(np.round(lm_img[list(SKIN_POINTS)]).astype(int), 0, [w - 1, h - 1])
    skin = float(np.median(_lum(frame[s[:, 1], s[:, 0]])))
    return float(np.mean(_lum(frame[p[:, 1], p[:, 0]]))) / max(skin, 1.0)


def upper_teeth(frame: np.ndarray, face_norm: np.ndarray, m_cur: np.ndarray, level: float,
                teeth_rgb: np.ndarray | None, seed: int, *, inplace: bool = False
                ) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """Show the upper teeth in the parted lips of a smile at ``level`` (0..1), if they do not show.

    ``face_norm`` are the rendered face's normalised landmarks (lips where the mouth now is),
    ``m_cur`` image → normalised. A row of teeth hangs from the upper inner lip over the dark
    interior (TEETH_SHARE of the gap, at most TEETH_IOD tall), darker towards the corners and
    in the upper lip's shadow, with faint gaps between incisors; it fades in by how dark the band
    under the upper lip is, so a mouth already showing teeth (real ones from the exemplar) is
    left alone. The rest of the interior (lower teeth, tongue, shadow) stays the exemplar's.
    """
    if level <= 1e-3:
        return frame, None
    img_from_norm = invert(m_cur)
    lm_img = apply(img_from_norm, face_norm)
    up_n, lo_n = face_norm[[78, *INNER_UPPER, 308]], face_norm[[78, *INNER_LOWER, 308]]
    gap_mid = float(np.median(np.linalg.norm(lo_n[3:8] - up_n[3:8], axis=1)))
    if gap_mid < MIN_GAP_IOD:
        return frame, None
    seen = upper_teeth_visibility(frame, lm_img)
    t = np.clip((TEETH_VISIBLE - seen) / TEETH_VISIBLE_SPAN, 0.0, 1.0)
    strength = float(level * t * t * (3 - 2 * t))
    if strength <= 1e-3:
        return frame, None
    poly = apply(img_from_norm, np.concatenate([up_n, lo_n[::-1]]))
    h, w = frame.shape[:2]
    x0, y0 = np.maximum(np.floor(poly.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(poly.max(0)).astype(int) + 3, [w, h])
    if x1 - x0 < 4 or y1 - y0 < 3:
        return frame, None
    ss = 4
    big = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss), np.uint8)
    cv2.fillPoly(big, [np.round((poly - [x0, y0] + 0.5) * ss - 0.5).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    inside = cv2.resize(big, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    pn = apply(m_cur, np.stack([xx.ravel(), yy.ravel()], 1))
    xn, yn = pn[:, 0].reshape(inside.shape), pn[:, 1].reshape(inside.shape)
    ou, ol = np.argsort(up_n[:, 0]), np.argsort(lo_n[:, 0])
    y_up = np.interp(xn, up_n[ou, 0], up_n[ou, 1])
    y_lo = np.interp(xn, lo_n[ol, 0], lo_n[ol, 1])
    gap = np.maximum(y_lo - y_up, 1e-4)
    cx = 0.5 * (face_norm[78, 0] + face_norm[308, 0])
    hw = max(0.5 * abs(face_norm[308, 0] - face_norm[78, 0]), 1e-3)
    dx = (xn - cx) / hw
    depth = yn - y_up
    px_n = 1.0 / max(float(np.sqrt(abs(np.linalg.det(img_from_norm[:, :2])))), 1e-6)
    band = np.minimum(TEETH_IOD, TEETH_SHARE * gap)
    soft = max(1.0 * px_n, 0.006)
    edge = 1 - _smooth((depth - band) / soft + 0.5)  # 1 above the incisal edge
    # Teeth curve back towards the corners (the arch): fewer and darker there.
    arch = 1 - _smooth((np.abs(dx) - 0.55) / 0.3)
    lip, teeth = cavity.person_colours(frame, lm_img)
    if teeth_rgb is not None:
        teeth = np.asarray(teeth_rgb, np.float32)
    # Upper teeth in a smile catch the light that the lower ones (where a bank finds teeth) miss:
    # the person's teeth colour, a little desaturated, at least TEETH_MIN_LUM of the skin's level.
    skin_pts = np.clip(np.round(lm_img[list(SKIN_POINTS)]).astype(int), 0, [w - 1, h - 1])
    skin_lum = float(np.median(_lum(frame[skin_pts[:, 1], skin_pts[:, 0]])))
    grey = float(_lum(teeth[None])[0])
    teeth = grey + (1 - TEETH_DESATURATE) * (teeth - grey)
    teeth = teeth * max(1.0, TEETH_MIN_LUM * skin_lum / max(grey, 1.0))
    shade = (1 - 0.45 * dx * dx) * (0.72 + 0.28 * _smooth(depth / np.maximum(0.35 * band, 1e-3)))
    gaps = sum(np.exp(-(((xn - cx) - s_ * g) / cavity.TOOTH_GAP_WIDTH_IOD) ** 2)
               for g in cavity.TOOTH_GAPS_IOD for s_ in (-1, 1))
    shade = shade * (1 - 0.1 * np.clip(gaps, 0, 1))
    rng = np.random.default_rng(seed)
    col = teeth[None, None, :] * shade[..., None] + rng.normal(0.0, 1.2, size=shade.shape)[..., None]
    a = (inside * edge * arch * strength)[..., None].astype(np.float32)
    roi = frame[y0:y1, x0:x1].astype(np.float32)
    out = frame if inplace else frame.copy()
    out[y0:y1, x0:x1] = np.clip(roi * (1 - a) + col * a + 0.5, 0, 255).astype(np.uint8)
    return out, (int(x0), int(y0), int(x1), int(y1))


def _smooth(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def teeth_colour(bank: object | None) -> np.ndarray | None:
    """The person's own teeth colour (RGB) from the bank's open mouths, or None if none show teeth.

    Inner-mouth pixels of the most open exemplars that are bright against the skin are teeth.
    """
    exemplars = getattr(bank, "exemplars", None)
    if not exemplars:
        return None
    ex = sorted(exemplars.values(), key=lambda e: -float(e.params[0]))[:12]
    found = []
    for e in ex:
        if float(e.params[0]) < 0.08:
            break
        lm = e.landmarks.astype(np.float64)
        poly = np.concatenate([lm[list(INNER_UPPER)], lm[list(INNER_LOWER)][::-1]]).astype(np.int32)
        mask = np.zeros(e.crop.shape[:2], np.uint8)
        cv2.fillPoly(mask, [poly], 1)
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
        px = e.crop[mask > 0].astype(np.float32)
        if len(px) < 20:
            continue
        s = np.clip(np.round(lm[list(SKIN_POINTS)]).astype(int), 0, [e.crop.shape[1] - 1, e.crop.shape[0] - 1])
        skin = float(np.median(_lum(e.crop[s[:, 1], s[:, 0]])))
        skin_rgb = np.median(e.crop[s[:, 1], s[:, 0]].astype(np.float32), axis=0)
        chroma = px.max(1) - px.min(1)
        # Teeth are bright *and* much less saturated than skin and lips (pale lips pass the
        # brightness test alone).
        bright = px[(_lum(px) > TEETH_FROM_SKIN * skin) & (chroma < TEETH_CHROMA_SHARE * float(np.ptp(skin_rgb)) + 6)]
        if len(bright) >= max(10, 0.05 * len(px)):
            found.append(np.median(bright, axis=0))
    if len(found) < 3:
        return None
    return np.median(found, axis=0).astype(np.float32)

