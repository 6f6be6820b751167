"""Pure measurement functions over face-mesh landmarks, audio and frames.

Everything here takes plain numpy arrays (MediaPipe's 478-point mesh in pixel coordinates,
``float[n, 478, 3]`` with NaN rows where no face was found) and returns numbers, so each metric is
unit-tested on hand-built inputs. The benchmark deliberately does not use the engine's own face
module: a metric computed by the code under test could hide its errors.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# ------------------------------------------------------------------------------ mesh topology
#: Eye corners (subject's right eye: outer, inner; left eye: inner, outer). Their midpoints give the
#: inter-ocular distance, the scale every geometric measure is divided by (camera-distance free).
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (362, 263)
#: Inner-lip pairs (upper, lower) at the centre and either side; their mean gap is the mouth opening.
INNER_LIP_PAIRS = ((13, 14), (82, 87), (312, 317))
#: Outer lip corners (subject's right, left).
LIP_CORNERS = (61, 291)
UPPER_LIP_TOP = 0
SUBNASALE = 2
NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10
#: Brows, outer → inner, per side; the inner two points carry AU1/AU4.
RIGHT_BROW = (70, 63, 105, 66, 107)
LEFT_BROW = (300, 293, 334, 296, 336)
#: Eyelid mid-points (upper, lower) per eye.
EYELID_PAIRS = ((159, 145), (386, 374))
#: Cheek points under the eyes (AU6 raises them).
CHEEKS = (50, 280)
#: Points that barely move with expression or speech: eye corners and the nose ridge.
STABLE_POINTS = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1)
#: Lip contour points (outer and inner) that speech moves.
MOUTH_POINTS = (61, 291, 0, 17, 37, 267, 84, 314, 13, 14, 78, 308, 82, 87, 312, 317)
#: Lower face-oval points, jaw corner to jaw corner through the chin: the region the lips mode may
#: move, extended downward for the PSNR mask.
JAW_LINE = (132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361)

# ------------------------------------------------------------------------------ tuning
#: Frames whose landmark acceleration exceeds this many inter-ocular distances are shot cuts or a
#: tracker jumping to another face, not jitter; they are dropped from both sides of the ratio.
JITTER_OUTLIER_IOD = 0.5
#: Directions sampled around each hull corner when growing the face mask (error < 0.5 % of the radius).
_RING_ANGLES = np.linspace(0, 2 * np.pi, 32, endpoint=False)
#: PSNR reported for a frame pair with zero error (keeps means finite).
PSNR_IDENTICAL_DB = 100.0
#: Face-mask growth beyond the mesh hull, in inter-ocular distances ("generous": hair line, ears
#: and the soft blend border of any renderer stay inside).
MASK_DILATE_IOD = 0.6
#: How far below the jaw line the mask reaches (chin, throat), in face heights (forehead–chin).
MASK_NECK_FACE_HEIGHTS = 0.45
#: An audio pause is a silent run at least this long (shorter gaps are stop closures inside words).
PAUSE_MIN_S = 0.2
#: Audio hop of the energy gate.
GATE_HOP_S = 0.01
#: Silence = RMS this far below the loud (95th percentile) level of the recording.
GATE_BELOW_LOUD_DB = 30.0
#: Frames at each pause edge left out: mouths legitimately close/open across them.
PAUSE_EDGE_FRAMES = 2
#: The person's rest level is this percentile of their own opening in the source.
REST_PERCENTILE = 20.0
#: Opening tolerance above the rest level still counted as "at rest" (inner-lip gap in IODs).
REST_TOLERANCE_IOD = 0.03


# ------------------------------------------------------------------------------ geometry
def inter_ocular(lm: np.ndarray) -> np.ndarray:
    """Distance between the two eye-corner midpoints (px), per frame: ``float[n]`` for ``[n, 478, ≥2]``."""
    lm = np.asarray(lm, dtype=np.float64)
    right = lm[..., list(RIGHT_EYE_CORNERS), :2].mean(axis=-2)
    left = lm[..., list(LEFT_EYE_CORNERS), :2].mean(axis=-2)
    return np.linalg.norm(left - right, axis=-1)


def _dist(lm: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(lm[..., a, :2] - lm[..., b, :2], axis=-1)


def mouth_opening(lm: np.ndarray) -> np.ndarray:
    """Inner-lip gap / inter-ocular distance per frame (NaN where the face is missing)."""
    lm = np.asarray(lm, dtype=np.float64)
    gap = np.mean([_dist(lm, a, b) for a, b in INNER_LIP_PAIRS], axis=0)
    return gap / inter_ocular(lm)


def _face_axes(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit 'right' (eye line) and 'down' (perpendicular, towards the chin) image axes per frame.

    Vertical measures are taken along the face's own down axis so head roll does not leak in.
    """
    right = lm[..., list(LEFT_EYE_CORNERS), :2].mean(axis=-2) - lm[..., list(RIGHT_EYE_CORNERS), :2].mean(axis=-2)
    right = right / np.linalg.norm(right, axis=-1, keepdims=True)
    down = np.stack([-right[..., 1], right[..., 0]], axis=-1)
    # Make sure "down" points from the eyes to the chin whatever the handedness of the image.
    eyes = lm[..., list(RIGHT_EYE_CORNERS + LEFT_EYE_CORNERS), :2].mean(axis=-2)
    sign = np.sign(np.sum((lm[..., CHIN, :2] - eyes) * down, axis=-1, keepdims=True))
    return right, down * np.where(sign == 0, 1.0, sign)


