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
from ..options import Emotion, GenerateOptions, ModelMode
from . import brows, eyes, smile, wrinkles
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
#: The brows rise (AU1+AU2, drawn as a block by :mod:`.brows`) by at most this much (inter-ocular
#: units; the whole brow is scaled down together, so it keeps its arch). The brow-to-eye distance
#: is identity-bearing (the per-component ablation, ``benchmarks/emotion_ablate.py``).
BROW_MAX_RISE_IOD = 0.06
#: A surprise's full raise (outer brows up, AU2 from SURPRISE_UNKNIT_FROM) is capped lower: the
#: classifier reads surprise from the wide eyes and the dropped jaw, and the lift is kept as a
#: visible cue, not as large as a full surprise's (~0.15). Chosen by the same rule on the three
#: done-when clips (docs/tuning.md, "Expression"). Sad's oblique brow (AU1 alone) and the brow
#: flicks on stressed syllables keep BROW_MAX_RISE_IOD.
SURPRISE_BROW_MAX_RISE_IOD = 0.03
#: Below this displacement (px) the output pixel is the input pixel, bit for bit.
STILL_PX = 0.05
#: The ``neutral`` prompt eases in over this many frames (~0.3 s at 25-30 fps; fps is not known here).
RELAX_EASE_FRAMES = 8
#: Prompts that also relax the face towards the person's calm face, and by how much of their
#: intensity: ``neutral`` is that and nothing else; a smile relaxes the brow (a frowning
#: speaker who smiles stops frowning — the brows of a knit, sad-looking face read as sad above
#: any mouth).
RELAX_SHARE = {Emotion.neutral: 1.0, Emotion.happy: 0.6}
#: How far a full smile (AU12 = 1) lifts the mouth corners (inter-ocular units), relative to the
#: centre of the upper lip's inner edge (which parting the lips also raises). Measured on a
#: real smile (docs/tuning.md, "Expression"); larger than the corners' own rise because the warp
#: lifts the corners' neighbourhood, lips and skin together.
SMILE_CORNER_LIFT = 0.16
#: The smile never lifts the corners further than this (inter-ocular units), whatever the droop.
SMILE_MAX_LIFT = 0.25
#: Share of the brow lowerer's displacement a full smile, and a full outer brow raise (surprise),
#: undo (brows up and apart).
SMILE_UNKNIT = 0.5
SURPRISE_UNKNIT = 0.5
SURPRISE_UNKNIT_FROM = 0.35
#: The relaxed mouth: down-turned corners are lifted towards the lips' midline (as AU12 would)
#: by at most this AU12 intensity.
RELAX_CORNER_AU12 = 0.8
#: The retrieved smile (:class:`.smile.SmileBank`) is applied in full from this AU12 intensity on
#: (its source is a full smile; a half smile gets half its shading).
OWN_SMILE_FULL_AT = 0.8
#: A face wearing glasses (:func:`.brows.glasses_score`, decided on the first GLASSES_SAMPLES
#: frames) moves its brows, lids and upper cheeks by this share only, and its eyes are not
#: widened: the spectacle frame in front of them bent into waves with any warp there (even at
#: a third of the motion: docs/tuning.md, "Expression"). Its expression there is
#: carried by the texture alone (forehead folds, frown lines, the cheeks' relief).
GLASSES_UPPER_SHARE = 0.0
GLASSES_SAMPLES = 5
#: ``neutral`` calms a face beyond the pull to its median (which is sad or tense if the person
#: mostly is — some dev clips' median faces read sad or angry): the inner brows'
#: height over the outer ones is brought into CALM_BROW_SLOPE (at most CALM_MAX_IOD of move:
#: raised inner ends come down, knit and lowered ones come up), and upper lids whose gap is
#: under CALM_EYE_OPEN of the eye's width open by up to CALM_LID_SHARE of the wide-eye level
#: (full at a deficit of CALM_EYE_SPAN). The calm range brackets the dev clips' median faces
#: (docs/tuning.md, "Expression").
CALM_BROW_SLOPE = (-0.02, 0.02)
CALM_MAX_IOD = 0.04
CALM_EYE_OPEN = 0.3
CALM_EYE_SPAN = 0.1
CALM_LID_SHARE = 0.3
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
UPPER_LID, LOWER_LID, LID_CREASE, EYE_CORNERS = L.UPPER_LID, L.LOWER_LID, L.LID_CREASE, L.EYE_CORNERS
BROW_INNER, BROW_OUTER, BROW_LOWER = L.BROW_INNER, L.BROW_OUTER, L.BROW_BOTTOM
CHEEK = L.CHEEK_BELOW_EYE  # below the eye, on the cheek apple
NOSE_WING, UPPER_LIP, LOWER_LIP, CORNERS = L.NOSE_WING, L.UPPER_LIP, L.LOWER_LIP, L.LIP_CORNERS
#: The upper lip's inner points from the centre out (the order its lift is applied in).
UPPER_INNER = (13, 82, 81, 80, 191, 312, 311, 310, 415)
#: Share of the upper-lip raise (AU10) that reaches the inner lip edge.
AU10_INNER_SHARE = 0.3


