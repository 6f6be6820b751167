"""Face-normalised coordinates and the target mouth geometry of one output frame.

Every face is mapped into one *normalised frame* by a similarity fitted on the STABLE landmarks
(eye corners, brow ridge, nose bridge): origin between the eyes, x towards the subject's left eye,
y down the face, unit = inter-ocular distance. In that frame mouth shapes of different frames (and
of exemplars taken from elsewhere in the clip) are directly comparable, and moving a lip by "0.05"
means the same thing at every resolution.

:func:`shape_mouth` turns an exemplar's landmarks into landmarks that measure *exactly* the
planned MOUTH_PARAMS: width by a horizontal stretch around the mouth, jaw by a rotation-like drop of
the chin, opening by parting the lips (the lower lip travels three times as far as the upper, as
in real speech). Each move fades smoothly into the cheeks so the piecewise-affine warp that follows
never tears the skin.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import Delaunay

from .. import landmarks as L

#: Share of an opening change taken by the lower lip (the jaw carries it); the rest lifts the upper lip.
LOWER_LIP_SHARE = 0.75
#: Iterations of the opening correction; the gap measure is Euclidean, so a second pass fixes the
#: small error left by the first (converges to < 0.001 inter-ocular units).
OPEN_ITERATIONS = 3
#: Targets at or below this opening (inter-ocular units) are sealed closures.
SEAL_OPEN = 0.005
#: Distance (inter-ocular units) over which the lip movement fades out above/below the lips.
LIP_FADE_UP = 0.18
LIP_FADE_DOWN = 0.30
#: Largest protrusion change (inter-ocular units) applied by thickening/thinning the lips. Large
#: enough to undo what parting the lips adds to the measure (the outer height grows with the
#: centre of the gap, the opening is a three-pair mean), small enough never to erase a lip.
MAX_PROTRUSION_STEP = 0.15
#: Vertical reach (inter-ocular units) of the width stretch above and below the mouth line.
WIDTH_FADE = 0.40
#: Anchor rings around the jaw (inter-ocular units beyond the jaw line): they carry only the rigid
#: head motion, so the neck and background below the chin are never torn by the jaw warp.
ANCHOR_RINGS = (0.45, 0.95)
#: Rows of virtual points inside the mouth, as fractions of the gap from the upper to the lower
#: inner lip: the upper teeth live above the first row, the lower teeth below the last. When the
#: plan opens wider than the exemplar, these rows keep the teeth their real size and stretch only
#: the dark space between them (real jaws open that way; a uniform stretch makes tall teeth).
INTERIOR_ROWS = (0.35, 0.8)
#: Extra opening of the template mouth before triangulating it, so the mouth hole is spanned by
#: triangles from upper to lower lip that stay valid for every opening.
TEMPLATE_OPEN = 0.15

# Inner-lip upper/lower pairs across the mouth, corner to corner (MediaPipe indices).
INNER_UPPER, INNER_LOWER = L.LIP_INNER_UPPER, L.LIP_INNER_LOWER
OUTER_UPPER, OUTER_LOWER = L.LIP_OUTER_UPPER, L.LIP_OUTER_LOWER
#: Lower jaw line used for the edit mask and anchors (cheek below the cheekbone to the other side).
LOWER_JAW = L.JAW_LINE[2:-2]


def eye_frame(lm: np.ndarray) -> np.ndarray:
    """2×3 similarity image → normalised coordinates from the eye corners alone (for the template)."""
    r = lm[L.RIGHT_EYE, :2].mean(0)
    left = lm[L.LEFT_EYE, :2].mean(0)
    d = left - r
    iod = max(float(np.hypot(*d)), 1e-6)
    c, s = d / iod
    rot = np.array([[c, s], [-s, c]]) / iod
    origin = (r + left) / 2
    return np.hstack([rot, (-rot @ origin)[:, None]]).astype(np.float64)


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine to points ``[n, 2]``."""
    pts = np.asarray(pts, np.float64)[..., :2]
    return pts @ m[:, :2].T + m[:, 2]