def expression_signature(lm: np.ndarray) -> dict[str, np.ndarray]:
    """Geometric action-unit proxies per frame, all in inter-ocular distances (issue 5's table).

    Positive means "more of it": ``lip_corner_height`` up (AU12 smile, negative for AU15),
    ``brow_height`` / ``inner_brow_height`` raised (AU1/AU2), ``brow_gap`` wider (AU4 lowers it),
    ``eye_opening`` wider (AU5 up, AU7 down), ``cheek_height`` raised (AU6), ``nose_lip`` the
    subnasale–upper-lip distance (AU9/AU10 shorten it), ``jaw`` the nose-tip–chin distance (AU26).
    """
    lm = np.asarray(lm, dtype=np.float64)
    iod = inter_ocular(lm)
    _right, down = _face_axes(lm)

    def height_above(points: tuple[int, ...], ref: np.ndarray) -> np.ndarray:
        p = lm[..., list(points), :2].mean(axis=-2)
        return np.sum((ref - p) * down, axis=-1) / iod

    eyes = lm[..., list(RIGHT_EYE_CORNERS + LEFT_EYE_CORNERS), :2].mean(axis=-2)
    mouth_centre = lm[..., [UPPER_LIP_TOP, 17], :2].mean(axis=-2)
    return {
        "lip_corner_height": height_above(LIP_CORNERS, mouth_centre),
        "brow_height": height_above(RIGHT_BROW + LEFT_BROW, eyes),
        "inner_brow_height": height_above((RIGHT_BROW[-1], LEFT_BROW[-1]), eyes),
        "brow_gap": _dist(lm, RIGHT_BROW[-1], LEFT_BROW[-1]) / iod,
        "eye_opening": np.mean([_dist(lm, a, b) for a, b in EYELID_PAIRS], axis=0) / iod,
        "cheek_height": height_above(CHEEKS, lm[..., NOSE_TIP, :2]),
        "nose_lip": _dist(lm, SUBNASALE, UPPER_LIP_TOP) / iod,
        "jaw": _dist(lm, NOSE_TIP, CHIN) / iod,
    }


