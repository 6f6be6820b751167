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

from .. import landmarks as L
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



# ------------------------------------------------------------------ the person's own smile
#: An exemplar is a smile when its smile score — corners raised over this person's corner height
#: at that opening (per SMILE_CORNER_UNIT) plus the mouth widened over their median width (per
#: SMILE_WIDTH_UNIT) — reaches SMILE_SCORE; the source holds a smile when SMILE_MIN_FRAMES do.
#: Set between grins and talking frames of the dev clips (docs/tuning.md, "Expression").
SMILE_CORNER_UNIT = 0.05
SMILE_WIDTH_UNIT = 0.1
SMILE_SCORE = 2.5
SMILE_MIN_FRAMES = 4
#: The calm partner of a smile: a (nearly) closed mouth scoring under CALM_SCORE.
CALM_SCORE = 0.5
CALM_OPEN_IOD = 0.05
#: Grid step (inter-ocular units) of the stored ratio image, and the blur that keeps folds and
#: bulges but not pores, stubble or a few pixels of misalignment.
RATIO_STEP_IOD = 0.01
RATIO_BLUR_IOD = 0.02
#: The ratio is clamped to this range: a real grin darkens folds and lights cheeks by a few tens
#: of percent; anything beyond is a misaligned edge or an occluder (docs/tuning.md, "Expression").
RATIO_RANGE = (0.7, 1.45)
#: A smile/calm pair is refused when more than this share of the cheeks differs beyond
#: RATIO_RANGE, or when their head poses (pose proxy) are further apart than MAX_POSE_GAP.
MAX_WILD_SHARE = 0.1
MAX_POSE_GAP = 0.08
#: Geometry correspondence between two faces: Gaussian interpolation of their landmarks' offsets
#: (σ, inter-ocular units), over the lower-face points.
MATCH_SIGMA_IOD = 0.08
#: Kept away from the ratio: the lips and the inside of the mouth (the mouth renderer draws them),
#: the nostrils, with this margin (inter-ocular units); and the mask's feather.
MOUTH_MARGIN_IOD = 0.05
MASK_FEATHER_IOD = 0.03
#: The middle band of the face (|x - mouth centre|, inter-ocular units) fades out of the ratio.
CENTRE_BAND_IOD = (0.2, 0.35)
_LIPS_OUTER, _JAW = L.LIPS_OUTER, L.JAW_LINE


