"""Quality numbers of one output video against its do-nothing baseline and ground truth.

Landmark metrics (lip-sync, AV offset, pauses, jitter) come from :mod:`benchmarks.metrics` on meshes
measured by :mod:`benchmarks.measure`; pixel metrics (background PSNR, identity, head pose change)
walk the output and its reference frames in lockstep, one frame of each at a time. Head pose is a
pixel metric: it follows the reference's rigid upper-face points into the output by their pixels
(:func:`benchmarks.metrics.tracked_pose_change`), not by refitting a mesh on the output.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks import metrics, tears
from benchmarks.measure import IdentityEmbedder, iter_rgb

log = logging.getLogger(__name__)

#: Identity is embedded on every n-th frame: the descriptor costs ~0.1 s and changes slowly ...
IDENTITY_EVERY_N_FRAMES = 5
#: ... and on at most this many frames of one output (a 12 s window would spend ~7 s on it).
IDENTITY_MAX_FRAMES = 40
#: Window of the running median applied to pose tracks before comparing them (frames).
POSE_MEDIAN_FRAMES = 5
#: Smoothing (s, Gaussian sigma) of head speed and speech envelope before correlating them.
POSE_ENERGY_SMOOTH_S = 0.3
#: Frames sampled per clip for the mouth contact sheet.
CONTACT_FRAMES = 6


@dataclass(slots=True)
class LandmarkScores:
    """Landmark-based numbers for one video against a driving audio."""

    lipsync_r: float = float("nan")  # vs ground-truth mouth opening (cross-segment only)
    lipsync_frames: int = 0  # frames where both could be measured (r needs MIN_TRUTH_FRAMES)
    lipsync_ci: tuple[float, float] = (float("nan"), float("nan"))  # 95 % interval of lipsync_r
    lipsync_neff: float = float("nan")  # Bartlett's effective number of frames behind lipsync_r
    av_lag: int = 0
    av_peak_r: float = float("nan")
    pause_closed: float = float("nan")  # share of pause frames at rest
    pause_frames: int = 0
    pause_open_median: float = float("nan")  # median mouth opening in pause frames (IODs)
    rest: float = float("nan")  # the person's rest level the pause check uses (IODs)
    jitter_ratio: float = float("nan")  # lip points on the face (metrics.lip_jitter) vs the input's
    #: Mean over yaw/pitch/roll of the std of the output's own head pose (mesh axes, absolute: the
    #: source's motion included), the literal reading of issue 5's "pose standard deviation".
    pose_std_deg: float = float("nan")


@dataclass(slots=True)
class PixelScores:
    """Pixel numbers of one video against its reference (the baseline; for the baseline, its input)."""

    #: The background number the ≥ 40 dB target is checked on: outside the face region (lips, face
    #: modes; part 1's rule) or outside the head region (head mode, which moves head, hair and neck).
    psnr_outside_db: float = float("nan")
    region: str = "face"  # which of the two psnr_outside_db is
    psnr_outside_face_db: float = float("nan")
    psnr_outside_head_db: float = float("nan")
    psnr_far_db: float = float("nan")  # outside head region + band: the true background
    band_changed: float = float("nan")  # share of band pixels changed > CHANGED_LEVELS (mean over frames)
    band_changed_worst: float = float("nan")  # the same, worst frame
    pose_change_deg: float = float("nan")  # mean rotation angle vs the reference, same source frame
    #: Rigid points' jitter over the reference's, the output's points followed by their pixels
    #: (:func:`benchmarks.metrics.rigid_jitter_ratio`): motion in the picture, not mesh refits.
    rigid_jitter_ratio: float = float("nan")
    added_std_deg: float = float("nan")  # mean over pitch/yaw/roll of the std of that rotation
    pose_axis_std_deg: tuple[float, float, float] = (float("nan"),) * 3  # pitch, yaw, roll
    pose_energy_r: float = float("nan")  # head speed (of the change) vs the driving speech envelope
    pose_energy_p: float = float("nan")  # share of time-shifted envelopes correlating at least as well
    pose_tracked: float = float("nan")  # share of frames where the pose could be read
    identity_distance: float = float("nan")  # dlib descriptor distance (same person < 0.6)
    identity_cosine: float = float("nan")
    crops: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (reference, output) mouths
    #: Tear measures per frame (output vs reference, on the reference's mesh) when asked for.
    tear_frames: list[tears.TearFrame] = field(default_factory=list)
    #: The same on a deliberately torn copy of the *output* (its lower face shifted and pasted
    #: back hard): the validation that the measure reads a real tear (baseline rows only).
    torn_frames: list[tears.TearFrame] = field(default_factory=list)


def driving_curves(samples: np.ndarray, rate: int, fps: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame speech envelope and pause mask of a driving audio."""
    return (
        metrics.frame_envelope(samples, rate, fps, n),
        metrics.pause_frames(metrics.silent_runs(samples, rate), fps, n),
    )