_smoothstep = L.smoothstep


def _kernel(t: np.ndarray, centre: np.ndarray, sx: float, sy: float) -> np.ndarray:
    d = t - centre
    return np.exp(-0.5 * ((d[:, 0] / sx) ** 2 + (d[:, 1] / sy) ** 2))


#: How far each action unit moves the skin at intensity 1 (normalised units: inter-ocular
#: distance 1), by the named parts of the move that :func:`au_displacements` applies. Sizes follow
#: FACS descriptions at a strong (D) level.
AU_MOVES: dict[str, dict[str, float]] = {
    "AU1": {"brow_lift": 0.18},  # inner brow raiser
    "AU2": {"brow_lift": 0.16, "outward": 0.01},  # outer brow raiser
    "AU4": {"brow_drop": 0.12, "inward": 0.05},  # brow lowerer: down and together
    "AU5": {"crease_lift": 0.05},  # upper lid raiser (share of the lid gap; the eyeball is :mod:`.eyes`)
    "AU6": {"cheek_lift": 0.11, "outward": 0.01, "lower_lid_lift": 0.45},  # cheek raiser
    "AU7": {"lower_lid_lift": 0.35, "upper_lid_drop": 0.1},  # lid tightener (shares of the lid gap)
    "AU9": {"wing_lift": 0.09, "inner_brow_drop": 0.03},  # nose wrinkler
    "AU10": {"lip_lift": 0.15},  # upper lip raiser
    "AU12": {"corner_lift": SMILE_CORNER_LIFT, "fold_lift": 0.06, "fold_outward": 0.01},  # lip corner puller
    "AU15": {"corner_drop": 0.12, "corner_inward": 0.01},  # lip corner depressor
    "AU23": {"upper_lip_down": 0.04, "lower_lip_up": 0.045},  # lip tightener: red lips thin
}
#: Gaussian reach (σx, σy, normalised units) of each region a move is spread over.
AU_KERNELS: dict[str, tuple[float, float]] = {
    "brow": (0.2, 0.22), "frown": (0.24, 0.22), "cheek": (0.22, 0.16), "nose_wing": (0.09, 0.12),
    "brow_over_nose": (0.16, 0.2), "nasolabial": (0.16, 0.2), "upper_lip": (0.32, 0.14), "corner": (0.13, 0.12),
}