def invert(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2×3 affine."""
    m = np.asarray(m, np.float64)
    (a, b), (c, d) = m[:, :2]
    det = a * d - b * c
    inv = np.array([[d, -b], [-c, a]]) / det
    return np.hstack([inv, (-inv @ m[:, 2])[:, None]])


def build_template(landmarks: np.ndarray) -> np.ndarray:
    """Median normalised face ``[478, 2]`` over a sample of frames: the shared normalised frame."""
    norm = np.stack([apply(eye_frame(lm), lm) for lm in landmarks])
    return np.median(norm, axis=0)


def to_norm(lm: np.ndarray, template: np.ndarray) -> np.ndarray:
    """2×3 similarity mapping image coordinates of ``lm`` onto the template via STABLE points."""
    return L.similarity_transform(lm[list(L.STABLE), :2], template[list(L.STABLE)]).astype(np.float64)


_smoothstep = L.smoothstep


def _lip_curves(n: np.ndarray):
    """x-sorted upper/lower inner and outer lip curves of normalised landmarks (for interpolation)."""
    xs_u = n[list(INNER_UPPER), 0]
    order = np.argsort(xs_u)
    xu = xs_u[order]
    inner_mid = (n[list(INNER_UPPER), 1] + n[list(INNER_LOWER), 1])[order] / 2
    outer_up = n[list(OUTER_UPPER), 1]
    outer_lo = n[list(OUTER_LOWER), 1]
    xo_u, xo_l = n[list(OUTER_UPPER), 0], n[list(OUTER_LOWER), 0]
    return xu, inner_mid, (np.sort(xo_u), outer_up[np.argsort(xo_u)]), (np.sort(xo_l), outer_lo[np.argsort(xo_l)])


def _curve_at(n: np.ndarray, idx, x: np.ndarray) -> np.ndarray:
    """y of the lip contour through landmarks ``idx`` at abscissae ``x`` (linear, held at the ends)."""
    pts = n[list(idx)]
    order = np.argsort(pts[:, 0])
    return np.interp(x, pts[order, 0], pts[order, 1])


class MouthShaper:
    """Moves lips and jaw of normalised landmarks to exact MOUTH_PARAMS targets.

    Built once per renderer from the template, which fixes which points count as upper lip,
    lower lip, jaw (by their position on the person's average face, not per frame, so the
    classification never flickers).
    """

    def __init__(self, template: np.ndarray) -> None:
        self.template = template
        t = template
        self.lower_set = np.zeros(len(t), bool)
        # Points below the template's inner-lip midline move with the lower lip; inner contours by index.
        xu, mid, _, _ = _lip_curves(t)
        mid_at = np.interp(t[:, 0], xu, mid)
        self.lower_set = t[:, 1] > mid_at
        self.lower_set[list(INNER_LOWER)] = True
        self.lower_set[list(INNER_UPPER)] = False
        self.lower_set[list(L.MOUTH_CORNERS)] = False
        self.lower_set[[78, 308]] = False

    def shape(self, n: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Return a copy of normalised landmarks ``n`` ``[478, 2]`` whose mouth_params equal ``target``."""
        n = np.array(n[:, :2], np.float64)
        cur = L.mouth_params(n)
        corners = n[list(L.MOUTH_CORNERS)]
        cx, cy = corners.mean(0)
        half_w = max(abs(corners[1, 0] - corners[0, 0]) / 2, 1e-3)
        # Width: horizontal stretch about the mouth centre, fading with vertical distance.
        s = float(target[1]) / max(float(cur[1]), 1e-3)
        g = 1 - _smoothstep(np.abs(n[:, 1] - cy) / WIDTH_FADE)
        g *= 1 - _smoothstep((np.abs(n[:, 0] - cx) - half_w) / 0.6)
        n[:, 0] += (s - 1) * (n[:, 0] - cx) * g
        # Jaw: the chin drops, the lower face follows in proportion to its distance below the lip line.
        d_jaw = (float(target[3]) - float(L.mouth_params(n)[3])) * self._jaw_scale(n)
        top = n[L.UPPER_LIP_TOP, 1]
        v = _smoothstep((n[:, 1] - top) / max(n[L.CHIN, 1] - top, 1e-3))
        u = np.clip(1 - ((n[:, 0] - cx) / 1.1) ** 2, 0, 1)
        n[:, 1] += d_jaw * v * u
        # Opening: part (or press) the lips, iterating because the gap is measured as a distance.
        for _ in range(OPEN_ITERATIONS):
            gap = float(L.mouth_params(n)[0])
            d = float(target[0]) - gap
            if abs(d) < 1e-4:
                break
            corners = n[list(L.MOUTH_CORNERS)]
            cx = corners.mean(0)[0]
            half_w = max(abs(corners[1, 0] - corners[0, 0]) / 2, 1e-3)
            sh = np.clip(1 - ((n[:, 0] - cx) / (half_w * 1.02)) ** 2, 0, 1) ** 0.6
            pair_sh = sh[[82, 13, 312]].mean()
            d /= max(pair_sh, 0.2)
            if d < 0:  # never press lips through each other: cap at the remaining gap per pair
                d = max(d, -gap / max(pair_sh, 0.2))
            _, _, (xou, you), (xol, yol) = _lip_curves(n)
            lower_lip = np.interp(n[:, 0], xol, yol)
            upper_lip = np.interp(n[:, 0], xou, you)
            # The fade must be long compared with the move, or the skin under the lip folds over
            # itself (smoothstep's slope is 1.5/length): keep the compression below 75 %.
            fade_dn = max(LIP_FADE_DOWN, 2.0 * LOWER_LIP_SHARE * abs(d))
            fade_up = max(LIP_FADE_UP, 2.0 * (1 - LOWER_LIP_SHARE) * abs(d))
            fall_dn = 1 - _smoothstep((n[:, 1] - lower_lip) / fade_dn)
            fall_up = 1 - _smoothstep((upper_lip - n[:, 1]) / fade_up)
            dy = np.where(self.lower_set, LOWER_LIP_SHARE * d * fall_dn, -(1 - LOWER_LIP_SHARE) * d * fall_up)
            n[:, 1] += dy * sh
        # Protrusion last: it moves only the outer lip contours, so the opening stays as set.
        corners = n[list(L.MOUTH_CORNERS)]
        self._thicken_lips(n, float(target[2]) - float(L.mouth_params(n)[2]), float(corners.mean(0)[0]),
                           max(abs(corners[1, 0] - corners[0, 0]) / 2, 1e-3))
        if float(target[0]) <= SEAL_OPEN:
            # A closure seals the whole contour, corners included (the stretch above fades out
            # towards the corners): each lower inner-lip point meets its upper partner.
            up, lo = list(INNER_UPPER), list(INNER_LOWER)
            meet = n[up] + (1 - LOWER_LIP_SHARE) * (n[lo] - n[up])
            n[up] = meet
            n[lo] = meet
        return n

    def _thicken_lips(self, n: np.ndarray, d: float, cx: float, half_w: float) -> None:
        """Protrusion: rounded lips push out and look fuller, i.e. the outer contour moves away from
        the inner one (which stays put, so the opening is unchanged). In place, capped at
        ±MAX_PROTRUSION_STEP because a 2-D warp can only suggest a 3-D pout."""
        d = float(np.clip(d, -MAX_PROTRUSION_STEP, MAX_PROTRUSION_STEP))
        if abs(d) < 1e-4:
            return
        x = n[:, 0]
        inner_u, inner_l = _curve_at(n, INNER_UPPER, x), _curve_at(n, INNER_LOWER, x)
        outer_u, outer_l = _curve_at(n, OUTER_UPPER, x), _curve_at(n, OUTER_LOWER, x)
        sh = np.clip(1 - ((n[:, 0] - cx) / (half_w * 1.02)) ** 2, 0, 1) ** 0.6
        y = n[:, 1]
        # Share of the half move: 0 on the inner contour, 1 on the outer, fading beyond it.
        t_up = np.clip((inner_u - y) / np.maximum(inner_u - outer_u, 1e-3), 0, 1)
        t_up *= 1 - _smoothstep((outer_u - y) / LIP_FADE_UP)
        t_lo = np.clip((y - inner_l) / np.maximum(outer_l - inner_l, 1e-3), 0, 1)
        t_lo *= 1 - _smoothstep((y - outer_l) / LIP_FADE_DOWN)
        dy = np.where(self.lower_set, 0.5 * d * t_lo, -0.5 * d * t_up)
        n[:, 1] += dy * sh

    @staticmethod
    def _jaw_scale(n: np.ndarray) -> float:
        """Jaw is measured nose-tip→chin in the image plane; in the normalised frame that is ~vertical."""
        d = n[L.CHIN] - n[L.NOSE_TIP]
        return float(np.hypot(*d) / max(abs(d[1]), 1e-3))


class WarpMesh:
    """Fixed triangulation of the lower face plus anchor rings, in the template's normalised frame.

    Control points = lower-face mesh points (from the nose tip down) and anchor points outside the
    jaw. The triangulation is computed once on the template with its mouth held open, so triangles
    span the mouth hole from upper to lower lip and keep their orientation for every mouth shape.
    """

    def __init__(self, template: np.ndarray, shaper: MouthShaper) -> None:
        t = template
        y_nose = t[L.NOSE_TIP, 1]
        face_idx = np.arange(468)
        self.indices = face_idx[t[:468, 1] > y_nose - 0.12]
        centre = t[list(L.MOUTH_CORNERS)].mean(0)
        anchors = []
        jaw = t[list(LOWER_JAW)]
        for ring in ANCHOR_RINGS:
            d = jaw - centre
            d /= np.linalg.norm(d, axis=1, keepdims=True)
            anchors.append(jaw + ring * d)
        xs = np.linspace(t[LOWER_JAW[0], 0] - 1.0, t[LOWER_JAW[-1], 0] + 1.0, 9)
        anchors.append(np.stack([xs, np.full_like(xs, y_nose - 0.35)], 1))
        self.anchors = np.concatenate(anchors)  # normalised, rigid with the head
        opened = t.copy()
        opened[shaper.lower_set, 1] += TEMPLATE_OPEN
        up, lo = opened[list(INNER_UPPER)], opened[list(INNER_LOWER)]
        interior = np.concatenate([up + f * (lo - up) for f in INTERIOR_ROWS])
        pts = np.concatenate([opened[self.indices], interior, self.anchors])
        self.triangles = Delaunay(pts).simplices.astype(np.int32)
        #: Weight of the exemplar geometry per control point: 0 at the nose tip (current frame wins),
        #: 1 from the upper lip down. Anchors follow the current frame only.
        top = t[L.UPPER_LIP_TOP, 1]
        self.blend_w = _smoothstep((t[self.indices, 1] - y_nose) / max(top - y_nose, 1e-3))
        self.n_interior = len(INTERIOR_ROWS) * len(INNER_UPPER)

    def control_points(self, face: np.ndarray, interior: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """Stack control points in the mesh's order: face mesh points, mouth interior, anchors."""
        return np.concatenate([face, interior, anchors])


def mouth_interior(upper: np.ndarray, lower: np.ndarray, fractions) -> np.ndarray:
    """Interior rows (``len(fractions)`` × pairs) at per-pair ``fractions`` ``[rows, pairs]`` of the gap."""
    f = np.asarray(fractions, np.float64)[..., None]
    return (upper[None] + f * (lower - upper)[None]).reshape(-1, 2)


def pose_proxy(lm: np.ndarray) -> np.ndarray:
    """(yaw, pitch) proxies of image landmarks: nose-tip offset from the eye midline, in eye units.

    Cheap, monotone in the real angles and identical for exemplars and frames, which is all the
    exemplar search needs (it compares, never reports, poses).
    """
    n = apply(eye_frame(lm), lm[[L.NOSE_TIP]])[0]
    return n.astype(np.float32)
