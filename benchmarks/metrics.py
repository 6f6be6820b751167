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
#: Rigid upper-face points for the pose-change measure: upper forehead and temples (hairline side of
#: the brows, which expressions move), the four eye corners and the nose bridge. No lips, jaw, cheeks
#: or brows: MediaPipe refits its whole mesh when the mouth or brows change, and points near them
#: drift with that refit, which a pose fit would read as the head turning.
UPPER_FACE_POINTS = (
    10, 151, 109, 338, 67, 297, 103, 332, 54, 284,  # upper forehead, left to right of the midline
    21, 251, 162, 389,  # temples
    33, 133, 362, 263,  # eye corners
    168, 6, 197, 195,  # nose bridge
)

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
#: Head region (head, hair, neck) for head mode's background measure, grown from the bounding box
#: of the *input* frame's mesh (width W, height H): this share of W to either side (ears, hair
#: volume), of H above (skull and hair above the forehead) and of H below (neck, down to the collar).
HEAD_SIDE_W = 0.5
HEAD_ABOVE_H = 0.6
HEAD_BELOW_H = 0.8
#: The band right around the head region, its width as a share of max(W, H): where a warp that
#: tears or leaves holes would show, and where the true background starts.
BAND_WIDTH = 0.25
#: A band pixel counts as changed when any channel differs by more than this many levels
#: (x264 at the engine's CRF moves pixels by a few levels; a hole or tear by tens to hundreds).
CHANGED_LEVELS = 32
#: Head mode's no-holes check: in no frame may more than this share of the band change by more than
#: CHANGED_LEVELS. A re-encode changes ~0.01 % of it, the head warp ≤ 0.2 % (stretched edges); a hole
#: a fifth of the face wide changes ~1 %.
BAND_CHANGED_MAX = 0.005
#: Lucas-Kanade window for tracking the upper-face points, in inter-ocular distances (≥ 11 px).
TRACK_WINDOW_IOD = 0.25
#: A tracked point is kept when tracking it back lands within this many px of where it started.
TRACK_FB_MAX_PX = 0.5
#: Fewest tracked points a pose fit needs (6 parameters: rotation, scale, 2-D shift).
TRACK_MIN_POINTS = 8
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


def _rotation_from_vector(rv: np.ndarray) -> np.ndarray:
    """Rotation matrix of a rotation vector (radians), Rodrigues' formula."""
    return cv2.Rodrigues(np.asarray(rv, np.float64).reshape(3, 1))[0]


def fit_rotation_2d(ref3d: np.ndarray, out2d: np.ndarray) -> np.ndarray:
    """Rotation vector (degrees; x ≈ pitch, y ≈ yaw, z ≈ roll for small angles) that best carries
    the reference points ``ref3d`` ``[m, 3]`` onto their image positions ``out2d`` ``[m, 2]``.

    Weak perspective: ``out ≈ s · (R · ref)[:2] + t``. In-plane rotation shows directly; yaw and pitch
    show as parallax between points at different depths (nose bridge vs temples). A robust loss
    keeps one badly tracked point from tilting the fit.
    """
    from scipy.optimize import least_squares

    x = np.asarray(ref3d, np.float64)
    x = x - x.mean(axis=0)
    y = np.asarray(out2d, np.float64)
    y = y - y.mean(axis=0)
    spread = float(np.sqrt(np.mean(np.sum(x[:, :2] ** 2, axis=1)))) or 1.0

    def resid(p: np.ndarray) -> np.ndarray:
        moved = x @ _rotation_from_vector(p[:3]).T
        return ((p[3] * moved[:, :2]) - y).ravel() / spread

    fit = least_squares(resid, np.array([0.0, 0.0, 0.0, 1.0]), loss="soft_l1", f_scale=0.01)
    return np.degrees(fit.x[:3])