def au_displacements(template: np.ndarray) -> np.ndarray:
    """float64[N_AUS, N_HANDLES, 2]: displacement of each mesh point at AU intensity 1 (normalised units).

    Built from the person's own template so kernel centres sit on *their* brows, lids and mouth.
    Sizes follow FACS descriptions at a strong (D) level, scaled to inter-ocular units.
    """
    t = np.asarray(template[:N_HANDLES, :2], np.float64)
    m, kn = AU_MOVES, AU_KERNELS
    d = np.zeros((len(AUS), N_HANDLES, 2))
    low_y = np.mean([t[list(lo), 1].mean() for lo in LOWER_LID])
    nose_y = t[L.NOSE_TIP, 1]
    sub_y = t[L.SUBNASALE, 1]
    # Brow region: the brows move as a whole — every point from the brows' lower edge up gets the
    # full move — and the lid skin between the crease and the brows takes the stretch (fading out
    # at the crease, so the eyes keep their shape). A ramp that still rose across the brow itself
    # made the brow's lower edge lag its upper edge: a raised brow came out as a tall dark smear.
    crease_y = np.mean([t[list(c), 1].mean() for c in LID_CREASE])
    low_brow_y = np.mean([t[list(b), 1].mean() for b in BROW_LOWER])
    above = _smoothstep((crease_y - t[:, 1]) / max(crease_y - low_brow_y, 0.03))
    # Cheek region: below the lower lids, above the mouth.
    below_eye = _smoothstep((t[:, 1] - low_y) / 0.12)
    mouth_y = t[list(L.MOUTH_CORNERS), 1].mean()
    for side in (0, 1):
        s = -1.0 if side == 0 else 1.0  # outward direction along x
        inner = t[list(BROW_INNER[side])].mean(0)
        outer = t[list(BROW_OUTER[side])].mean(0)
        k_in = _kernel(t, inner, *kn["brow"]) * above
        k_out = _kernel(t, outer, *kn["brow"]) * above
        d[_A["AU1"], :, 1] -= m["AU1"]["brow_lift"] * k_in
        d[_A["AU2"], :, 1] -= m["AU2"]["brow_lift"] * k_out
        d[_A["AU2"], :, 0] += m["AU2"]["outward"] * s * k_out
        # Brow lowerer: brows down and together (the frown), strongest at the inner end.
        k_frown = _kernel(t, inner, *kn["frown"]) * above
        d[_A["AU4"], :, 1] += m["AU4"]["brow_drop"] * k_frown
        d[_A["AU4"], :, 0] -= m["AU4"]["inward"] * s * k_frown
        up, lo, crease = list(UPPER_LID[side]), list(LOWER_LID[side]), list(LID_CREASE[side])
        gap = np.linalg.norm(t[lo] - t[up], axis=1)
        shape = np.sin(np.linspace(0.15, np.pi - 0.15, len(up)))  # lids move most at their middle
        # Upper lid raiser: not a warp — the lid uncovers eyeball (:mod:`.eyes`); only the brow
        # region above the crease lifts a little with it.
        d[_A["AU5"], crease, 1] -= m["AU5"]["crease_lift"] * gap * shape
        # Cheek raiser: the cheek apple rises and pushes the lower lid up (the Duchenne squint).
        centre = t[CHEEK[side]]
        k_cheek = _kernel(t, centre, *kn["cheek"]) * below_eye * (1 - _smoothstep((t[:, 1] - mouth_y) / 0.1))
        d[_A["AU6"], :, 1] -= m["AU6"]["cheek_lift"] * k_cheek
        d[_A["AU6"], :, 0] += m["AU6"]["outward"] * s * k_cheek
        d[_A["AU6"], lo, 1] -= m["AU6"]["lower_lid_lift"] * gap * shape
        # Lid tightener: the lower lid rises and straightens, the upper one drops slightly.
        d[_A["AU7"], lo, 1] -= m["AU7"]["lower_lid_lift"] * gap * shape
        d[_A["AU7"], up, 1] += m["AU7"]["upper_lid_drop"] * gap * shape
        # Nose wrinkler: the wings and the skin beside them rise; the inner brows come down a bit.
        k_nose = _kernel(t, t[NOSE_WING[side]], *kn["nose_wing"]) * (t[:, 1] < sub_y)
        d[_A["AU9"], :, 1] -= m["AU9"]["wing_lift"] * k_nose
        d[_A["AU9"], :, 1] += m["AU9"]["inner_brow_drop"] * _kernel(t, inner, *kn["brow_over_nose"]) * above
        # Lip corners: pulled up and back (AU12), pulled down (AU15); width itself is planned.
        c = t[list(CORNERS[side])].mean(0)
        k_corner = _corner_kernel(t, side)
        k_fold = _kernel(t, c + np.array([0.05 * s, -0.2]), *kn["nasolabial"]) * below_eye  # nasolabial bulge
        d[_A["AU12"], :, 1] -= m["AU12"]["corner_lift"] * k_corner + m["AU12"]["fold_lift"] * k_fold
        d[_A["AU12"], :, 0] += m["AU12"]["fold_outward"] * s * k_fold
        d[_A["AU15"], :, 1] += m["AU15"]["corner_drop"] * k_corner
        d[_A["AU15"], :, 0] -= m["AU15"]["corner_inward"] * s * k_corner
    # Upper lip raiser: the upper lip and the skin under the nose rise, the lower lip stays.
    # The inner lip edge moves only a little: the lip rolls up and thins (the teeth below it are
    # not there to be revealed, and stretching them would smear them).
    upper = np.zeros(N_HANDLES)
    upper[list(UPPER_LIP)] = 1.0
    upper[list(UPPER_INNER)] = AU10_INNER_SHARE
    lip_top = t[L.UPPER_LIP_TOP]
    k_lip = _kernel(t, lip_top, *kn["upper_lip"])
    # Skin between nose and lip follows in proportion to its distance from the nose base (the
    # nose itself stays: the philtrum shortens, which is the signature of AU10).
    ramp = _smoothstep((t[:, 1] - sub_y) / max(lip_top[1] - sub_y, 1e-3))
    zone = (t[:, 1] < lip_top[1] + 0.02) & (t[:, 1] > nose_y - 0.05)
    raise_ = np.where(upper > 0, upper, np.where(zone, ramp, 0.0)) * k_lip
    d[_A["AU10"], :, 1] -= m["AU10"]["lip_lift"] * raise_
    # Lip tightener: red lips thin (outer contours move towards the lip line), corners in.
    outer_up = [i for i in L.LIPS_OUTER if i in UPPER_LIP]
    outer_lo = [i for i in L.LIPS_OUTER if i in LOWER_LIP]
    d[_A["AU23"], outer_up, 1] += m["AU23"]["upper_lip_down"]
    d[_A["AU23"], outer_lo, 1] -= m["AU23"]["lower_lip_up"]
    # Jaw drop is carried by the mouth targets (see mouth_target_offsets): no warp here.
    return d


