"""Shared facts about MediaPipe's 478-point face mesh: named index sets and mouth measurements.

Several stages read the same landmarks (face measures mouths, motion targets them, render warps
them), so the topology and the one definition of each mouth parameter live here, below all stages.
"""

from __future__ import annotations

import numpy as np

N_LANDMARKS = 478

LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
#: Upper/lower inner-lip pairs across the mouth (left, centre, right): their gaps measure opening.
INNER_GAP_PAIRS = ((82, 87), (13, 14), (312, 317))
MOUTH_CORNERS = (61, 291)
UPPER_LIP_TOP, LOWER_LIP_BOTTOM = 0, 17
NOSE_TIP, SUBNASALE, CHIN = 1, 2, 152
RIGHT_EYE = (33, 133)  # outer, inner corner (subject's right)
LEFT_EYE = (362, 263)  # inner, outer corner
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)
#: Lower part of the face oval, cheek to cheek under the chin (jaw line).
JAW_LINE = (234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454)
#: Points that do not move when the person speaks (brow ridge, eye corners, nose bridge, temples):
#: used to align exemplars and to estimate rigid motion without the mouth's influence.
STABLE = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 70, 300, 105, 334, 127, 356, 234, 454, 9, 8)


#: Each eye (subject's right, left): its (outer, inner) corner. (RIGHT_EYE/LEFT_EYE above keep
#: the order the inter-ocular distance is written in.)
EYE_CORNERS = ((33, 133), (263, 362))
#: Eyelid points of each eye from the outer to the inner corner, and the lid pair at each eye's middle.
UPPER_LID = ((246, 161, 160, 159, 158, 157, 173), (466, 388, 387, 386, 385, 384, 398))
LOWER_LID = ((7, 163, 144, 145, 153, 154, 155), (249, 390, 373, 374, 380, 381, 382))
EYE_MID_LIDS = ((159, 145), (386, 374))  # (upper, lower) per eye
#: The fold above each upper lid (lid crease), outer to inner.
LID_CREASE = ((247, 30, 29, 27, 28, 56, 190), (467, 260, 259, 257, 258, 286, 414))
IRIS = ((468, 469, 470, 471, 472), (473, 474, 475, 476, 477))
#: Each brow's upper and lower edge, outer to inner; its inner and outer ends (upper + lower points).
BROW_TOP = ((70, 63, 105, 66, 107), (300, 293, 334, 296, 336))
BROW_BOTTOM = ((46, 53, 52, 65, 55), (276, 283, 282, 295, 285))
BROW_INNER = ((107, 66, 55, 65), (336, 296, 285, 295))
BROW_OUTER = ((70, 63, 46, 53), (300, 293, 276, 283))
#: Cheek points per side: below the eye (the apple's top) and the apple itself; the nose wings.
CHEEK_BELOW_EYE = (118, 347)
CHEEK_APPLE = (50, 280)
NOSE_WING = (129, 358)
NOSTRILS = (98, 327, 97, 326, 2)
#: Lips as filled regions (outer + inner points of each lip) and as curves, corner to corner.
UPPER_LIP = (0, 37, 39, 40, 185, 267, 269, 270, 409, 13, 82, 81, 80, 191, 312, 311, 310, 415)
LOWER_LIP = (17, 84, 181, 91, 146, 314, 405, 321, 375, 14, 87, 178, 88, 95, 317, 402, 318, 324)
LIP_INNER_UPPER = (191, 80, 81, 82, 13, 312, 311, 310, 415)
LIP_INNER_LOWER = (95, 88, 178, 87, 14, 317, 402, 318, 324)
LIP_OUTER_UPPER = (185, 40, 39, 37, 0, 267, 269, 270, 409)
LIP_OUTER_LOWER = (146, 91, 181, 84, 17, 314, 405, 321, 375)
#: Each mouth corner as (outer, inner) lip point.
LIP_CORNERS = ((61, 78), (291, 308))

_EYES = np.array(RIGHT_EYE + LEFT_EYE)


def smoothstep(t: np.ndarray) -> np.ndarray:
    """0 → 1 with zero slope at both ends (3t² − 2t³ on t clipped to [0, 1]): every soft mask
    edge and ramp uses it, so a fade never starts or stops with a visible kink."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)
#: Point pairs whose distances make MOUTH_PARAMS: the three inner-lip gaps, corners, outer lip
#: height, nose tip to chin. One fancy index and one norm for all (this runs several times per
#: rendered frame, where per-call overhead dominates the arithmetic).
_PAIRS_A = np.array([a for a, _ in INNER_GAP_PAIRS] + [MOUTH_CORNERS[0], UPPER_LIP_TOP, NOSE_TIP])
_PAIRS_B = np.array([b for _, b in INNER_GAP_PAIRS] + [MOUTH_CORNERS[1], LOWER_LIP_BOTTOM, CHIN])
_N_GAPS = len(INNER_GAP_PAIRS)


def interocular(lm: np.ndarray) -> np.ndarray:
    """Distance between the two eye centres (px); the unit of every mouth parameter.

    Eye *corners* are used rather than irises: they do not move with gaze or blinks.
    """
    eyes = lm[..., _EYES, :2]
    d = (eyes[..., 0, :] + eyes[..., 1, :]) - (eyes[..., 2, :] + eyes[..., 3, :])
    return 0.5 * np.sqrt((d * d).sum(axis=-1))


def mouth_params(lm: np.ndarray) -> np.ndarray:
    """MOUTH_PARAMS (open, width, protrusion, jaw) of landmarks ``[..., 478, 2|3]``, in inter-ocular units.

    open: mean inner-lip gap over three pairs (robust to asymmetric openings);
    width: corner-to-corner distance; protrusion: outer-lip height minus the inner gap (lips
    thicken and push out when rounded); jaw: nose tip to chin.
    """
    xy = lm[..., :2]
    iod = np.maximum(interocular(lm), 1e-6)
    d = xy[..., _PAIRS_A, :] - xy[..., _PAIRS_B, :]
    dist = np.sqrt((d * d).sum(axis=-1))
    open_px = dist[..., :_N_GAPS].sum(axis=-1) / _N_GAPS
    width_px, outer_px, jaw_px = dist[..., _N_GAPS], dist[..., _N_GAPS + 1], dist[..., _N_GAPS + 2]
    out = np.stack([open_px, width_px, outer_px - open_px, jaw_px], axis=-1) / iod[..., None]
    return out.astype(np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2-D similarity (rotation, uniform scale, translation) mapping ``src`` → ``dst``.

    Returns a 2×3 matrix for ``cv2.warpAffine``. Umeyama's closed form: no iteration, no outliers
    expected because callers pass STABLE points only.
    """
    src = np.asarray(src, np.float64)[:, :2]
    dst = np.asarray(dst, np.float64)[:, :2]
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    r = u @ np.diag(sign) @ vt
    var_s = (s**2).sum() / len(src)
    scale = (sig * sign).sum() / max(var_s, 1e-12)
    t = mu_d - scale * r @ mu_s
    return np.hstack([scale * r, t[:, None]]).astype(np.float32)
