"""Head pose in the renderer: exemplars brought into the edited frame's pose in 3-D, and face
coordinates that do not depend on pose.

MediaPipe's mesh is 3-D (x, y in pixels, z towards the back of the head in the same unit). A 2-D
similarity on the stable points — what aligned exemplars before — cannot undo a head turn: an
exemplar from a frame turned 15° further lands with its cheek, jaw and chin in the wrong place,
and the jaw line of the output comes out stepped against the frame's own. Here the exemplar's mesh
is rotated in 3-D onto the frame's (a similarity on the stable points, Umeyama's closed form) and
projected: every mouth and jaw point lands where it would be seen *from the frame's viewpoint*,
and the piecewise-affine warp that follows carries each small triangle of skin as a rotated patch
(an affine map is exactly what a small planar patch does under rotation and orthographic
projection).

The face-local frame (x along the eyes, y from forehead to the base of the nose, unit the
inter-ocular distance) gives each landmark a position on the *person's* face that is the same at
every pose: the renderer decides from it which points may move (the mouth and chin) and which must
stay with the frame (the jaw's sides, beside the ear), whichever way the head is turned.
"""

from __future__ import annotations

import cv2
import numpy as np

from .. import landmarks as L

#: Forehead (mid-line, top of the mesh) and the base of the nose: the face's vertical axis.
FOREHEAD, SUBNASALE = 10, 2


def face_axes(lm3: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(origin [3], rotation [3, 3] whose rows are the face's x, y, z axes, inter-ocular distance)."""
    p = np.asarray(lm3, np.float64)
    right = p[list(L.RIGHT_EYE)].mean(0)
    left = p[list(L.LEFT_EYE)].mean(0)
    x = left - right
    iod = max(float(np.linalg.norm(x)), 1e-6)
    x /= iod
    down = p[SUBNASALE] - p[FOREHEAD]
    y = down - float(down @ x) * x
    y /= max(float(np.linalg.norm(y)), 1e-9)
    z = np.cross(x, y)
    return (right + left) / 2, np.stack([x, y, z]), iod


def local_coords(lm3: np.ndarray) -> np.ndarray:
    """Landmarks ``[478, 3]`` in the face's own frame, inter-ocular units: the same at every pose."""
    origin, rot, iod = face_axes(lm3)
    return (np.asarray(lm3, np.float64) - origin) @ rot.T / iod


def build_template3d(lms3: np.ndarray) -> np.ndarray:
    """The person's face in its own frame: median of :func:`local_coords` over frames ``[n, 478, 3]``."""
    return np.median(np.stack([local_coords(p) for p in lms3]), axis=0)


def similarity3d(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares 3-D similarity ``dst ≈ s · R · src + t`` (Umeyama): (s, R [3, 3], t [3])."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    r = u @ np.diag(d) @ vt
    var = float((a * a).sum()) / len(src)
    s = float((sig * d).sum()) / max(var, 1e-12)
    return s, r, mu_d - s * r @ mu_s


def pose_into(points_xy: np.ndarray, ex_mesh3: np.ndarray, frame_mesh3: np.ndarray) -> np.ndarray:
    """Exemplar points ``[478, 2]`` (px of the exemplar's source frame) as seen from the frame's pose.

    ``ex_mesh3`` / ``frame_mesh3``: the two frames' 3-D meshes (px). The rotation is fitted on the
    stable points of those meshes (smoothed track landmarks: steady), then applied to ``points_xy``
    with the exemplar mesh's depth — the exemplar's own lips (raw, where its pixels really are)
    rotated and projected into the frame.
    """
    ex3 = np.asarray(ex_mesh3, np.float64)
    s, r, t = similarity3d(ex3[list(L.STABLE)], np.asarray(frame_mesh3, np.float64)[list(L.STABLE)])
    pts = np.column_stack([np.asarray(points_xy, np.float64)[:, :2], ex3[:, 2]])
    return (s * pts @ r.T + t)[:, :2]


#: Lateral reach of the mouth's motion on the person's face (face-local x from the mouth's centre,
#: inter-ocular units): points within FREE move with the re-performed mouth and jaw; beyond
#: FREE + FADE (the jaw's sides, below the ears, ~0.9 and out) they stay exactly with the frame —
#: the jaw pivots near the ear, and there the face's outline meets hair, ears and background,
#: where any displacement shows as a step in the cheek line. Mouth corners sit at ~0.4-0.5.
SIDE_FREE_IOD = 0.55
SIDE_FADE_IOD = 0.35


def side_weight(template3: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Per landmark of ``indices``: 1 where the re-performed mouth may move it, fading to 0 at the
    jaw's sides (see SIDE_FREE_IOD), from the pose-free face ``template3``."""
    t = np.asarray(template3, np.float64)
    centre = t[list(L.MOUTH_CORNERS), 0].mean()
    d = (np.abs(t[np.asarray(indices), 0] - centre) - SIDE_FREE_IOD) / SIDE_FADE_IOD
    d = np.clip(d, 0.0, 1.0)
    return 1.0 - d * d * (3 - 2 * d)


#: The visible outline of the face (where it meets hair, ears, neck or background) stays with the
#: frame: mesh points within SILHOUETTE_FADE_IOD of the outline of the frame's projected mesh (2-D,
#: inter-ocular units) move less, the ones on it not at all. On a turned head this is the far cheek
#: beside the mouth, which the jaw-side rule above cannot know is an outline.
SILHOUETTE_FADE_IOD = 0.2
#: ... except on the chin (face-local |x| up to CHIN_FREE_IOD, fading out over CHIN_FADE_IOD): the
#: jaw's drop must show there, as a continuous warp of chin and neck.
CHIN_FREE_IOD = 0.4
CHIN_FADE_IOD = 0.25


_smoothstep = L.smoothstep


def chin_weight(template3: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """1 for the chin's part of the outline (may move with the jaw), 0 for the rest, from the pose-free face."""
    t = np.asarray(template3, np.float64)
    centre = t[list(L.MOUTH_CORNERS)].mean(0)
    d = np.abs(t[np.asarray(indices), 0] - centre[0])
    below = t[np.asarray(indices), 1] > centre[1]
    return np.where(below, 1.0 - _smoothstep((d - CHIN_FREE_IOD) / CHIN_FADE_IOD), 0.0)


def silhouette_weight(face2d: np.ndarray, indices: np.ndarray, chin: np.ndarray) -> np.ndarray:
    """Per point of ``indices``: 0 on the outline of the projected face mesh ``face2d`` ``[≥468, 2]``
    (normalised, inter-ocular units), 1 from SILHOUETTE_FADE_IOD inside it; the chin (``chin`` = 1)
    is exempt."""
    pts = np.asarray(face2d, np.float64)[:468, :2]
    hull = cv2.convexHull(pts.astype(np.float32))
    dist = np.array([cv2.pointPolygonTest(hull, (float(x), float(y)), True) for x, y in pts[np.asarray(indices)]])
    dist = np.maximum(dist, 0.0)  # on the hull or (by rounding) a hair outside it
    return 1.0 - (1.0 - _smoothstep(dist / SILHOUETTE_FADE_IOD)) * (1.0 - np.asarray(chin))


def pose_distance_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Out-of-plane angle (degrees) between head poses (yaw, pitch, roll rows): roll is undone exactly
    by the 2-D alignment, yaw and pitch change what is visible."""
    d = np.asarray(a, np.float64)[..., :2] - np.asarray(b, np.float64)[..., :2]
    return np.sqrt((d * d).sum(-1))
