"""Expression warp (face mode): FACS action units → landmark displacements → a smooth face warp.

The AU model lives in the person's *normalised frame* (origin between the eyes, x towards the
subject's left eye, y down, unit = inter-ocular distance; see :mod:`.geometry`), so "raise the
inner brow by 0.08" means the same at every resolution and head rotation. Each AU is a field of
displacements of the 468 face-mesh points built once from the person's template face with
smooth kernels (brows, lids, cheeks, nose wings, lip corners) — the muscle's effect as FACS
describes it, scaled so that intensity 1 is a strong but still recognisable expression.

Per output frame the planned AU intensities (plus the ``neutral`` prompt's pull towards the
person's median face) give one displacement per mesh point. A dense field is interpolated from
those points with normalised Gaussian weights (smooth, corrected once so it meets the points'
moves, pinned at the eye corners and nose, and fading to zero away from the face, so neither the
head nor the background moves), evaluated on a coarse grid over the face ROI, inverted by one
fixed-point step and applied with ``cv2.remap``. An added blink is not a smooth field — a lid
edge occludes — so it is drawn separately: the upper lid slides down over the eye
(:meth:`ExpressionWarp._blink`).
Shape is half of an expression: after the warp, :mod:`.eyes` opens the eyes wide by uncovering
eyeball (AU5), and :mod:`.wrinkles` shades the creases and folds each AU makes on the person's own
skin (and, for ``neutral`` and the smile's relaxed brow, irons the person's own frown lines).
The warp runs on the lips renderer's output, with the mouth points at their re-performed
positions, so lip corners lift or drop together with the synthesised mouth. Jaw drop (AU26) and
mouth width (AU12/AU23) are not warped: they become offsets of the lips plan's mouth targets
(:func:`mouth_target_offsets`), so the lips renderer draws them with real exemplar pixels and
its teeth/cavity logic instead of stretching the inside of the mouth.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from .. import landmarks as L
from ..options import Emotion, ModelMode
from . import eyes, wrinkles
from .geometry import apply, invert

log = logging.getLogger(__name__)

#: AU column order; must equal ``reperform.motion.expression.AUS`` (the render stage may not
#: import motion; a test checks that the two lists agree).
AUS: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU15", "AU23", "AU26")
_A = {name: i for i, name in enumerate(AUS)}
#: Mesh points that carry the warp (the 468 face points; the iris points follow the lids' field).
N_HANDLES = 468
#: Interpolation radius of the dense field (inter-ocular units) for skin points, and the tighter
#: one for lid and lip contours, whose neighbours across the eye/mouth opening move differently.
SIGMA_SKIN_IOD = 0.06
SIGMA_CONTOUR_IOD = 0.04
#: Points that carry the head pose (eye corners, nose bridge and tip) pin the field with this
#: much more weight than other points: no expression moves them, and neither may the warp. The
#: nose base (subnasale) is pinned too, so a raised upper lip shortens the philtrum instead of
#: dragging the nose along.
ANCHORS = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, L.SUBNASALE)
ANCHOR_WEIGHT = 4.0
#: Residual-correction steps that make the interpolated field meet the points' displacements.
SHARPEN_STEPS = 1
#: Weight floor of the normalised interpolation: far from every mesh point the field fades to 0.
FIELD_EPS = 0.02
#: Grid step of the field (inter-ocular units); the field is smooth at this scale.
GRID_STEP_IOD = 1 / 40
#: No mesh point moves further than this (inter-ocular units): identity is kept at any setting.
MAX_SHIFT_IOD = 0.2
#: Below this displacement (px) the output pixel is the input pixel, bit for bit.
STILL_PX = 0.05
#: The ``neutral`` prompt eases in over this many frames (~0.3 s at 25-30 fps; fps is not known here).
RELAX_EASE_FRAMES = 8
#: Prompts that also relax the face towards the person's calm face, and by how much of their
#: intensity: ``neutral`` is that and nothing else; a smile relaxes the brow (a frowning
#: speaker who smiles stops frowning — the brows of a knit, sad-looking face read as sad above
#: any mouth).
RELAX_SHARE = {Emotion.neutral: 1.0, Emotion.happy: 0.6}
#: The relaxed mouth: down-turned corners are lifted towards the lips' midline (as AU12 would)
#: by at most this AU12 intensity.
RELAX_CORNER_AU12 = 0.45
#: The ``neutral`` prompt pulls a point at most this far (inter-ocular units) towards its median.
RELAX_MAX_IOD = 0.08
#: Share of the lid gap an added blink closes at its peak (the upper lid meets the lower one; the
#: lower lid barely moves in a real blink).
BLINK_CLOSE_SHARE = 1.0
#: Height (inter-ocular units) of the lid skin above the lashes that stretches down over the eye
#: in a blink (below the crease: the brow never moves).
BLINK_SKIN_REACH_IOD = 0.10
#: Along-the-lid smoothing (inter-ocular units, σ) of the stretched lid skin.
BLINK_SMOOTH_IOD = 0.03
#: Height (inter-ocular units) of the lash band just above the lid margin: moved, not stretched.
BLINK_LASH_IOD = 0.035

# Eye contours (MediaPipe): upper lid, lower lid (paired column by column), and the skin crease
# above the upper lid. Subject's right eye first, then left.
UPPER_LID = ((246, 161, 160, 159, 158, 157, 173), (466, 388, 387, 386, 385, 384, 398))
LOWER_LID = ((7, 163, 144, 145, 153, 154, 155), (249, 390, 373, 374, 380, 381, 382))
LID_CREASE = ((247, 30, 29, 27, 28, 56, 190), (467, 260, 259, 257, 258, 286, 414))
EYE_CORNERS = ((33, 133), (263, 362))
BROW_INNER = ((107, 66, 55, 65), (336, 296, 285, 295))
BROW_OUTER = ((70, 63, 46, 53), (300, 293, 276, 283))
CHEEK = (118, 347)  # below the eye, on the cheek apple
NOSE_WING = (129, 358)
UPPER_LIP = (0, 37, 39, 40, 185, 267, 269, 270, 409, 13, 82, 81, 80, 191, 312, 311, 310, 415)
LOWER_LIP = (17, 84, 181, 91, 146, 314, 405, 321, 375, 14, 87, 178, 88, 95, 317, 402, 318, 324)
CORNERS = ((61, 78), (291, 308))
UPPER_INNER = (13, 82, 81, 80, 191, 312, 311, 310, 415)
#: Share of the upper-lip raise (AU10) that reaches the inner lip edge.
AU10_INNER_SHARE = 0.3


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _kernel(t: np.ndarray, centre: np.ndarray, sx: float, sy: float) -> np.ndarray:
    d = t - centre
    return np.exp(-0.5 * ((d[:, 0] / sx) ** 2 + (d[:, 1] / sy) ** 2))


def au_displacements(template: np.ndarray) -> np.ndarray:
    """float64[N_AUS, N_HANDLES, 2]: displacement of each mesh point at AU intensity 1 (normalised units).

    Built from the person's own template so kernel centres sit on *their* brows, lids and mouth.
    Sizes follow FACS descriptions at a strong (D) level, scaled to inter-ocular units.
    """
    t = np.asarray(template[:N_HANDLES, :2], np.float64)
    d = np.zeros((len(AUS), N_HANDLES, 2))
    lid_y = np.mean([t[list(u), 1].mean() for u in UPPER_LID])
    low_y = np.mean([t[list(lo), 1].mean() for lo in LOWER_LID])
    nose_y = t[L.NOSE_TIP, 1]
    sub_y = t[L.SUBNASALE, 1]
    # Brow region: above the upper lids, fading out over the lid crease (the eyes keep their shape).
    above = _smoothstep((lid_y - t[:, 1]) / 0.2)
    # Cheek region: below the lower lids, above the mouth.
    below_eye = _smoothstep((t[:, 1] - low_y) / 0.12)
    mouth_y = t[list(L.MOUTH_CORNERS), 1].mean()
    for side in (0, 1):
        s = -1.0 if side == 0 else 1.0  # outward direction along x
        inner = t[list(BROW_INNER[side])].mean(0)
        outer = t[list(BROW_OUTER[side])].mean(0)
        k_in = _kernel(t, inner, 0.2, 0.22) * above
        k_out = _kernel(t, outer, 0.2, 0.22) * above
        d[_A["AU1"], :, 1] -= 0.18 * k_in
        d[_A["AU2"], :, 1] -= 0.16 * k_out
        d[_A["AU2"], :, 0] += 0.01 * s * k_out
        # Brow lowerer: brows down and together (the frown), strongest at the inner end.
        k_frown = _kernel(t, inner, 0.24, 0.22) * above
        d[_A["AU4"], :, 1] += 0.12 * k_frown
        d[_A["AU4"], :, 0] -= 0.08 * s * k_frown
        up, lo, crease = list(UPPER_LID[side]), list(LOWER_LID[side]), list(LID_CREASE[side])
        gap = np.linalg.norm(t[lo] - t[up], axis=1)
        shape = np.sin(np.linspace(0.15, np.pi - 0.15, len(up)))  # lids move most at their middle
        # Upper lid raiser: not a warp — the lid uncovers eyeball (:mod:`.eyes`); only the brow
        # region above the crease lifts a little with it.
        d[_A["AU5"], crease, 1] -= 0.05 * gap * shape
        # Cheek raiser: the cheek apple rises and pushes the lower lid up (the Duchenne squint).
        centre = t[CHEEK[side]]
        k_cheek = _kernel(t, centre, 0.22, 0.16) * below_eye * (1 - _smoothstep((t[:, 1] - mouth_y) / 0.1))
        d[_A["AU6"], :, 1] -= 0.11 * k_cheek
        d[_A["AU6"], :, 0] += 0.01 * s * k_cheek
        d[_A["AU6"], lo, 1] -= 0.3 * gap * shape
        # Lid tightener: the lower lid rises and straightens, the upper one drops slightly.
        d[_A["AU7"], lo, 1] -= 0.35 * gap * shape
        d[_A["AU7"], up, 1] += 0.1 * gap * shape
        # Nose wrinkler: the wings and the skin beside them rise; the inner brows come down a bit.
        k_nose = _kernel(t, t[NOSE_WING[side]], 0.09, 0.12) * (t[:, 1] < sub_y)
        d[_A["AU9"], :, 1] -= 0.07 * k_nose
        d[_A["AU9"], :, 1] += 0.03 * _kernel(t, inner, 0.16, 0.2) * above
        # Lip corners: pulled up and back (AU12), pulled down (AU15); width itself is planned.
        c = t[list(CORNERS[side])].mean(0)
        k_corner = _kernel(t, c, 0.13, 0.12)
        k_fold = _kernel(t, c + np.array([0.05 * s, -0.2]), 0.16, 0.2) * below_eye  # nasolabial bulge
        d[_A["AU12"], :, 1] -= 0.16 * k_corner + 0.06 * k_fold
        d[_A["AU12"], :, 0] += 0.01 * s * k_fold
        d[_A["AU15"], :, 1] += 0.12 * k_corner
        d[_A["AU15"], :, 0] -= 0.01 * s * k_corner
    # Upper lip raiser: the upper lip and the skin under the nose rise, the lower lip stays.
    # The inner lip edge moves only a little: the lip rolls up and thins (the teeth below it are
    # not there to be revealed, and stretching them would smear them).
    upper = np.zeros(N_HANDLES)
    upper[list(UPPER_LIP)] = 1.0
    upper[list(UPPER_INNER)] = AU10_INNER_SHARE
    lip_top = t[L.UPPER_LIP_TOP]
    k_lip = _kernel(t, lip_top, 0.32, 0.14)
    # Skin between nose and lip follows in proportion to its distance from the nose base (the
    # nose itself stays: the philtrum shortens, which is the signature of AU10).
    ramp = _smoothstep((t[:, 1] - sub_y) / max(lip_top[1] - sub_y, 1e-3))
    zone = (t[:, 1] < lip_top[1] + 0.02) & (t[:, 1] > nose_y - 0.05)
    raise_ = np.where(upper > 0, upper, np.where(zone, ramp, 0.0)) * k_lip
    d[_A["AU10"], :, 1] -= 0.15 * raise_
    # Lip tightener: red lips thin (outer contours move towards the lip line), corners in.
    outer_up = [i for i in L.LIPS_OUTER if i in UPPER_LIP]
    outer_lo = [i for i in L.LIPS_OUTER if i in LOWER_LIP]
    d[_A["AU23"], outer_up, 1] += 0.04
    d[_A["AU23"], outer_lo, 1] -= 0.045
    # Jaw drop is carried by the mouth targets (see mouth_target_offsets): no warp here.
    return d


#: Mouth-target offsets per AU at intensity 1: (open, width, protrusion, jaw), inter-ocular units.
#: Jaw drop opens the mouth and lowers the chin; the smile widens the mouth, the tightener and the
#: depressor narrow it slightly.
MOUTH_OFFSETS: dict[str, tuple[float, float, float, float]] = {
    "AU12": (0.0, 0.10, 0.0, 0.0),
    "AU15": (0.0, -0.015, 0.0, 0.0),
    "AU23": (0.0, -0.04, 0.0, 0.0),
    "AU26": (0.16, 0.0, 0.0, 0.14),
}


def mouth_target_offsets(au: np.ndarray) -> np.ndarray:
    """float32[n, 4] MOUTH_PARAMS offsets from planned AUs ``au[n, N_AUS]`` (zeros when AUs are zero)."""
    au = np.asarray(au, np.float32)
    out = np.zeros((len(au), 4), np.float32)
    for name, off in MOUTH_OFFSETS.items():
        out += au[:, _A[name], None] * np.asarray(off, np.float32)[None]
    return out


def _handle_sigmas() -> np.ndarray:
    s = np.full(N_HANDLES, SIGMA_SKIN_IOD)
    # Eye corners count as contour points too: they anchor the lids (and the head pose) tightly.
    contour = [i for group in (*UPPER_LID, *LOWER_LID, *EYE_CORNERS) for i in group]
    contour += list(L.LIPS_OUTER) + list(L.LIPS_INNER)
    s[contour] = SIGMA_CONTOUR_IOD
    return s


class ExpressionWarp:
    """Per-job expression warp: built once from the template, then :meth:`apply` per frame."""

    def __init__(self, template: np.ndarray, au: np.ndarray, blink: np.ndarray, relax: float = 0.0) -> None:
        """``au[n_out, N_AUS]`` and ``blink[n_out]`` from the plan; ``relax`` 0..1 the neutral pull."""
        self.template = np.asarray(template[:, :2], np.float64)
        self.basis = au_displacements(self.template)
        self._basis_flat = np.ascontiguousarray(self.basis.reshape(len(AUS), -1))
        self.au = np.asarray(au, np.float64)
        self.blink = np.asarray(blink, np.float64)
        self.relax = float(relax)
        sig = _handle_sigmas()
        self._inv_2s2 = 1.0 / (2 * sig**2)
        contour = sig < SIGMA_SKIN_IOD
        self._wmul = np.ones(N_HANDLES)
        self._wmul[list(ANCHORS)] = ANCHOR_WEIGHT
        # The interpolation among the points themselves, on the template: a face's normalised
        # geometry changes too little between frames to change these weights, so the residual
        # correction costs one small matrix product per frame.
        t = self.template[:N_HANDLES]
        d2 = ((t[:, None, :] - t[None, :, :]) ** 2).sum(-1)
        w = np.exp(-d2 * self._inv_2s2[None]) * self._wmul[None]
        self._smooth = w / (w.sum(1) + FIELD_EPS)[:, None]
        self._skin = np.nonzero(~contour)[0]
        self._contour = np.nonzero(contour)[0]
        # Neutral pulls brows, forehead and cheeks; never the lids (the source's blinks stay).
        upper_face = self.template[:N_HANDLES, 1] < self.template[L.NOSE_TIP, 1] - 0.1
        lids = [i for group in (*UPPER_LID, *LOWER_LID, *LID_CREASE) for i in group]
        upper_face[lids] = False
        self._relax_w = upper_face.astype(np.float64)

    def active(self, k: int) -> bool:
        """Whether frame ``k`` changes at all (lets the caller skip the work)."""
        if self.relax > 0:
            return True
        au = self.au[k] if k < len(self.au) else 0
        b = self.blink[k] if k < len(self.blink) else 0
        return bool(np.any(np.abs(au) > 1e-3) or b > 1e-3)

    def displacements(self, k: int, n_cur: np.ndarray) -> np.ndarray:
        """float64[N_HANDLES, 2]: where each mesh point of frame ``k`` moves (normalised units).

        ``n_cur`` are the frame's normalised landmarks as rendered (mouth re-performed).
        """
        d = np.zeros((N_HANDLES, 2))
        if k < len(self.au):
            d += (self.au[k] @ self._basis_flat).reshape(N_HANDLES, 2)
        if self.relax > 0:
            level = self.relax * min(1.0, (k + 1) / RELAX_EASE_FRAMES)
            # Vertical only: brows and cheeks express by rising and falling, while a turned head
            # changes the face's 2-D shape mostly sideways — that is pose, not expression.
            pull = np.zeros((N_HANDLES, 2))
            pull[:, 1] = (self.template[:N_HANDLES, 1] - n_cur[:N_HANDLES, 1]) * self._relax_w
            norm = np.linalg.norm(pull, axis=1, keepdims=True)
            pull *= np.minimum(1.0, RELAX_MAX_IOD / np.maximum(norm, 1e-9))
            d += level * pull
            # Corners below the lips' midline (a down-turned mouth) come up towards it.
            mid = 0.5 * (n_cur[13, 1] + n_cur[14, 1])
            droop = float(np.mean([n_cur[c, 1] for c in L.MOUTH_CORNERS]) - mid)
            if droop > 0:
                au12 = min(droop / 0.16, RELAX_CORNER_AU12) * level
                d += au12 * self.basis[_A["AU12"]]
        norm = np.linalg.norm(d, axis=1, keepdims=True)
        return d * np.minimum(1.0, MAX_SHIFT_IOD / np.maximum(norm, 1e-9))

    def field_at(self, k: int, n_cur: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Forward displacement (normalised units) of the warp of frame ``k`` at points ``pts[m, 2]``.

        The exact normalised Gaussian interpolation that :meth:`apply` evaluates on its grid
        (blinks excluded): for checking what moves, e.g. that rigid points stay.
        """
        disp = self._sharpen(self.displacements(k, n_cur))
        return self._interpolate(np.asarray(pts, np.float64)[:, :2], n_cur[:N_HANDLES, :2], disp)

    def _interpolate(self, pts: np.ndarray, centres: np.ndarray, disp: np.ndarray) -> np.ndarray:
        """Normalised Gaussian interpolation of point displacements at ``pts`` (exact, no grid)."""
        d2 = ((pts[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
        w = np.exp(-d2 * self._inv_2s2[None]) * self._wmul[None]
        return (w @ disp) / (w.sum(1) + FIELD_EPS)[:, None]

    def _sharpen(self, disp: np.ndarray) -> np.ndarray:
        """Point values whose interpolated field meets the wanted displacements at the points.

        Normalised Gaussian interpolation averages each point with its neighbours, so a feature
        that moves alone (the upper lip under a still nose) comes out at a fraction of its move.
        SHARPEN_STEPS of residual correction (``d += d_wanted − field(points)``) restore it, and
        pin the anchors closer to zero at the same time.
        """
        eff = disp.copy()
        for _ in range(SHARPEN_STEPS):
            eff += disp - self._smooth @ eff
        return eff

    def _field_grid(self, pts_g: np.ndarray, disp_px: np.ndarray, shape: tuple[int, int],
                    sig_g: float) -> np.ndarray:
        """Dense displacement (px) on a grid from point displacements: normalised convolution.

        Each point's displacement is splatted (bilinearly) onto the grid with weight 1, numerator
        and weights are Gaussian-blurred — skin points with the skin radius, lid and lip contours
        with the tight one — and divided. Equals the normalised Gaussian interpolation of the
        points up to the splat's sub-cell rounding, at the cost of a few small blurs.
        """
        gh, gw = shape
        out_num = np.zeros((gh, gw, 2), np.float64)
        out_den = np.zeros((gh, gw), np.float64)
        for group, sigma in ((self._skin, SIGMA_SKIN_IOD), (self._contour, SIGMA_CONTOUR_IOD)):
            num = np.zeros((gh, gw, 3), np.float32)
            p = pts_g[group]
            x0 = np.floor(p[:, 0]).astype(int)
            y0 = np.floor(p[:, 1]).astype(int)
            fx, fy = p[:, 0] - x0, p[:, 1] - y0
            wm = self._wmul[group][:, None]
            vals = np.concatenate([disp_px[group] * wm, wm], 1)
            for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
                xs, ys = np.clip(x0 + dx, 0, gw - 1), np.clip(y0 + dy, 0, gh - 1)
                np.add.at(num, (ys, xs), (vals * w[:, None]).astype(np.float32))
            sg = sigma * sig_g
            blurred = cv2.GaussianBlur(num, (0, 0), sg, borderType=cv2.BORDER_CONSTANT)
            # GaussianBlur normalises its kernel; scale back so each point's peak weight is 1.
            blurred = blurred.astype(np.float64) * (2 * np.pi * sg * sg)
            out_num += blurred[..., :2]
            out_den += blurred[..., 2]
        return (out_num / (out_den + FIELD_EPS)[..., None]).astype(np.float32)

    def apply(self, k: int, frame: np.ndarray, n_cur: np.ndarray, m_cur: np.ndarray,
              box: tuple[int, int, int, int] | None, *, inplace: bool = False,
              ) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
        """Warp output frame ``k`` (already lips-rendered; modified only when ``inplace``).

        ``n_cur`` normalised landmarks of the rendered face, ``m_cur`` the image→normalised
        similarity. Returns the frame and the edit box grown by the warped region.
        """
        if not self.active(k):
            return frame, box
        disp = self.displacements(k, n_cur)
        out = frame
        if np.any(np.linalg.norm(disp, axis=1) > 1e-4):
            out, box = self._apply_field(out, n_cur, m_cur, disp, box, inplace)
            inplace = inplace or out is not frame
        b = float(self.blink[k]) if k < len(self.blink) else 0.0
        face = np.array(n_cur[:, :2], np.float64, copy=True)
        face[:N_HANDLES] += disp
        au = np.clip(self.au[k], 0.0, 1.0) if k < len(self.au) else np.zeros(len(AUS))
        # Wide eyes give way to a blink (the lid closes from where it rests).
        wide = float(au[_A["AU5"]]) * (1.0 - float(np.clip(b / 0.3, 0.0, 1.0)))
        if wide > 1e-3:
            for side in (0, 1):
                out, box = eyes.widen(out, face, m_cur, wide, side, box, inplace)
                inplace = inplace or out is not frame
        if b > 1e-3:
            for side in (0, 1):
                out, box = self._blink(out, b, face[:N_HANDLES], side, m_cur, box, inplace)
                inplace = inplace or out is not frame
        out, sbox = wrinkles.shade(out, face, au, m_cur, inplace=inplace)
        inplace = inplace or out is not frame
        box = _union(box, sbox)
        if self.relax > 0:
            level = self.relax * min(1.0, (k + 1) / RELAX_EASE_FRAMES)
            out, sbox = wrinkles.smooth_creases(out, face, m_cur, level, inplace=inplace)
            box = _union(box, sbox)
        return out, box

    def _blink(self, frame: np.ndarray, b: float, lm: np.ndarray, side: int, m_cur: np.ndarray,
               box, inplace: bool):
        """Close one eye by ``b`` (0..1): the upper lid and the skin above it slide down over the eye.

        Per pixel column of the eye (in the normalised frame) the lid edge moves to
        ``upper + b·share·gap``; pixels above the new edge show the skin that was ``move`` higher
        (fading out towards the brow, so the lid skin stretches rather than tears), pixels below
        it are untouched. Done at full resolution on the eye's box only: the lid edge is sharp.
        """
        corners = EYE_CORNERS[side]
        up = lm[[corners[0], *UPPER_LID[side], corners[1]]]
        lo = lm[[corners[0], *LOWER_LID[side], corners[1]]]
        ou, ol = np.argsort(up[:, 0]), np.argsort(lo[:, 0])
        xu, yu_pts, xl, yl_pts = up[ou, 0], up[ou, 1], lo[ol, 0], lo[ol, 1]
        reach = BLINK_SKIN_REACH_IOD
        lo_n = np.array([xu.min() - 0.02, yu_pts.min() - reach])
        hi_n = np.array([xu.max() + 0.02, yl_pts.max() + 0.02])
        img_from_norm = invert(m_cur)
        quad = apply(img_from_norm, np.array([lo_n, [hi_n[0], lo_n[1]], [lo_n[0], hi_n[1]], hi_n]))
        H, W = frame.shape[:2]
        x0, y0 = np.maximum(np.floor(quad.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(quad.max(0)).astype(int) + 1, [W, H])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return frame, box
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        pn = apply(m_cur, np.stack([xx.ravel(), yy.ravel()], 1))
        yu = np.interp(pn[:, 0], xu, yu_pts)
        yl = np.interp(pn[:, 0], xl, yl_pts)
        move = b * BLINK_CLOSE_SHARE * np.maximum(yl - yu, 0.0)
        edge = yu + move
        px_n = 1.0 / max(float(np.sqrt(abs(np.linalg.det(img_from_norm[:, :2])))), 1e-6)
        cover = np.clip((edge - pn[:, 1]) / px_n + 0.5, 0.0, 1.0)  # 1 above the new lid edge (antialiased)
        # The lid band above the lashes stretches down to the new edge (the lashes land on it);
        # the skin above the band, and the brow, stay where they are.
        # The lashes keep their size, riding down on the edge; only the skin above them stretches.
        top, lash = yu - reach, BLINK_LASH_IOD
        skin = reach - lash
        y = pn[:, 1]
        src_y = np.where(y < edge - lash, top + (y - top) * skin / (skin + move), y - move)
        dy = np.clip(y - src_y, 0.0, None) * cover
        if dy.max() * (1.0 / px_n) < STILL_PX:
            return frame, box
        src = apply(img_from_norm, pn - np.stack([np.zeros_like(dy), dy], 1)).astype(np.float32)
        h, w = y1 - y0, x1 - x0
        warped = cv2.remap(frame, src[:, 0].reshape(h, w), src[:, 1].reshape(h, w),
                           interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # The stretched lid skin carries vertical streaks of whatever lashes lay above the margin:
        # smooth it along the lid (horizontally) where it covers the eye, keeping the lash line.
        covered = ((y > yu) & (y < edge - lash) & (cover > 0)).reshape(h, w).astype(np.float32)
        if covered.any():
            sig = max(BLINK_SMOOTH_IOD / px_n, 1.0)
            smooth = cv2.GaussianBlur(warped, (0, 0), sigmaX=sig, sigmaY=0.5)
            wgt = cv2.GaussianBlur(covered, (0, 0), 1.0)[..., None]
            warped = (warped * (1 - wgt) + smooth * wgt).astype(np.uint8)
        moved = (dy / px_n > STILL_PX).reshape(h, w)
        out = frame if inplace else frame.copy()
        np.copyto(out[y0:y1, x0:x1], warped, where=moved[..., None])
        rows, cols = np.nonzero(moved.any(axis=1))[0], np.nonzero(moved.any(axis=0))[0]
        ebox = (int(x0 + cols[0]), int(y0 + rows[0]), int(x0 + cols[-1] + 1), int(y0 + rows[-1] + 1))
        if box is not None:
            ebox = (min(box[0], ebox[0]), min(box[1], ebox[1]), max(box[2], ebox[2]), max(box[3], ebox[3]))
        return out, ebox

    def _apply_field(self, frame: np.ndarray, n_cur: np.ndarray, m_cur: np.ndarray, disp: np.ndarray,
                     box, inplace: bool):
        """Warp ``frame`` by the dense field interpolated from the mesh points' displacements."""
        disp = self._sharpen(disp)
        moving = np.linalg.norm(disp, axis=1) > 1e-4
        centres = n_cur[:N_HANDLES]
        img_from_norm = invert(m_cur)
        lin = img_from_norm[:, :2]
        iod_px = float(np.sqrt(abs(np.linalg.det(lin))))
        # ROI: every moving point plus 3 interpolation radii, in image pixels.
        reach = 3 * SIGMA_SKIN_IOD + MAX_SHIFT_IOD
        lo_n, hi_n = centres[moving].min(0) - reach, centres[moving].max(0) + reach
        corners = apply(img_from_norm, np.array([[lo_n[0], lo_n[1]], [hi_n[0], lo_n[1]],
                                                 [lo_n[0], hi_n[1]], [hi_n[0], hi_n[1]]]))
        H, W = frame.shape[:2]
        x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1, [W, H])
        if x1 - x0 < 4 or y1 - y0 < 4:
            return frame, box
        step = max(1, int(round(GRID_STEP_IOD * iod_px)))
        h, w = int(y1 - y0), int(x1 - x0)
        gh, gw = (h + step - 1) // step + 3, (w + step - 1) // step + 3
        # Grid cell j stands for ROI pixel (j - 1 + 0.5)·step - 0.5 (cv2.resize's linear convention).
        pts_px = apply(img_from_norm, centres)
        pts_g = (pts_px - [x0, y0] + 0.5) / step - 0.5 + 1
        disp_px = disp @ lin.T
        f = self._field_grid(pts_g, disp_px, (gh, gw), iod_px / step)
        gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float32)
        # One fixed-point step: the content at p came from p - f(p - f(p)).
        f2 = cv2.remap(f, gx - f[..., 0] / step, gy - f[..., 1] / step, interpolation=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT)
        # Only the part of the grid that moves is resampled (the rest stays bit for bit).
        shift = np.abs(f2).max(-1)
        mag = shift > STILL_PX
        if not mag.any():
            return frame, box
        gys, gxs = np.nonzero(mag)
        g0y, g1y = max(int(gys.min()) - 1, 0), min(int(gys.max()) + 2, gh)
        g0x, g1x = max(int(gxs.min()) - 1, 0), min(int(gxs.max()) + 2, gw)
        # Absolute source coordinates on the grid, upsampled to pixels (cv2.resize's centres).
        src = np.stack([x0 + (gx - 0.5) * step - 0.5, y0 + (gy - 0.5) * step - 0.5], -1) - f2
        big = (gw * step, gh * step)
        px0, px1 = max(g0x * step - step, 0), min(g1x * step - step, w)
        py0, py1 = max(g0y * step - step, 0), min(g1y * step - step, h)
        if px1 <= px0 or py1 <= py0:
            return frame, box
        full = cv2.resize(src, big, interpolation=cv2.INTER_LINEAR)[step + py0:step + py1, step + px0:step + px1]
        moved = cv2.resize(shift, big, interpolation=cv2.INTER_LINEAR)[
            step + py0:step + py1, step + px0:step + px1] > STILL_PX
        m1, m2 = cv2.convertMaps(full[..., 0], full[..., 1], cv2.CV_16SC2)
        warped = cv2.remap(frame, m1, m2, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out = frame if inplace else frame.copy()
        roi = out[y0 + py0:y0 + py1, x0 + px0:x0 + px1]
        np.copyto(roi, warped, where=moved[..., None])
        x0, y0 = x0 + px0, y0 + py0
        rows = np.nonzero(moved.any(axis=1))[0]
        cols = np.nonzero(moved.any(axis=0))[0]
        wbox = (x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1)
        if box is not None:
            wbox = (min(box[0], wbox[0]), min(box[1], wbox[1]), max(box[2], wbox[2]), max(box[3], wbox[3]))
        return out, wbox


def _union(a: tuple[int, int, int, int] | None, b: tuple[int, int, int, int] | None):
    """The box holding both boxes (either may be None)."""
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def adjust_targets(targets: np.ndarray, au: np.ndarray, closure: np.ndarray) -> np.ndarray:
    """Mouth targets with the planned AUs' jaw/width offsets; p/b/m closures stay sealed.

    Identity when every AU is zero (lips mode), so lips mode renders exactly as before.
    """
    au = np.asarray(au, np.float32)
    if au.size == 0 or not np.any(au):
        return targets
    out = np.array(targets, np.float32, copy=True)
    out += mouth_target_offsets(au[: len(out)])
    out[:, 0] = np.maximum(out[:, 0], 0.0)
    out[np.asarray(closure, bool)[: len(out)], 0] = 0.0
    return out


def from_plan(template: np.ndarray, plan: object, options: object | None) -> ExpressionWarp | None:
    """The job's expression warp, or None when nothing changes (lips mode, or no AUs/blinks/neutral)."""
    mode = getattr(options, "mode", ModelMode.lips)
    if options is None or mode == ModelMode.lips:
        return None
    relax = 0.0
    emotion = getattr(options, "emotion", None)
    gain = float(np.clip(0.2 + 0.8 * float(getattr(options, "temperature", 0.5)), 0.0, 1.0))
    if emotion in RELAX_SHARE:
        relax = RELAX_SHARE[emotion] * gain
    au, blink = plan.au, plan.blink  # type: ignore[attr-defined]
    if relax == 0.0 and not np.any(au) and not np.any(blink):
        return None
    return ExpressionWarp(template, au, blink, relax)


def rendered_landmarks(n_cur: np.ndarray, shaped: np.ndarray, indices: np.ndarray,
                       blend_w: np.ndarray) -> np.ndarray:
    """Normalised landmarks of the frame as the lips renderer drew it: its mesh points moved to
    the re-performed mouth by the same per-point weights its warp uses."""
    out = np.array(n_cur[:, :2], np.float64, copy=True)
    out[indices] += blend_w[:, None] * (shaped[indices] - out[indices])
    return out