#: Mouth-target offsets per AU at intensity 1: (open, width, protrusion, jaw), inter-ocular units.
#: Jaw drop opens the mouth and lowers the chin; the tightener and the depressor narrow it slightly;
#: the upper-lip raiser (disgust's sneer) parts the lips under the raised, thinned upper lip.
#: The smile (AU12) is a *mouth shape*, not only lifted corners: wider, lips stretched thinner and
#: parted so the upper teeth show, as measured on a real Duchenne smile (docs/tuning.md,
#: "Expression"). Its opening
#: follows :data:`SMILE_OPEN_FULL_AT` rather than the intensity (lips part as soon as the smile is
#: clear: a closed-lip smile at half strength reads as a smirk or a grimace).
MOUTH_OFFSETS: dict[str, tuple[float, float, float, float]] = {
    "AU12": (0.0, 0.16, -0.02, 0.0),
    "AU10": (0.06, 0.0, -0.02, 0.0),
    "AU15": (0.0, -0.015, 0.0, 0.0),
    "AU23": (0.0, -0.04, 0.0, 0.0),
    "AU26": (0.0, -0.15, 0.06, 0.16),
}
#: The jaw drop (AU26) parts the lips by up to JAW_OPEN_IOD, reached at intensity JAW_OPEN_FULL_AT
#: and narrows the mouth a little (a surprised mouth is a rounded oval, not a stretched slot):
#: a surprised speaker's mouth hangs open between words, which is what people read. Bounded by
#: lip-sync: a mouth held further open drowns the speech's smaller openings (the face-mode vs
#: lips-mode cost per value: docs/tuning.md, "Expression").
#: The smile's lips part by SMILE_OPEN_IOD, reached at AU12 intensity SMILE_OPEN_FULL_AT.
SMILE_OPEN_IOD = 0.11
SMILE_OPEN_FULL_AT = 0.6
JAW_OPEN_IOD = 0.15
JAW_OPEN_FULL_AT = 0.8


def _corner_kernel(t: np.ndarray, side: int) -> np.ndarray:
    c = t[list(CORNERS[side])].mean(0)
    return _kernel(t, c, *AU_KERNELS["corner"])