def _interp_offsets(at: np.ndarray, pts: np.ndarray, offsets: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised Gaussian interpolation of ``offsets`` known at ``pts``, evaluated at ``at``."""
    d2 = ((at[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    w = np.exp(-d2 / (2 * sigma * sigma))
    return (w @ offsets) / (w.sum(1, keepdims=True) + 1e-6)


class SmileBank:
    """The person's own smile, as an expression ratio image over their lower face.

    Built once per job from the mouth bank (lower-face crops of source frames): the strongest
    smiles and a calm, closed-mouth partner in a similar pose. The smile's low-frequency shading
    divided by the calm face's, both in the smile's geometry, is what smiling does to *this*
    person's cheeks and folds under *this* light; :meth:`shade` warps it onto an output face's
    geometry and multiplies it in, scaled by the smile's level. Lips and mouth are excluded (the
    mouth exemplars and :func:`upper_teeth` draw them).
    """

    def __init__(self, log_ratio: np.ndarray, grid_origin: np.ndarray, step: float, landmarks: np.ndarray,
                 frames: tuple[int, int]) -> None:
        self.log_ratio = log_ratio  # float32[h, w, 3], masked log of the ratio, in the smile's geometry
        self.origin = grid_origin  # normalised coordinates of grid cell (0, 0)
        self.step = step
        self.landmarks = landmarks  # normalised landmarks of the smile exemplar
        self.frames = frames  # (smile, calm) source frame indices, for the log and tests
        self._pts = np.array(sorted(set(_JAW) | set(_LIPS_OUTER) | {1, 2, 4, 5, 129, 358, 205, 425, 50, 280,
                                                                   118, 347, 187, 411, 216, 436, 199, 175}))

    @classmethod
    def build(cls, bank: object | None, template: np.ndarray) -> SmileBank | None:
        """The person's smile from ``bank`` (a :class:`.exemplars.MouthBank`), or None if the source
        holds no clear smile (then the smile is drawn, not retrieved)."""
        exemplars = getattr(bank, "exemplars", None)
        if not exemplars or len(exemplars) < 8:
            return None
        from .expression import corner_height, corner_reference
        from .geometry import to_norm

        t = np.asarray(template[:, :2], np.float64)
        ref = corner_reference(t, bank)
        if ref is None:
            return None
        rows = []
        for e in exemplars.values():
            lm = np.asarray(e.landmarks, np.float64)[:, :2]
            m = to_norm(lm, t)
            n = apply(m, lm)
            rows.append((e, m, n, float(e.params[0]), float(np.linalg.norm(n[291] - n[61])), corner_height(n)))
        widths = np.array([r[4] for r in rows])
        w_med = float(np.median(widths))
        score = np.array([(r[5] - (ref[0] + ref[1] * r[3])) / SMILE_CORNER_UNIT + (r[4] - w_med) / SMILE_WIDTH_UNIT
                          for r in rows])
        smiles = np.nonzero(score >= SMILE_SCORE)[0]
        if len(smiles) < SMILE_MIN_FRAMES:
            return None
        calm = np.nonzero((np.abs(score) < CALM_SCORE) & (np.array([r[3] for r in rows]) < CALM_OPEN_IOD))[0]
        if len(calm) == 0:
            return None
        poses = np.array([r[0].pose for r in rows], np.float64)
        # The smile nearest the person's usual pose among the strongest half of their smiles.
        strong = smiles[score[smiles] >= np.median(score[smiles])]
        med_pose = np.median(poses, axis=0)
        si = int(strong[np.argmin(np.linalg.norm(poses[strong] - med_pose, axis=1))])
        ci = int(calm[np.argmin(np.linalg.norm(poses[calm] - poses[si], axis=1))])
        if float(np.linalg.norm(poses[ci] - poses[si])) > MAX_POSE_GAP:
            return None  # shading differs with the head's turn: no pair to compare
        e_s, m_s, n_s = rows[si][:3]
        e_c, m_c, n_c = rows[ci][:3]
        # Grid over the smile's lower face, in normalised coordinates.
        jaw = n_s[list(_JAW)]
        x0, x1 = float(jaw[:, 0].min()), float(jaw[:, 0].max())
        y0, y1 = float(n_s[1, 1] - 0.35), float(jaw[:, 1].max())
        step = RATIO_STEP_IOD
        gw, gh = int(np.ceil((x1 - x0) / step)) + 1, int(np.ceil((y1 - y0) / step)) + 1
        gx, gy = np.meshgrid(x0 + step * np.arange(gw), y0 + step * np.arange(gh))
        q = np.stack([gx.ravel(), gy.ravel()], 1)
        pts_idx = np.array(sorted(set(_JAW) | set(_LIPS_OUTER) | {1, 2, 4, 5, 129, 358, 205, 425, 50, 280, 118, 347}))
        to_c = q + _interp_offsets(q, n_s[pts_idx], n_c[pts_idx] - n_s[pts_idx], MATCH_SIGMA_IOD)

        def sample(e, m, at):
            p = apply(invert(m), at).astype(np.float32)
            img = cv2.remap(e.crop, p[:, 0].reshape(gh, gw), p[:, 1].reshape(gh, gw), cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
            h, w = e.crop.shape[:2]
            ok = (p[:, 0] >= 1) & (p[:, 0] <= w - 2) & (p[:, 1] >= 1) & (p[:, 1] <= h - 2)
            return img.astype(np.float32), ok.reshape(gh, gw)

        img_s, ok_s = sample(e_s, m_s, q)
        img_c, ok_c = sample(e_c, m_c, to_c)
        sig = RATIO_BLUR_IOD / step
        valid = (ok_s & ok_c).astype(np.float32)
        blur_w = cv2.GaussianBlur(valid, (0, 0), sig) + 1e-3
        bs = cv2.GaussianBlur(img_s * valid[..., None], (0, 0), sig) / blur_w[..., None]
        bc = cv2.GaussianBlur(img_c * valid[..., None], (0, 0), sig) / blur_w[..., None]
        # Luminance only: the two frames' colour differs by white balance and blood flow far more
        # than a smile changes it, and a chroma ratio paints blotches.
        lum_w = np.array([0.299, 0.587, 0.114], np.float32)
        ratio = (bs @ lum_w + 1.0) / (bc @ lum_w + 1.0)
        # Mask: inside the jaw line, off the lips (either face's) and nostrils, where both crops exist.
        mask = np.zeros((gh, gw), np.uint8)
        to_grid = np.array([[1 / step, 0, -x0 / step], [0, 1 / step, -y0 / step]])
        cv2.fillPoly(mask, [np.round(apply(to_grid, np.concatenate([jaw, n_s[[454, 234]] - [0, 0.6]])) * 4).astype(np.int32)],
                     1, shift=2)
        keep_out = np.zeros((gh, gw), np.uint8)
        pad = max(int(round(MOUTH_MARGIN_IOD / step)), 1)
        for lips in (n_s[list(_LIPS_OUTER)], n_s[list(_LIPS_OUTER)] + (n_s[list(_LIPS_OUTER)] - n_c[list(_LIPS_OUTER)])):
            poly = np.round(apply(to_grid, lips) * 4).astype(np.int32)
            cv2.fillPoly(keep_out, [poly], 1, shift=2)
            cv2.polylines(keep_out, [poly], True, 1, thickness=2 * pad + 1, shift=2)
        for c in apply(to_grid, n_s[[98, 327, 2, 97, 326, 129, 358, 64, 294]]):
            cv2.circle(keep_out, (int(round(c[0])), int(round(c[1]))), 2 * pad, 1, -1)
        # Cheeks and folds only: the band down the middle (nose, philtrum, chin) is where the mouth
        # renderer works and where the pair's nostrils and chin never line up.
        cx = 0.5 * float(n_s[61, 0] + n_s[291, 0])
        side = np.clip((np.abs(gx - cx) - CENTRE_BAND_IOD[0]) / (CENTRE_BAND_IOD[1] - CENTRE_BAND_IOD[0]), 0.0, 1.0)
        m_f = mask.astype(np.float32) * (1 - keep_out.astype(np.float32)) * (ok_s & ok_c) * side.astype(np.float32)
        m_f = cv2.GaussianBlur(m_f, (0, 0), MASK_FEATHER_IOD / step)
        # Exposure differences between the two frames are not expression: take out the median.
        inside = m_f > 0.5
        if inside.sum() < 50:
            return None
        log_r = np.log(ratio)
        log_r -= float(np.median(log_r[inside]))
        # Where the two faces differ beyond what a smile does, something else changed (a hand or
        # a microphone in front, a shot change, a misaligned edge): too much of that, and the
        # pair is no evidence of this person's smile at all.
        wild = np.abs(log_r) > np.log(RATIO_RANGE[1])
        if float(wild[inside].mean()) > MAX_WILD_SHARE:
            log.info("no smile retrieved: frames %d/%d differ beyond a smile on %.0f %% of the cheeks",
                     e_s.index, e_c.index, 100 * float(wild[inside].mean()))
            return None
        log_r = np.clip(log_r, np.log(RATIO_RANGE[0]), np.log(RATIO_RANGE[1])) * m_f
        log_r = np.repeat(log_r[..., None], 3, axis=2)
        log.info("smile retrieved from source frame %d (calm partner %d): %d smiling mouths in the bank",
                 e_s.index, e_c.index, len(smiles))
        return cls(log_r.astype(np.float32), np.array([x0, y0]), step, n_s, (int(e_s.index), int(e_c.index)))

    def shade(self, frame: np.ndarray, face_norm: np.ndarray, m_cur: np.ndarray, level: float, *,
              inplace: bool = False) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
        """Multiply the retrieved smile's shading, at ``level`` (0..1), onto ``frame`` whose face sits
        at normalised landmarks ``face_norm`` (``m_cur``: image → normalised)."""
        if level <= 1e-3:
            return frame, None
        pts = self._pts
        gh, gw = self.log_ratio.shape[:2]
        # The output's lower face box, in normalised coordinates, then image pixels.
        jaw = face_norm[list(_JAW)]
        x0n, x1n = float(jaw[:, 0].min()), float(jaw[:, 0].max())
        y0n, y1n = float(face_norm[1, 1] - 0.35), float(jaw[:, 1].max())
        img_from_norm = invert(m_cur)
        quad = apply(img_from_norm, np.array([[x0n, y0n], [x1n, y0n], [x0n, y1n], [x1n, y1n]]))
        H, W = frame.shape[:2]
        x0, y0 = np.maximum(np.floor(quad.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(quad.max(0)).astype(int) + 1, [W, H])
        if x1 - x0 < 4 or y1 - y0 < 4:
            return frame, None
        # Output pixel → normalised → the smile's geometry → ratio grid; the correspondence is
        # smooth, so it is worked out on a coarse grid and upsampled.
        cw, ch = max(4, (x1 - x0) // 8), max(4, (y1 - y0) // 8)
        cx, cy = np.meshgrid(np.linspace(x0, x1 - 1, cw), np.linspace(y0, y1 - 1, ch))
        qn = apply(m_cur, np.stack([cx.ravel(), cy.ravel()], 1))
        qs = qn + _interp_offsets(qn, face_norm[pts], self.landmarks[pts] - face_norm[pts], MATCH_SIGMA_IOD)
        g = ((qs - self.origin) / self.step).astype(np.float32)
        mx = cv2.resize(g[:, 0].reshape(ch, cw), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        my = cv2.resize(g[:, 1].reshape(ch, cw), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        lr = cv2.remap(self.log_ratio, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        gain = np.exp(float(level) * lr)
        if float(np.abs(gain - 1.0).max()) < 0.5 / 255:
            return frame, None
        out = frame if inplace else frame.copy()
        roi = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = np.clip(roi * gain + 0.5, 0, 255).astype(np.uint8)
        return out, (int(x0), int(y0), int(x1), int(y1))