def landmark_scores(
    lm: np.ndarray,
    *,
    envelope: np.ndarray,
    in_pause: np.ndarray,
    rest: float,
    input_lm: np.ndarray,
    truth_opening: np.ndarray | None = None,
) -> LandmarkScores:
    """All landmark metrics of one video ``lm`` (``[n, 478, 3]``) driven by the given audio curves."""
    opening = metrics.mouth_opening(lm)
    s = LandmarkScores()
    if truth_opening is not None:
        s.lipsync_frames = metrics.overlap_frames(opening, truth_opening)
        if s.lipsync_frames >= metrics.MIN_TRUTH_FRAMES:
            s.lipsync_r = metrics.pearson(opening, truth_opening)
            s.lipsync_ci = metrics.correlation_interval(opening, truth_opening)
            s.lipsync_neff = metrics.effective_frames(opening, truth_opening)
    s.av_lag, s.av_peak_r = metrics.best_lag(opening, envelope)
    s.pause_closed, s.pause_frames = metrics.pause_closure(opening, in_pause, rest)
    sel = in_pause[: len(opening)] & np.isfinite(opening[: len(in_pause)])
    s.pause_open_median = float(np.median(opening[: len(in_pause)][sel])) if sel.any() else float("nan")
    s.rest = rest
    # The lips on the face; head motion is read from pixels (PixelScores.rigid_jitter_ratio), since
    # the mesh refits itself whenever the mouth or brows change.
    jit_in = metrics.lip_jitter(input_lm)
    s.jitter_ratio = metrics.lip_jitter(lm) / jit_in if jit_in > 0 else float("nan")
    s.pose_std_deg = float(np.nanmean(np.nanstd(metrics.head_pose_deg(lm), axis=0)))
    return s


def pose_scores(delta: np.ndarray, envelope: np.ndarray | None, fps: float | None) -> dict[str, object]:
    """Summaries of a per-frame pose-change track ``delta`` ``[n, 3]`` (degrees, NaN = unread).

    The track is median-smoothed over POSE_MEDIAN_FRAMES first (one frame's fit wobbles by
    hundredths of a degree; the targets are about the head moving). ``pose_energy_r`` correlates the
    head's angular speed with the driving envelope, both smoothed by POSE_ENERGY_SMOOTH_S (a gesture
    spans several frames; a frame-by-frame correlation would mostly see noise).
    """
    out: dict[str, object] = {}
    if not len(delta) or not np.isfinite(delta[:, 0]).any():
        return out
    sm = _smooth(delta)
    ok = np.isfinite(sm[:, 0])
    axis_std = np.nanstd(sm, axis=0)
    out["pose_change_deg"] = float(np.nanmean(np.linalg.norm(sm, axis=1)))
    out["pose_axis_std_deg"] = tuple(float(v) for v in axis_std)
    out["added_std_deg"] = float(np.mean(axis_std))
    out["pose_tracked"] = float(ok.mean())
    if envelope is not None and fps and ok.sum() >= 3:
        from scipy.ndimage import gaussian_filter1d

        n = min(len(sm), len(envelope))
        filled = np.where(ok[:, None], sm, 0.0)[:n]
        speed = np.linalg.norm(np.gradient(filled, axis=0), axis=1) if n > 1 else np.zeros(n)
        sigma = POSE_ENERGY_SMOOTH_S * fps
        r_speed = gaussian_filter1d(speed, sigma)
        r_env = gaussian_filter1d(np.asarray(envelope[:n], np.float64), sigma)
        r_speed[~ok[:n]] = np.nan
        r = metrics.pearson(r_speed, r_env)
        out["pose_energy_r"] = r
        # How often the envelope shifted in time (circularly, by at least a gesture) correlates as
        # well: on a clip of a few seconds, heavily smoothed series reach |r| ≈ 0.7 by chance.
        min_shift = int(math.ceil(2 * sigma))
        null = [metrics.pearson(r_speed, np.roll(r_env, k)) for k in range(min_shift, n - min_shift + 1)]
        null = [v for v in null if np.isfinite(v)]
        if null and np.isfinite(r):
            out["pose_energy_p"] = float(np.mean(np.asarray(null) >= r))
    return out