def corner_lift_field(template: np.ndarray) -> np.ndarray:
    """float64[N_HANDLES, 2]: the displacement that lifts both mouth corners by one unit (the
    corner part of AU12), fading over their neighbourhood."""
    t = np.asarray(template[:N_HANDLES, :2], np.float64)
    d = np.zeros((N_HANDLES, 2))
    for side in (0, 1):
        d[:, 1] -= _corner_kernel(t, side)
    return d


def corner_height(n: np.ndarray) -> float:
    """How far the mouth corners sit above the centre of the upper lip's inner edge (normalised)."""
    return float(n[13, 1] - np.mean([n[c, 1] for c in L.MOUTH_CORNERS]))


def corner_reference(template: np.ndarray, bank: object | None) -> tuple[float, float] | None:
    """(a, b): this person's corner height (:func:`corner_height`) at lip opening ``o`` is about
    ``a + b·o``, fitted to the bank's mouths (median height per opening bin, then a line).

    Opening the mouth lowers the corners against the upper lip (vr4: −0.005 closed, −0.08 at her
    median opening of 0.2), so where a smile should put them depends on how open the mouth is
    drawn. None when the bank has too few mouths (then the median face is the reference).
    """
    exemplars = getattr(bank, "exemplars", None)
    if not exemplars or len(exemplars) < 8:
        return None
    from .geometry import to_norm

    t = np.asarray(template[:, :2], np.float64)
    pts = []
    for e in exemplars.values():
        lm = np.asarray(e.landmarks, np.float64)[:, :2]
        n = apply(to_norm(lm, t), lm)
        pts.append((float(e.params[0]), corner_height(n)))
    o, h = np.array(pts).T
    edges = np.quantile(o, np.linspace(0, 1, 7))
    xs, ys = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (o >= lo) & (o <= hi)
        if sel.sum() >= 2:
            xs.append(float(np.median(o[sel])))
            ys.append(float(np.median(h[sel])))
    if len(xs) < 2 or np.ptp(xs) < 0.02:
        return float(np.median(h)), 0.0
    b, a = np.polyfit(xs, ys, 1)
    return float(a), float(min(b, 0.0))


def mouth_target_offsets(au: np.ndarray) -> np.ndarray:
    """float32[n, 4] MOUTH_PARAMS offsets from planned AUs ``au[n, N_AUS]`` (zeros when AUs are zero)."""
    au = np.asarray(au, np.float32)
    out = np.zeros((len(au), 4), np.float32)
    for name, off in MOUTH_OFFSETS.items():
        out += au[:, _A[name], None] * np.asarray(off, np.float32)[None]
    out[:, 0] += SMILE_OPEN_IOD * smile_opening(au[:, _A["AU12"]])
    j = np.clip(au[:, _A["AU26"]] / JAW_OPEN_FULL_AT, 0.0, 1.0)
    out[:, 0] += JAW_OPEN_IOD * j * j * (3 - 2 * j)
    return out


def smile_opening(au12: np.ndarray | float) -> np.ndarray | float:
    """0..1: how far the smile's lips are parted at AU12 intensity ``au12`` (full at SMILE_OPEN_FULL_AT)."""
    t = np.clip(np.asarray(au12, np.float64) / SMILE_OPEN_FULL_AT, 0.0, 1.0)
    v = t * t * (3 - 2 * t)
    return float(v) if v.ndim == 0 else v


def _handle_sigmas() -> np.ndarray:
    s = np.full(N_HANDLES, SIGMA_SKIN_IOD)
    # Eye corners count as contour points too: they anchor the lids (and the head pose) tightly.
    contour = [i for group in (*UPPER_LID, *LOWER_LID, *EYE_CORNERS) for i in group]
    contour += list(L.LIPS_OUTER) + list(L.LIPS_INNER)
    s[contour] = SIGMA_CONTOUR_IOD
    return s