def tracked_pose_change(ref_rgb: np.ndarray, out_rgb: np.ndarray, ref_lm: np.ndarray,
                        points: tuple[int, ...] = UPPER_FACE_POINTS) -> np.ndarray:
    """Head rotation (degrees, rotation vector) from the reference frame to the output frame.

    The rigid upper-face points are placed by the *reference* frame's mesh and followed into the
    output frame by their pixels (pyramidal Lucas-Kanade, checked forwards and backwards), then
    :func:`fit_rotation_2d` reads the rotation, with the reference mesh's depth for parallax. The
    output's own mesh is deliberately not used: MediaPipe refits the whole mesh when the mouth
    changes, so its upper-face points drift with a new mouth although those pixels did not move
    (measured: ~1° on lips-mode outputs whose forehead and eyes are bit-for-bit the baseline's up
    to encoder noise). NaN ``[3]`` when too few points track.
    """
    lm = np.asarray(ref_lm, np.float64)
    idx = list(points)
    shift = tracked_shift(ref_rgb, out_rgb, lm, points)
    ok = np.isfinite(shift[:, 0])
    if ok.sum() < TRACK_MIN_POINTS:
        return np.full(3, np.nan)
    return fit_rotation_2d(lm[idx][ok], lm[idx][ok, :2] + shift[ok])


