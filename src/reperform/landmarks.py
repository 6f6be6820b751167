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


_EYES = np.array(RIGHT_EYE + LEFT_EYE)
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