class ExpressionWarp:
    """Per-job expression warp: built once from the template, then :meth:`apply` per frame."""

    def __init__(self, template: np.ndarray, au: np.ndarray, blink: np.ndarray, relax: float = 0.0,
                 teeth_rgb: np.ndarray | None = None, corner_ref: tuple[float, float] | None = None,
                 calm: float = 0.0, own_smile: smile.SmileBank | None = None) -> None:
        """``au[n_out, N_AUS]`` and ``blink[n_out]`` from the plan; ``relax`` 0..1 the neutral pull;
        ``teeth_rgb`` the person's own teeth colour (None: from their skin); ``corner_ref`` where
        this person's mouth corners sit at a given opening (:func:`corner_reference`); ``calm``
        0..1 the ``neutral`` prompt's pull of a sad- or tense-looking face towards a calm one
        (lowered lids opened, a raised inner brow levelled), beyond the pull to their median;
        ``own_smile`` the person's own smiling cheeks, retrieved from the source when it smiles."""
        self.calm = float(calm)
        self.own_smile = own_smile
        self._glasses_scores: list[float] = []
        self.teeth_rgb = teeth_rgb
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
        low_lid = np.mean([self.template[list(lo), 1].mean() for lo in LOWER_LID])
        self._upper_w = 1.0 - _smoothstep((self.template[:N_HANDLES, 1] - low_lid - 0.15) / 0.15)
        self._corner_unit = corner_lift_field(self.template)
        self._corner_ref = (corner_height(self.template), 0.0) if corner_ref is None else corner_ref

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
            # A smiling face un-knits its brow: the brows lift and part a little (the inverse of
            # the brow lowerer). Without it a speaker whose resting brow is low and knit (dfrf's
            # anchor) smiles with a glare, which reads as gritted teeth, not joy.
            au12 = float(np.clip(self.au[k, _A["AU12"]], 0.0, 1.0))
            # Only a surprise's full raise: brow flicks on stressed syllables (AU1+2 up to ~0.35)
            # keep the speaker's own brow shape.
            au2 = float(np.clip((self.au[k, _A["AU2"]] - SURPRISE_UNKNIT_FROM) / (1 - SURPRISE_UNKNIT_FROM), 0.0, 1.0))
            if au2 > 0:
                # Surprise lifts the whole brow, which un-knits it: raised over a knit resting
                # brow it would be the brow of fear (AU1+2+4), which is how it read on dfrf.
                d -= SURPRISE_UNKNIT * au2 * self.basis[_A["AU4"]]
            if au12 > 0:
                d -= SMILE_UNKNIT * au12 * self.basis[_A["AU4"]]
                # The corners go to where a smile puts them, whatever the rendered mouth did:
                # SMILE_CORNER_LIFT·AU12 above the upper lip's centre, relative to how this person's
                # median face holds them. A down-turned mouth gets more lift, a real smiling
                # exemplar (already up) none — a fixed lift left droopy mouths flat (a grimace).
                d -= au12 * SMILE_CORNER_LIFT * self._corner_unit
                opening = float(np.mean(np.linalg.norm(n_cur[[14, 87, 317], :2] - n_cur[[13, 82, 312], :2], axis=1)))
                want = self._corner_ref[0] + self._corner_ref[1] * opening + SMILE_CORNER_LIFT * au12
                lift = float(np.clip(want - corner_height(n_cur), 0.0, SMILE_MAX_LIFT))
                d += lift * self._corner_unit
        if self.calm > 0:
            d += self.calm * min(1.0, (k + 1) / RELAX_EASE_FRAMES) * self._calm_brows(n_cur)
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
            smiling = k < len(self.au) and self.au[k, _A["AU12"]] > 0  # the smile sets its corners
            if droop > 0 and not smiling:
                d += min(droop, RELAX_CORNER_AU12 * SMILE_CORNER_LIFT) * level * self._corner_unit
        norm = np.linalg.norm(d, axis=1, keepdims=True)
        return d * np.minimum(1.0, MAX_SHIFT_IOD / np.maximum(norm, 1e-9))

    def _wears_glasses(self, frame: np.ndarray, n_cur: np.ndarray, m_cur: np.ndarray) -> bool:
        """Whether the face wears glasses: the median :func:`.brows.glasses_score` of the first
        GLASSES_SAMPLES frames this warp drew (fixed after them, so it never flickers)."""
        if len(self._glasses_scores) < GLASSES_SAMPLES:
            self._glasses_scores.append(brows.glasses_score(frame, n_cur, m_cur))
        return float(np.median(self._glasses_scores)) > brows.GLASSES_EDGE_RATIO

    def _calm_brows(self, n: np.ndarray) -> np.ndarray:
        """Displacement bringing the inner brows' height over the outer ones into CALM_BROW_SLOPE:
        raised inner ends (the oblique brow of sadness, AU1) come down, lowered and knit ones
        (a resting frown, AU4) come up and apart — the inverse of the unit that made them."""
        inner = -float(n[[107, 66, 55, 65, 336, 296, 285, 295], 1].mean())
        outer = -float(n[[70, 63, 105, 300, 293, 334], 1].mean())
        slope = inner - outer
        if slope > CALM_BROW_SLOPE[1]:  # the oblique brow of sadness: inner ends come down
            return min(slope - CALM_BROW_SLOPE[1], CALM_MAX_IOD) * (-self.basis[_A["AU1"]] / 0.18)
        if slope < CALM_BROW_SLOPE[0]:  # a knit, lowered brow (a frown at rest): it lifts and parts
            return min(CALM_BROW_SLOPE[0] - slope, CALM_MAX_IOD) * (-self.basis[_A["AU4"]] / 0.12)
        return np.zeros((N_HANDLES, 2))

    def calm_lids(self, n: np.ndarray) -> float:
        """0..1: how far the ``neutral`` prompt opens lowered upper lids (a downcast, heavy-lidded
        eye reads as sad), by the deficit of the lids' gap below CALM_EYE_OPEN."""
        if self.calm <= 0:
            return 0.0
        gaps = [np.linalg.norm(n[u] - n[lo]) / max(np.linalg.norm(n[a] - n[b]), 1e-6)
                for (u, lo), (a, b) in zip(L.EYE_MID_LIDS, L.EYE_CORNERS, strict=True)]
        deficit = CALM_EYE_OPEN - float(np.mean(gaps))
        return float(np.clip(deficit / CALM_EYE_SPAN, 0.0, 1.0)) * self.calm * CALM_LID_SHARE

    def brow_cap(self, k: int) -> float:
        """How far the brows may rise in frame ``k``: SURPRISE_BROW_MAX_RISE_IOD under a surprise's
        full raise, BROW_MAX_RISE_IOD otherwise."""
        surprise = k < len(self.au) and float(self.au[k, _A["AU2"]]) >= SURPRISE_UNKNIT_FROM
        return SURPRISE_BROW_MAX_RISE_IOD if surprise else BROW_MAX_RISE_IOD

    def _brow_rise(self, k: int) -> np.ndarray:
        """float64[N_HANDLES]: the upward part (≤ 0, normalised y) of the brow raisers' (AU1, AU2)
        displacement of every point in frame ``k`` — drawn by :func:`.brows.lift`, not the field."""
        if k >= len(self.au):
            return np.zeros(N_HANDLES)
        a1, a2 = (float(np.clip(self.au[k, _A[n]], 0.0, 1.0)) for n in ("AU1", "AU2"))
        up = a1 * self.basis[_A["AU1"], :, 1] + a2 * self.basis[_A["AU2"], :, 1]
        return np.clip(np.minimum(up, 0.0), -MAX_SHIFT_IOD, 0.0)

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
        # Raised brows are not part of the smooth field: :mod:`.brows` lifts them as a block.
        rise = self._brow_rise(k)
        glasses = self._wears_glasses(frame, n_cur, m_cur)
        if glasses:
            # The frame of the glasses sits in front of brows and lids and would bend with them.
            disp *= 1.0 - (1.0 - GLASSES_UPPER_SHARE) * self._upper_w[:, None]
            rise = rise * GLASSES_UPPER_SHARE
        field = disp.copy()
        field[:, 1] -= rise
        out = frame
        if np.any(np.linalg.norm(field, axis=1) > 1e-4):
            out, box = self._apply_field(out, n_cur, m_cur, field, box, inplace)
            inplace = inplace or out is not frame
        # The field leaves the brows' rise out (above); the block lift draws it scaled so that no
        # point rises further than BROW_MAX_RISE_IOD (scaled, not clipped: the brow keeps its arch).
        top = float(-rise.min()) if len(rise) else 0.0
        cap = self.brow_cap(k)
        if top > cap:
            rise = rise * (cap / top)
        if np.any(rise < -1e-4):
            moved = np.array(n_cur[:, :2], np.float64, copy=True)
            moved[:N_HANDLES] += field
            for side in (0, 1):
                out, box = brows.lift(out, moved, -rise[list(brows.BROW_TOP[side])], m_cur, side, box, inplace)
                inplace = inplace or out is not frame
        b = float(self.blink[k]) if k < len(self.blink) else 0.0
        face = np.array(n_cur[:, :2], np.float64, copy=True)
        face[:N_HANDLES] += disp
        au = np.clip(self.au[k], 0.0, 1.0) if k < len(self.au) else np.zeros(len(AUS))
        teeth = max(smile_opening(au[_A["AU12"]]), smile_opening(au[_A["AU10"]]))
        if teeth > 1e-3:  # the smile's parted lips, and the sneer's raised upper lip, show the upper teeth
            out, tbox = smile.upper_teeth(out, face, m_cur, teeth, self.teeth_rgb, seed=k, inplace=inplace)
            inplace = inplace or out is not frame
            box = _union(box, tbox)
        # Wide eyes give way to a blink (the lid closes from where it rests).
        wide = max(float(au[_A["AU5"]]), self.calm_lids(face)) * (1.0 - float(np.clip(b / 0.3, 0.0, 1.0)))
        wide *= GLASSES_UPPER_SHARE if glasses else 1.0
        if wide > 1e-3:
            for side in (0, 1):
                out, box = eyes.widen(out, face, m_cur, wide, side, box, inplace)
                inplace = inplace or out is not frame
        if b > 1e-3:
            for side in (0, 1):
                out, box = self._blink(out, b, face[:N_HANDLES], side, m_cur, box, inplace)
                inplace = inplace or out is not frame
        retrieved = 0.0
        if self.own_smile is not None and au[_A["AU12"]] > 1e-3:
            # The person's own smiling cheeks and folds, where the source holds a smile.
            retrieved = float(np.clip(au[_A["AU12"]] / OWN_SMILE_FULL_AT, 0.0, 1.0))
            out, rbox = self.own_smile.shade(out, face, m_cur, retrieved, inplace=inplace)
            inplace = inplace or out is not frame
            box = _union(box, rbox)
        out, sbox = wrinkles.shade(out, face, au, m_cur, inplace=inplace, retrieved=retrieved)
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
        if not moved.any():  # grid cells just over STILL_PX, every pixel under it once upsampled
            return frame, box
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


