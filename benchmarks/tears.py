"""The tear measure: does an edit cut the face and shift part of it against the rest?

Issue 14 saw lips mode cut the lower face and move it against the cheek line on a turning head:
a jagged step along the face's outline beside the ear and jaw, a chin out of line with the
neck. Averages (PSNR, landmark jitter) hide that; this module measures it directly, per frame,
output against the do-nothing baseline made from the same source frame, on the *baseline's*
mesh from the benchmark's own measurer (never the engine's):

- **outline step** — the face outline from temple to temple under the chin is sampled every
  ~0.1 inter-ocular distances (IOD); at each sample the grey-level profile across the outline
  (along its normal) is matched between baseline and output, giving how far the edge moved
  along its normal. A jaw that opens moves the chin's outline smoothly, tapering towards the
  ears; a tear moves one part of the outline and not its neighbour. The step is the largest
  difference in movement between neighbouring samples (IOD): the jaggedness of the outline.
- **still shift** — what must not move at all: the cheek outline beside the ears (above the jaw
  angle, outside every mode's lower-face edit) in lips and face mode, and the eyes (corners,
  lids) in lips mode, followed from baseline to output by their pixels (Lucas–Kanade, checked
  forwards and backwards). The largest movement in IOD. Head mode moves both by design and is
  judged by the outline step alone.

Per clip and mode the report gives the 99th percentile over frames (one bad frame in a hundred
shows) and the share of frames over the limits in :mod:`benchmarks.targets`. The measure is
validated in every run on a deliberately torn output (the baseline with its lower face shifted
and pasted back without blending) against the do-nothing output itself: see :func:`shift_lower_face`.

This is the project's one tear measure: ``make bench`` reports it against the issue-14 targets and
:mod:`benchmarks.pose_tears` scores its head-pose stress cases with it. The red pixels of
pose_tears' contact sheets (``pose_tears.tear_map``: output edges neither the input nor the input
moved with the face explain) are a picture of where an output differs, not a second score; they
also show seams inside the face (where a mouth patch meets the frame), which this measure, reading
the outline and still points only, does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from benchmarks import metrics as M

#: The face outline from the left temple round under the chin to the right temple (MediaPipe
#: face-oval order): the lower arc of the oval, where a torn lower face shows against the
#: background, hair, ears and neck.
OUTLINE_ARC = (389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
               148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162)
#: The chin's stretch of that arc (from 365 to 136): a lip-sync edit reshapes it by design (the
#: jaw drops, the chin's crease and shading change), so its profiles are not compared; a torn
#: lower face still shows where its cut crosses the outline on either side of it.
CHIN_ARC = (7, 17)
#: Outline points beside the ears, from the cheekbone up to the temple: outside the lower-face
#: edit of every renderer mode but head (the points just above the jaw angle, 93 and 323, sit
#: where the lower-face edit's soft edge may legitimately move the outline a little).
STILL_OUTLINE = (389, 356, 454, 162, 127, 234)
#: Eye corners and lids: lips mode must leave them exactly where they were (face mode blinks).
STILL_EYES = (33, 133, 362, 263, 159, 145, 386, 374)
#: Spacing of the outline samples, IOD: dense enough that a step between two samples is a tear
#: and not a smooth jaw movement (a 0.2 IOD chin drop tapering over ~1.5 IOD changes by ~0.013
#: IOD between samples).
SAMPLE_SPACING_IOD = 0.1
#: Half-length of the profile across the outline, IOD: room for the edge to have moved.
PROFILE_HALF_IOD = 0.15
#: Largest movement searched along the normal, IOD (beyond it a sample reads as unmatched).
MAX_SHIFT_IOD = 0.12
#: A profile with less contrast than this (grey levels, std) has no edge to follow.
MIN_PROFILE_STD = 4.0
#: A profile match must reach this normalised correlation to count.
MIN_PROFILE_NCC = 0.95
#: Outline samples closer than this to the lips (IOD) are not read: in a ¾ view the mesh's
#: near-side outline runs across the cheek beside the mouth, where the profile holds the lips
#: themselves — which a lip-sync edit changes by design.
MOUTH_CLEARANCE_IOD = 0.35
#: Lucas–Kanade settings for the still points (as the pose measure's).
LK_WINDOW_IOD = 0.25
LK_FB_MAX_PX = 0.5


@dataclass(frozen=True, slots=True)
class TearFrame:
    """One output frame against its baseline frame; NaN where nothing could be read."""

    step_iod: float  # largest movement difference between neighbouring outline samples
    still_outline_iod: float  # largest movement of the cheek outline beside the ears
    still_eyes_iod: float  # largest movement of the eye corners and lids
    samples_read: int  # outline samples matched in both frames


@dataclass(slots=True)
class TearScores:
    """A clip × mode summary of :class:`TearFrame` s (99th percentiles over frames, IOD)."""

    step_p99: float = float("nan")
    still_outline_p99: float = float("nan")
    still_eyes_p99: float = float("nan")
    frames: int = 0  # frames with a face in the baseline
    frames_torn: int = 0  # frames over a limit (see :func:`summarise`)
    worst_frame: int = -1  # output frame with the largest step
    steps: list[float] = field(default_factory=list)  # per output frame (NaN without a face)


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def outline_samples(lm: np.ndarray, spacing_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points along :data:`OUTLINE_ARC` every ``spacing_px``, their unit normals (``[n, 2]`` each)
    and whether each lies on the chin's stretch (:data:`CHIN_ARC`, ``bool[n]``)."""
    arc = np.asarray(lm, np.float64)[list(OUTLINE_ARC), :2]
    seg = np.linalg.norm(np.diff(arc, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(2, int(s[-1] // max(spacing_px, 1e-6)) + 1)
    t = np.linspace(0.0, s[-1], n)
    pts = np.stack([np.interp(t, s, arc[:, 0]), np.interp(t, s, arc[:, 1])], axis=1)
    tangent = np.gradient(pts, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    chin = (t > s[CHIN_ARC[0]]) & (t < s[CHIN_ARC[1]])
    return pts, np.stack([-tangent[:, 1], tangent[:, 0]], axis=1), chin


def normal_shifts(base: np.ndarray, out: np.ndarray, pts: np.ndarray, normals: np.ndarray,
                  half_px: float, max_shift_px: float) -> np.ndarray:
    """How far the grey-level profile across each point moved along its normal, base → output (px).

    Profiles are sampled (bilinear) at 0.25 px steps; the output's is slid over the baseline's and
    the best normalised correlation is refined to sub-sample precision with a parabola. NaN where
    the baseline profile is flat (no edge or texture to follow) or the match is poor.
    """
    step = 0.25
    half = max(2.0, half_px)
    reach = max(step, max_shift_px)
    offsets = np.arange(-half - reach, half + reach + step / 2, step)
    lo, hi = int(round(reach / step)), len(offsets) - int(round(reach / step))
    coords = pts[:, None, :] + offsets[None, :, None] * normals[:, None, :]
    mx, my = coords[..., 0].astype(np.float32), coords[..., 1].astype(np.float32)
    pb = cv2.remap(base, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    po = cv2.remap(out, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ref = pb[:, lo:hi]
    ref = ref - ref.mean(axis=1, keepdims=True)
    ref_norm = np.linalg.norm(ref, axis=1)
    width = hi - lo
    n_shift = len(offsets) - width + 1
    ncc = np.full((len(pts), n_shift), -np.inf)
    for j in range(n_shift):
        win = po[:, j:j + width]
        win = win - win.mean(axis=1, keepdims=True)
        den = ref_norm * np.linalg.norm(win, axis=1)
        ncc[:, j] = np.where(den > 1e-6, (ref * win).sum(axis=1) / np.maximum(den, 1e-6), -np.inf)
    best = np.argmax(ncc, axis=1)
    peak = ncc[np.arange(len(pts)), best]
    frac = np.zeros(len(pts))
    inner = (best > 0) & (best < n_shift - 1)
    i = np.nonzero(inner)[0]
    a, b, c = ncc[i, best[i] - 1], ncc[i, best[i]], ncc[i, best[i] + 1]
    den = a - 2 * b + c
    safe = np.abs(den) > 1e-9
    frac[i] = 0.5 * (a - c) / np.where(safe, den, 1.0) * safe
    shift = (best + frac - lo) * step  # the output's profile sits this far along the normal
    ok = (pb[:, lo:hi].std(axis=1) >= MIN_PROFILE_STD) & (peak >= MIN_PROFILE_NCC) & inner
    return np.where(ok, shift, np.nan)


def outline_step(shifts: np.ndarray, side: int = 3, reach: int = 5) -> float:
    """Largest jump (px) in how far the outline moved, between neighbouring stretches of it.

    At every gap between two samples, the movement just before it (median of the last ``side``
    read samples among the ``reach`` before) is compared with the movement just after it (the
    first ``side`` read among the ``reach`` after). Medians make one mismatched profile (a
    low-contrast stretch of jaw against the neck) drop out, while a tear — one stretch of outline
    moved, the next not — is a jump between them. Unread samples are skipped, so a step whose
    own profiles straddle the cut (and match nothing) is still seen. NaN when no gap has enough
    read samples on both sides.
    """
    d = np.asarray(shifts, np.float64)
    best = float("nan")
    for j in range(len(d) - 1):
        before = d[max(0, j - reach + 1):j + 1]
        after = d[j + 1:j + 1 + reach]
        before, after = before[np.isfinite(before)][-side:], after[np.isfinite(after)][:side]
        if len(before) == side and len(after) == side:
            step = abs(float(np.median(before)) - float(np.median(after)))
            best = step if not np.isfinite(best) else max(best, step)
    return best


def still_shift(base: np.ndarray, out: np.ndarray, lm: np.ndarray, points: tuple[int, ...], iod: float) -> float:
    """Largest movement (px) of ``points`` from baseline to output, followed by their pixels."""
    p0 = np.asarray(lm, np.float64)[list(points), :2].astype(np.float32).reshape(-1, 1, 2)
    win = max(11, int(round(LK_WINDOW_IOD * iod)) | 1)
    a, b = base.astype(np.uint8), out.astype(np.uint8)
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 0.001)
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(a, b, p0, None, winSize=(win, win), maxLevel=3, criteria=crit)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, p1, None, winSize=(win, win), maxLevel=3, criteria=crit)
    ok = (st1[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm((back - p0)[:, 0], axis=1) <= LK_FB_MAX_PX)
    if not ok.any():
        return float("nan")
    return float(np.linalg.norm((p1 - p0)[ok, 0], axis=1).max())


def tear_frame(base_rgb: np.ndarray, out_rgb: np.ndarray, base_lm: np.ndarray, mode: str) -> TearFrame:
    """The tear measures of one output frame against its baseline frame (baseline mesh ``[478, ≥2]``)."""
    iod = float(M.inter_ocular(np.asarray(base_lm)[None])[0])
    if not math.isfinite(iod) or iod < 4:
        return TearFrame(float("nan"), float("nan"), float("nan"), 0)
    base, out = _grey(base_rgb), _grey(out_rgb)
    pts, normals, chin = outline_samples(base_lm, SAMPLE_SPACING_IOD * iod)
    shifts = normal_shifts(base, out, pts, normals, PROFILE_HALF_IOD * iod, MAX_SHIFT_IOD * iod)
    lips = np.asarray(base_lm, np.float64)[list(M.MOUTH_POINTS), :2]
    near_mouth = np.min(np.linalg.norm(pts[:, None, :] - lips[None], axis=2), axis=1) < MOUTH_CLEARANCE_IOD * iod
    shifts[near_mouth | chin] = np.nan
    outline = eyes = float("nan")
    if mode in ("lips", "face", "baseline", "torn"):
        a, b = base.astype(np.uint8), out.astype(np.uint8)
        outline = still_shift(a, b, base_lm, STILL_OUTLINE, iod) / iod
        if mode != "face":
            eyes = still_shift(a, b, base_lm, STILL_EYES, iod) / iod
    return TearFrame(outline_step(shifts) / iod, outline, eyes, int(np.isfinite(shifts).sum()))


def summarise(frames: list[TearFrame], step_max: float, still_max: float) -> TearScores:
    """Clip × mode summary; a frame is torn when its step or a still shift exceeds its limit."""
    steps = [f.step_iod for f in frames]
    read = [f for f in frames if math.isfinite(f.step_iod) or math.isfinite(f.still_outline_iod)]

    def p99(values: list[float]) -> float:
        v = np.asarray([x for x in values if math.isfinite(x)])
        return float(np.percentile(v, 99)) if v.size else float("nan")

    torn = sum(
        1 for f in read
        if (math.isfinite(f.step_iod) and f.step_iod > step_max)
        or max((x for x in (f.still_outline_iod, f.still_eyes_iod) if math.isfinite(x)), default=0.0) > still_max
    )
    finite = [s if math.isfinite(s) else -1.0 for s in steps]
    return TearScores(
        step_p99=p99(steps), still_outline_p99=p99([f.still_outline_iod for f in frames]),
        still_eyes_p99=p99([f.still_eyes_iod for f in frames]), frames=len(read), frames_torn=torn,
        worst_frame=int(np.argmax(finite)) if finite and max(finite) >= 0 else -1, steps=steps,
    )


#: The synthetic tear of the validation: the lower face (below the nose, inside the jaw line and
#: a band under it) moved this far sideways and this far down (IOD), pasted without blending —
#: the defect issue 14 describes, at a size a viewer sees at once.
TEAR_SHIFT_IOD = (0.08, 0.04)


def shift_lower_face(rgb: np.ndarray, lm: np.ndarray, shift_iod: tuple[float, float] = TEAR_SHIFT_IOD) -> np.ndarray:
    """``rgb`` with its lower face cut out, shifted by ``shift_iod`` and pasted back hard (a tear)."""
    pts = np.asarray(lm, np.float64)[:, :2]
    iod = float(M.inter_ocular(pts[None])[0])
    jaw = pts[list(M.JAW_LINE)]
    centre = pts[list(M.LIP_CORNERS)].mean(axis=0)
    d = jaw - centre
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    ring = jaw + 0.15 * iod * d
    top = float(pts[M.NOSE_TIP, 1]) + 0.1 * iod
    ring[:, 1] = np.maximum(ring[:, 1], top)
    poly = np.concatenate([ring, [[ring[-1, 0], top], [ring[0, 0], top]]])
    h, w = rgb.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    dx, dy = shift_iod[0] * iod, shift_iod[1] * iod
    moved = cv2.warpAffine(rgb, np.array([[1.0, 0, dx], [0, 1.0, dy]]), (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    moved_mask = cv2.warpAffine(mask, np.array([[1.0, 0, dx], [0, 1.0, dy]]), (w, h), flags=cv2.INTER_NEAREST)
    return np.where(moved_mask[..., None] == 1, moved, rgb)