def tracked_shift(ref_rgb: np.ndarray, out_rgb: np.ndarray, ref_lm: np.ndarray, points: tuple[int, ...]) -> np.ndarray:
    """How far (px, ``[len(points), 2]``) each of ``points``, placed by the reference frame's mesh,
    moved into the output frame, followed by its pixels (pyramidal Lucas-Kanade, forwards and
    backwards within TRACK_FB_MAX_PX); NaN where the track fails that check."""
    lm = np.asarray(ref_lm, np.float64)
    p0 = lm[list(points), :2].astype(np.float32).reshape(-1, 1, 2)
    win = max(11, int(round(TRACK_WINDOW_IOD * float(inter_ocular(lm[None])[0]))) | 1)
    a = cv2.cvtColor(ref_rgb, cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(out_rgb, cv2.COLOR_RGB2GRAY)
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 0.001)
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(a, b, p0, None, winSize=(win, win), maxLevel=3, criteria=crit)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, p1, None, winSize=(win, win), maxLevel=3, criteria=crit)
    ok = (st1[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm((back - p0)[:, 0], axis=1) <= TRACK_FB_MAX_PX)
    out = (p1 - p0)[:, 0].astype(np.float64)
    out[~ok] = np.nan
    return out


def lip_jitter(lm: np.ndarray) -> float:
    """:func:`landmark_jitter` of the lip points measured from the same mesh's rigid points
    (their centroid): how much the mouth trembles *on the face*.

    Head motion is left to :func:`rigid_jitter_ratio`, which reads it from pixels. Read in image
    coordinates, the lip points also carry every refit of the whole mesh — a face-mode output
    whose brows rise on accents read 1.17× the input's lip jitter that way and 0.96× on the face,
    its mouth pixels equal to the lips-mode output's (1.05× / 0.94×) up to encoder noise.
    """
    lm = np.asarray(lm, np.float64).copy()
    if lm.ndim != 3 or not len(lm):
        return float("nan")
    lm[:, :, :2] -= lm[:, list(STABLE_POINTS), :2].mean(axis=1, keepdims=True)
    return landmark_jitter(lm, MOUTH_POINTS)


def rigid_jitter_ratio(ref_lm: np.ndarray, shifts: np.ndarray, points: tuple[int, ...] = STABLE_POINTS) -> float:
    """Jitter of the rigid points in an output over their jitter in its reference (the do-nothing
    frames from the same source frames), the output's points being the reference mesh's moved by
    what their pixels moved (``shifts`` ``[n, len(points), 2]``, :func:`tracked_shift` per frame).

    Why not the output's own mesh: MediaPipe refits the whole mesh when the mouth or brows
    change, so eye corners and nose read 15 % more jitter on a face-mode output whose nose
    pixels equal the lips-mode output's up to encoder noise (mimictalk_German_20s window 2).
    Following the pixels reads only motion that is in the picture. A point whose track fails
    counts as not moved (its reference position), so a failed track never reads as jitter.
    """
    ref = np.asarray(ref_lm, np.float64)
    n = min(len(ref), len(shifts))
    moved = ref[:n].copy()
    moved[:, list(points), :2] += np.nan_to_num(np.asarray(shifts[:n], np.float64), nan=0.0)
    base = landmark_jitter(ref[:n], points)
    return landmark_jitter(moved, points) / base if base > 0 else float("nan")


# ------------------------------------------------------------------------------ series statistics
#: Cross-segment lip-sync needs at least this many frames where both the output's and the truth's
#: mouth can be measured (2 s at 25 fps): on fewer, r is noise (hamilton's truth half shows the
#: speaker in 22 of them: a plan correlating -0.1 with the truth read 0.33 there).
MIN_TRUTH_FRAMES = 50


def overlap_frames(a: np.ndarray, b: np.ndarray) -> int:
    """Frames where both series are finite."""
    n = min(len(a), len(b))
    return int((np.isfinite(np.asarray(a[:n], np.float64)) & np.isfinite(np.asarray(b[:n], np.float64))).sum())


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


#: Lags (frames) over which Bartlett's effective sample size sums the two series' autocorrelations.
ESS_MAX_LAG = 12


def _autocorr(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelation of ``x`` at lags 1..max_lag (NaN-free input)."""
    x = x - x.mean()
    den = float(np.sum(x * x))
    if den <= 0:
        return np.zeros(max_lag)
    return np.array([float(np.sum(x[k:] * x[:-k])) / den for k in range(1, max_lag + 1)])


def effective_frames(a: np.ndarray, b: np.ndarray) -> float:
    """Bartlett's effective number of independent frames behind :func:`pearson` (a, b).

    n / (1 + 2 Σ ρa(k) ρb(k)) over lags 1..ESS_MAX_LAG, on the frames where both series are
    finite (gaps closed up first); NaN with ESS_MAX_LAG + 3 or fewer such frames.
    """
    n = min(len(a), len(b))
    a, b = np.asarray(a[:n], np.float64), np.asarray(b[:n], np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    m = int(ok.sum())
    if m <= ESS_MAX_LAG + 3:
        return float("nan")
    rho = _autocorr(a[ok], ESS_MAX_LAG) * _autocorr(b[ok], ESS_MAX_LAG)
    return m / max(1.0, 1.0 + 2.0 * float(np.sum(rho)))


def correlation_interval(a: np.ndarray, b: np.ndarray, z: float = 1.96) -> tuple[float, float]:
    """95 % confidence interval of :func:`pearson` (a, b) over the frames where both are finite.

    Mouth curves are smooth, so neighbouring frames are not independent evidence: the interval
    uses Bartlett's effective number of frames (:func:`effective_frames`), then Fisher's z.
    (NaN, NaN) with ESS_MAX_LAG + 3 or fewer measured frames, or fewer than 4 effective ones.
    """
    r = pearson(a, b)
    n_eff = effective_frames(a, b)
    if not np.isfinite(r) or not np.isfinite(n_eff) or n_eff <= 3:
        return float("nan"), float("nan")
    zr, h = math.atanh(float(np.clip(r, -0.9999, 0.9999))), z / math.sqrt(n_eff - 3)
    return math.tanh(zr - h), math.tanh(zr + h)


def pool_correlations(rs: list[float], n_effs: list[float], z: float = 1.96) -> tuple[float, float, float, float]:
    """One correlation from several disjoint windows of the same clip: ``(r, lo, hi, n_eff)``.

    Fisher's fixed-effect pooling: each window's z = atanh(r) weighted by its n_eff − 3 (the
    inverse of its variance); the pooled interval is z̄ ± z / √Σ(n_eff − 3). Windows without a
    finite r or with n_eff ≤ 3 are left out; all NaN when none remain.
    """
    pairs = [(r, n) for r, n in zip(rs, n_effs, strict=True) if np.isfinite(r) and np.isfinite(n) and n > 3]
    if not pairs:
        return (float("nan"),) * 4
    w = np.array([n - 3.0 for _r, n in pairs])
    zs = np.array([math.atanh(float(np.clip(r, -0.9999, 0.9999))) for r, _n in pairs])
    zbar, h = float(np.sum(w * zs) / np.sum(w)), z / math.sqrt(float(np.sum(w)))
    return math.tanh(zbar), math.tanh(zbar - h), math.tanh(zbar + h), float(np.sum(w) + 3.0 * len(pairs))


def pooled_estimate(rs: list[float], intervals: list[tuple[float, float]],
                    n_effs: list[float]) -> tuple[float, float, float]:
    """One clip's ``(r, lo, hi)`` from its windows: a single window as measured (its own interval),
    several pooled by :func:`pool_correlations`. NaN when no window has an r."""
    got = [(r, ci, n) for r, ci, n in zip(rs, intervals, n_effs, strict=True) if np.isfinite(r)]
    if len(got) == 1:
        return got[0][0], *got[0][1]
    r, lo, hi, _n = pool_correlations([g[0] for g in got], [g[2] for g in got])
    return r, lo, hi


def mean_of_clips(rs: list[float], intervals: list[tuple[float, float]], z: float = 1.96) -> dict[str, float]:
    """The mean of per-clip correlations with two 95 % intervals.

    ``measurement``: the clips' own uncertainties combined as independent (each clip's standard
    error read off its interval's half-width) — how well *these* clips are measured. ``between``:
    a t interval over the clip values themselves — how much the result moves from one clip (one
    speaker, one kind of footage) to the next, the better guide to a clip not in the set. NaN
    where it cannot be formed (no clips; one clip has no between-clip spread).
    """
    from scipy import stats

    vals = np.asarray([r for r in rs if np.isfinite(r)], np.float64)
    out = {"mean": float("nan"), "lo": float("nan"), "hi": float("nan"), "between_lo": float("nan"),
           "between_hi": float("nan"), "clips": float(len(vals))}
    if not len(vals):
        return out
    mean = float(vals.mean())
    out["mean"] = mean
    ses = [(hi - lo) / (2 * z) for (lo, hi), r in zip(intervals, rs, strict=True) if np.isfinite(r)]
    if all(np.isfinite(ses)):
        half = z * float(np.sqrt(np.sum(np.square(ses)))) / len(vals)
        out["lo"], out["hi"] = mean - half, mean + half
    if len(vals) >= 2:
        half = float(stats.t.ppf(0.975, len(vals) - 1)) * float(vals.std(ddof=1)) / math.sqrt(len(vals))
        out["between_lo"], out["between_hi"] = mean - half, mean + half
    return out


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


def head_box(lm: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """Head region ``(x0, y0, x1, y1)`` (px, exclusive end, clipped to the frame) of one frame's mesh.

    The mesh's bounding box (W x H) grown by HEAD_SIDE_W·W to each side, HEAD_ABOVE_H·H up and
    HEAD_BELOW_H·H down: head, hair and neck, which head mode moves by design. Built from the
    measured mesh alone, never from the renderer's own field, so every method is judged by one rule.
    """
    pts = np.asarray(lm, dtype=np.float64)[:, :2]
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    w, h = x1 - x0, y1 - y0
    box = (x0 - HEAD_SIDE_W * w, y0 - HEAD_ABOVE_H * h, x1 + HEAD_SIDE_W * w, y1 + HEAD_BELOW_H * h)
    return (
        int(np.clip(math.floor(box[0]), 0, width)), int(np.clip(math.floor(box[1]), 0, height)),
        int(np.clip(math.ceil(box[2]), 0, width)), int(np.clip(math.ceil(box[3]), 0, height)),
    )


def head_regions(lm: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks ``(head, band)`` of one frame: the head region (:func:`head_box`) and the ring
    of BAND_WIDTH·max(W, H) around it (the band excludes the head region)."""
    pts = np.asarray(lm, dtype=np.float64)[:, :2]
    size = float(np.max(pts.max(axis=0) - pts.min(axis=0)))
    g = int(math.ceil(BAND_WIDTH * size))
    x0, y0, x1, y1 = head_box(lm, height, width)
    head = np.zeros((height, width), bool)
    head[y0:y1, x0:x1] = True
    band = np.zeros((height, width), bool)
    band[max(0, y0 - g) : min(height, y1 + g), max(0, x0 - g) : min(width, x1 + g)] = True
    band &= ~head
    return head, band


def changed_share(a: np.ndarray, b: np.ndarray, mask: np.ndarray, levels: int = CHANGED_LEVELS) -> float:
    """Share of the pixels in ``mask`` where any channel of ``a`` and ``b`` differs by more than ``levels``.

    PSNR averages an error over many pixels, so a small hole in a large frame barely moves it; this
    counts the pixels that changed visibly, which is what a hole or a tear does.
    """
    if not mask.any():
        return float("nan")
    d = cv2.absdiff(a, b).max(axis=2)
    return float(np.count_nonzero((d > levels) & mask) / np.count_nonzero(mask))


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