def head_pose_deg(lm: np.ndarray) -> np.ndarray:
    """Yaw, pitch, roll in degrees per frame from the 3-D mesh (``[n, 478, 3]``, z in px).

    The face's own axes are built from the mesh — x along the eye line, y from forehead to the base
    of the nose made orthogonal to x, z their cross product — and read as Euler angles. No canonical model is
    needed, and differences between frames (what the targets are about) are accurate.
    """
    lm = np.asarray(lm, dtype=np.float64)
    right = lm[..., list(LEFT_EYE_CORNERS), :].mean(axis=-2) - lm[..., list(RIGHT_EYE_CORNERS), :].mean(axis=-2)
    x = right / np.linalg.norm(right, axis=-1, keepdims=True)
    # Forehead → subnasale, not → chin: the chin moves with the jaw, which lips mode edits.
    down = lm[..., SUBNASALE, :] - lm[..., FOREHEAD, :]
    y = down - np.sum(down * x, axis=-1, keepdims=True) * x
    y = y / np.linalg.norm(y, axis=-1, keepdims=True)
    z = np.cross(x, y)
    # Rotation matrix columns = face axes in camera coordinates; ZYX Euler decomposition.
    yaw = np.degrees(np.arcsin(np.clip(-z[..., 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(z[..., 1], z[..., 2]))
    roll = np.degrees(np.arctan2(x[..., 1], x[..., 0]))
    return np.stack([yaw, pitch, roll], axis=-1)


# ------------------------------------------------------------------------------ series statistics
def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation over the frames where both series are finite (NaN if < 3 or constant)."""
    n = min(len(a), len(b))
    a = np.asarray(a[:n], dtype=np.float64)
    b = np.asarray(b[:n], dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = math.sqrt(float(np.sum(a * a)) * float(np.sum(b * b)))
    return float(np.sum(a * b) / den) if den > 0 else float("nan")


def best_lag(mouth: np.ndarray, envelope: np.ndarray, max_lag: int = 15) -> tuple[int, float]:
    """Lag (frames) maximising the correlation of mouth opening with the speech envelope.

    A positive lag means the mouth moves *after* the sound (``mouth[k]`` best matches
    ``envelope[k - lag]``). Returns ``(lag, peak r)``; ``(0, nan)`` if nothing correlates.
    """
    n = min(len(mouth), len(envelope))
    mouth, envelope = np.asarray(mouth[:n], float), np.asarray(envelope[:n], float)
    best = (0, float("nan"))
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            r = pearson(mouth[lag:], envelope[: n - lag])
        else:
            r = pearson(mouth[: n + lag], envelope[-lag:])
        if np.isfinite(r) and (not np.isfinite(best[1]) or r > best[1]):
            best = (lag, r)
    return best


def frame_envelope(samples: np.ndarray, rate: int, fps: float, n_frames: int) -> np.ndarray:
    """RMS of the audio inside each video frame's interval ``[k/fps, (k+1)/fps)``; 0 past the end."""
    out = np.zeros(n_frames, np.float64)
    for k in range(n_frames):
        a, b = int(round(k / fps * rate)), int(round((k + 1) / fps * rate))
        chunk = samples[a:b]
        if chunk.size:
            out[k] = math.sqrt(float(np.mean(np.square(chunk, dtype=np.float64))))
    return out


def silent_runs(samples: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """Pauses ``(start_s, end_s)``: runs of ≥ PAUSE_MIN_S whose energy is GATE_BELOW_LOUD_DB under the loud level.

    Trailing silence counts as a pause too (a mouth must be at rest there as well).
    """
    hop = max(1, int(round(GATE_HOP_S * rate)))
    n = len(samples) // hop
    if n == 0:
        return []
    rms = np.sqrt(np.mean(np.square(samples[: n * hop].reshape(n, hop), dtype=np.float64), axis=1))
    db = 20 * np.log10(rms + 1e-10)
    loud = np.percentile(db, 95)
    silent = db < max(loud - GATE_BELOW_LOUD_DB, -90.0)
    runs, start = [], None
    for i, s in enumerate(np.append(silent, False)):
        if s and start is None:
            start = i
        elif not s and start is not None:
            if (i - start) * GATE_HOP_S >= PAUSE_MIN_S - 1e-9:
                runs.append((start * hop / rate, min(i * hop, len(samples)) / rate))
            start = None
    return runs


def pause_frames(pauses: list[tuple[float, float]], fps: float, n_frames: int) -> np.ndarray:
    """Boolean mask of video frames lying wholly inside a pause, PAUSE_EDGE_FRAMES trimmed each side."""
    mask = np.zeros(n_frames, bool)
    for start_s, end_s in pauses:
        first = math.ceil(start_s * fps - 1e-6) + PAUSE_EDGE_FRAMES
        last = math.floor(end_s * fps + 1e-6) - 1 - PAUSE_EDGE_FRAMES  # frame k spans [k, k+1)/fps
        if last >= first:
            mask[max(first, 0) : min(last + 1, n_frames)] = True
    return mask


def rest_level(source_opening: np.ndarray) -> float:
    """The person's own closed-mouth opening: a low percentile of their opening in the source."""
    finite = source_opening[np.isfinite(source_opening)]
    return float(np.percentile(finite, REST_PERCENTILE)) if finite.size else float("nan")


def pause_closure(opening: np.ndarray, in_pause: np.ndarray, rest: float) -> tuple[float, int]:
    """Share of pause frames (with a face) whose opening ≤ rest + tolerance; and how many were counted."""
    n = min(len(opening), len(in_pause))
    sel = in_pause[:n] & np.isfinite(opening[:n])
    if not sel.any():
        return float("nan"), 0
    return float(np.mean(opening[:n][sel] <= rest + REST_TOLERANCE_IOD)), int(sel.sum())


def landmark_jitter(lm: np.ndarray, points: tuple[int, ...] = STABLE_POINTS + MOUTH_POINTS) -> float:
    """Mean second difference (acceleration) of ``points``, in inter-ocular distances per frame².

    Only triples of consecutive frames with a face count; cut-like outliers (> JITTER_OUTLIER_IOD)
    are dropped. The ratio output/input of this number is the jitter target.
    """
    lm = np.asarray(lm, dtype=np.float64)
    if len(lm) < 3:
        return float("nan")
    pts = lm[:, list(points), :2] / inter_ocular(lm)[:, None, None]
    acc = np.linalg.norm(pts[2:] - 2 * pts[1:-1] + pts[:-2], axis=-1).mean(axis=-1)
    acc = acc[np.isfinite(acc) & (acc < JITTER_OUTLIER_IOD)]
    return float(acc.mean()) if acc.size else float("nan")


# ------------------------------------------------------------------------------ pixels
def face_mask(lm: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boolean mask of the face region an editor may touch: the mesh hull, the chin/neck area
    below the jaw, grown by MASK_DILATE_IOD. ``lm`` is one frame's ``[478, ≥2]`` (px)."""
    pts = np.asarray(lm, dtype=np.float64)[:, :2]
    iod = float(inter_ocular(pts[None])[0])
    face_h = float(np.linalg.norm(pts[CHIN] - pts[FOREHEAD]))
    _right, down = _face_axes(pts[None])
    neck = pts[list(JAW_LINE)] + down[0] * MASK_NECK_FACE_HEIGHTS * face_h
    hull = cv2.convexHull(np.concatenate([pts, neck]).astype(np.float32))[:, 0, :]
    # Dilating a convex polygon by a disc = the hull of its corners each ringed by the disc; far cheaper
    # than a morphological dilation with a kernel a hundred pixels wide.
    r = max(1.0, MASK_DILATE_IOD * iod)
    ring = r * np.stack([np.cos(_RING_ANGLES), np.sin(_RING_ANGLES)], axis=1)
    grown = cv2.convexHull((hull[:, None, :] + ring[None]).reshape(-1, 2).astype(np.float32))
    mask = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(mask, np.round(grown).astype(np.int32), 1)
    return mask.astype(bool)


def psnr_outside(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> float:
    """PSNR (dB, 8-bit peak) between two RGB frames over the pixels *outside* ``mask``."""
    keep = (~mask if mask is not None else np.ones(a.shape[:2], bool)).astype(np.uint8)
    if not keep.any():
        return float("nan")
    d = cv2.absdiff(a, b)
    sq = cv2.multiply(d, d, dtype=cv2.CV_32F)  # exact: squares of 0..255 fit float32
    mse = float(np.mean(cv2.mean(sq, mask=keep)[: a.shape[2]]))
    return PSNR_IDENTICAL_DB if mse <= 1e-12 else min(PSNR_IDENTICAL_DB, 10 * math.log10(255.0**2 / mse))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embedding vectors."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / den) if den > 0 else float("nan")