def from_plan(template: np.ndarray, plan: object, options: GenerateOptions | None, bank: object | None = None
              ) -> ExpressionWarp | None:
    """The job's expression warp, or None when nothing changes (no options, lips mode, or no
    AUs/blinks/neutral). The mode and temperature are the options' own (their defaults live in
    :class:`GenerateOptions` alone).

    ``bank`` (the mouth exemplars) lends the person's own teeth colour to a smile.
    """
    if options is None or options.mode == ModelMode.lips:
        return None
    relax = 0.0
    emotion = options.emotion
    gain = float(np.clip(0.2 + 0.8 * float(options.temperature), 0.0, 1.0))
    if emotion in RELAX_SHARE:
        relax = RELAX_SHARE[emotion] * gain
    au, blink = plan.au, plan.blink  # type: ignore[attr-defined]
    calm = gain if emotion == Emotion.neutral else 0.0
    if relax == 0.0 and not np.any(au) and not np.any(blink):
        return None
    smiles = bool(np.any(np.asarray(au)[:, _A["AU12"]] > 0.05))
    teeth = smile.teeth_colour(bank) if smiles else None
    ref = corner_reference(template, bank) if smiles else None
    own = smile.SmileBank.build(bank, template) if smiles else None
    return ExpressionWarp(template, au, blink, relax, teeth_rgb=teeth, corner_ref=ref, calm=calm, own_smile=own)


def rendered_landmarks(n_cur: np.ndarray, shaped: np.ndarray, indices: np.ndarray,
                       blend_w: np.ndarray) -> np.ndarray:
    """Normalised landmarks of the frame as the lips renderer drew it: its mesh points moved to
    the re-performed mouth by the same per-point weights its warp uses."""
    out = np.array(n_cur[:, :2], np.float64, copy=True)
    out[indices] += blend_w[:, None] * (shaped[indices] - out[indices])
    return out