def _smooth(pose: np.ndarray) -> np.ndarray:
    """Running median over POSE_MEDIAN_FRAMES: a per-frame mesh fit wobbles by tenths of a degree,
    and the pose targets are about the head moving, not about that wobble."""
    from scipy.ndimage import median_filter

    filled = pose.copy()
    bad = ~np.isfinite(filled)
    filled[bad] = 0.0
    out = median_filter(filled, size=(POSE_MEDIAN_FRAMES, 1), mode="nearest")
    out[bad] = np.nan
    return out


def _mouth_crop(rgb: np.ndarray, lm: np.ndarray, side: int = 128) -> np.ndarray:
    import cv2

    iod = float(metrics.inter_ocular(lm[None])[0])
    c = lm[list(metrics.MOUTH_POINTS), :2].mean(axis=0)
    half = 0.75 * iod
    m = np.array([[side / (2 * half), 0, side / 2 - c[0] * side / (2 * half)],
                  [0, side / (2 * half), side / 2 - c[1] * side / (2 * half)]])
    return cv2.warpAffine(rgb, m, (side, side), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT)


def _nearest_present(lm: np.ndarray) -> np.ndarray:
    """For each frame, the index of the nearest frame with a face (itself if it has one; -1 if none has)."""
    present = np.flatnonzero(np.isfinite(lm[:, 0, 0]))
    if not present.size:
        return np.full(len(lm), -1)
    idx = np.searchsorted(present, np.arange(len(lm)))
    lo = present[np.clip(idx - 1, 0, present.size - 1)]
    hi = present[np.clip(idx, 0, present.size - 1)]
    return np.where(np.abs(np.arange(len(lm)) - lo) <= np.abs(hi - np.arange(len(lm))), lo, hi)


def pixel_scores(
    output: Path,
    reference: Path | Iterator[np.ndarray],
    out_lm: np.ndarray,
    ref_lm: np.ndarray,
    embedder: IdentityEmbedder | None,
    *,
    contact: bool = False,
    region: str = "face",
    envelope: np.ndarray | None = None,
    fps: float | None = None,
    tear_mode: str | None = None,
    torn_every: int = 0,
) -> PixelScores:
    """Background PSNR, identity distance and head-pose change of ``output`` against ``reference``.

    ``reference`` is the do-nothing baseline (same encoder, same time map) so only the edit differs.
    Background: the face mask is the union of both frames' masks (part 1's rule); the head region,
    its band and the far background come from the *reference's* mesh alone (the nearest frame with
    a face when this one has none), so the output cannot shrink what is judged. ``region`` picks the
    one ``psnr_outside_db`` reports ("head" for head mode). Pose: the reference's upper-face points
    followed into the output by their pixels, per frame (see :func:`pose_scores`).

    ``tear_mode`` (a mode name, or "baseline") also measures tears per frame
    (:func:`benchmarks.tears.tear_frame`); ``torn_every`` > 0 measures, on every n-th frame, a
    copy of the output torn on purpose (:func:`benchmarks.tears.shift_lower_face`) against the
    output itself — the check that the measure sees a tear where there is one.
    """
    if region not in ("face", "head"):
        raise ValueError(f"region must be 'face' or 'head', not {region!r}")
    n = min(len(out_lm), len(ref_lm))
    psnr_face, psnr_head, psnr_far, band, dists, coss = [], [], [], [], [], []
    delta = np.full((n, 3), np.nan)
    rigid_shift = np.full((n, len(metrics.STABLE_POINTS), 2), np.nan)
    nearest = _nearest_present(np.asarray(ref_lm[:n]))
    identity_every = max(IDENTITY_EVERY_N_FRAMES, -(-n // IDENTITY_MAX_FRAMES))
    picks = set(np.linspace(0, n - 1, CONTACT_FRAMES).astype(int).tolist()) if contact and n else set()
    crops: list[tuple[np.ndarray, np.ndarray]] = []
    tear_frames: list[tears.TearFrame] = []
    torn_frames: list[tears.TearFrame] = []
    nan_tear = tears.TearFrame(float("nan"), float("nan"), float("nan"), 0)
    ref_iter = iter_rgb(reference) if isinstance(reference, Path) else reference
    for k, (a, b) in enumerate(zip(iter_rgb(output), ref_iter, strict=False)):
        if k >= n:
            break
        if a.shape != b.shape:
            raise ValueError(f"frame size differs: {a.shape} vs {b.shape}")
        h, w = a.shape[:2]
        mask = None
        for lm in (out_lm[k], ref_lm[k]):
            if np.isfinite(lm[0, 0]):
                m = metrics.face_mask(lm, h, w)
                mask = m if mask is None else (mask | m)
        psnr_face.append(metrics.psnr_outside(a, b, mask))
        if nearest[k] >= 0:
            head, ring = metrics.head_regions(ref_lm[nearest[k]], h, w)
            psnr_head.append(metrics.psnr_outside(a, b, head))
            psnr_far.append(metrics.psnr_outside(a, b, head | ring))
            band.append(metrics.changed_share(a, b, ring))
        else:  # no face anywhere in the reference: nothing may change
            psnr_head.append(metrics.psnr_outside(a, b, None))
            psnr_far.append(psnr_head[-1])
        if np.isfinite(ref_lm[k][0, 0]):
            delta[k] = metrics.tracked_pose_change(b, a, ref_lm[k])
            rigid_shift[k] = metrics.tracked_shift(b, a, ref_lm[k], metrics.STABLE_POINTS)
        if embedder is not None and k % identity_every == 0:
            ea, eb = embedder.embed(a, out_lm[k]), embedder.embed(b, ref_lm[k])
            if ea is not None and eb is not None:
                dists.append(float(np.linalg.norm(ea - eb)))
                coss.append(metrics.cosine(ea, eb))
        if k in picks and np.isfinite(ref_lm[k][0, 0]):
            crops.append((_mouth_crop(b, ref_lm[k]), _mouth_crop(a, ref_lm[k])))
        if tear_mode is not None:
            has_face = np.isfinite(ref_lm[k][0, 0])
            tear_frames.append(tears.tear_frame(b, a, ref_lm[k], tear_mode) if has_face else nan_tear)
            if torn_every and k % torn_every == 0 and np.isfinite(out_lm[k][0, 0]):
                torn_frames.append(tears.tear_frame(a, tears.shift_lower_face(a, out_lm[k]), out_lm[k], "torn"))

    def mean(vals: list[float]) -> float:
        finite = [v for v in vals if np.isfinite(v)]
        return float(np.mean(finite)) if finite else float("nan")

    face_db, head_db = mean(psnr_face), mean(psnr_head)
    band_finite = [v for v in band if np.isfinite(v)]
    return PixelScores(
        psnr_outside_db=head_db if region == "head" else face_db,
        region=region,
        psnr_outside_face_db=face_db,
        psnr_outside_head_db=head_db,
        psnr_far_db=mean(psnr_far),
        band_changed=mean(band),
        band_changed_worst=float(max(band_finite)) if band_finite else float("nan"),
        identity_distance=float(np.mean(dists)) if dists else float("nan"),
        identity_cosine=float(np.mean(coss)) if coss else float("nan"),
        crops=crops,
        tear_frames=tear_frames,
        torn_frames=torn_frames,
        rigid_jitter_ratio=metrics.rigid_jitter_ratio(ref_lm[:n], rigid_shift) if n >= 3 else float("nan"),
        **pose_scores(delta, envelope, fps),  # type: ignore[arg-type]
    )
