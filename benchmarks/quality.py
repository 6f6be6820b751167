"""Quality numbers of one output video against its do-nothing baseline and ground truth.

Landmark metrics (lip-sync, AV offset, pauses, jitter, pose) come from :mod:`benchmarks.metrics`
on meshes measured by :mod:`benchmarks.measure`; pixel metrics (PSNR outside the face, identity)
walk the output, the baseline and the source frames in lockstep, one frame of each at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks import metrics
from benchmarks.measure import IdentityEmbedder, iter_rgb

log = logging.getLogger(__name__)

#: Identity is embedded on every n-th frame: the descriptor costs ~0.1 s and changes slowly.
IDENTITY_EVERY_N_FRAMES = 5
#: Window of the running median applied to pose tracks before comparing them (frames).
POSE_MEDIAN_FRAMES = 5
#: Frames sampled per clip for the mouth contact sheet.
CONTACT_FRAMES = 6


@dataclass(slots=True)
class LandmarkScores:
    """Landmark-based numbers for one video against a driving audio."""

    lipsync_r: float = float("nan")  # vs ground-truth mouth opening (cross-segment only)
    av_lag: int = 0
    av_peak_r: float = float("nan")
    pause_closed: float = float("nan")  # share of pause frames at rest
    pause_frames: int = 0
    pause_open_median: float = float("nan")  # median mouth opening in pause frames (IODs)
    rest: float = float("nan")  # the person's rest level the pause check uses (IODs)
    jitter_ratio: float = float("nan")  # vs the input frames
    pose_change_deg: float = float("nan")  # mean |Δ yaw/pitch/roll| vs the baseline, same source frame
    pose_std_deg: float = float("nan")  # mean over axes of the pose standard deviation
    pose_energy_r: float = float("nan")  # head speed vs speech envelope


@dataclass(slots=True)
class PixelScores:
    psnr_outside_db: float = float("nan")
    identity_distance: float = float("nan")  # dlib descriptor distance (same person < 0.6)
    identity_cosine: float = float("nan")
    crops: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (reference, output) mouths


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
    baseline_lm: np.ndarray | None = None,
) -> LandmarkScores:
    """All landmark metrics of one video ``lm`` (``[n, 478, 3]``) driven by the given audio curves."""
    opening = metrics.mouth_opening(lm)
    s = LandmarkScores()
    if truth_opening is not None:
        s.lipsync_r = metrics.pearson(opening, truth_opening)
    s.av_lag, s.av_peak_r = metrics.best_lag(opening, envelope)
    s.pause_closed, s.pause_frames = metrics.pause_closure(opening, in_pause, rest)
    sel = in_pause[: len(opening)] & np.isfinite(opening[: len(in_pause)])
    s.pause_open_median = float(np.median(opening[: len(in_pause)][sel])) if sel.any() else float("nan")
    s.rest = rest
    jit_in = metrics.landmark_jitter(input_lm)
    s.jitter_ratio = metrics.landmark_jitter(lm) / jit_in if jit_in > 0 else float("nan")
    pose = metrics.head_pose_deg(lm)
    s.pose_std_deg = float(np.nanmean(np.nanstd(pose, axis=0)))
    speed = np.r_[np.nan, np.linalg.norm(np.diff(pose, axis=0), axis=1)]
    s.pose_energy_r = metrics.pearson(speed, envelope)
    if baseline_lm is not None:
        n = min(len(lm), len(baseline_lm))
        diff = np.abs(_smooth(pose[:n]) - _smooth(metrics.head_pose_deg(baseline_lm[:n])))
        s.pose_change_deg = float(np.nanmean(diff)) if np.isfinite(diff).any() else float("nan")
    return s


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


def pixel_scores(
    output: Path,
    reference: Path | Iterator[np.ndarray],
    out_lm: np.ndarray,
    ref_lm: np.ndarray,
    embedder: IdentityEmbedder | None,
    *,
    contact: bool = False,
) -> PixelScores:
    """PSNR outside the face and identity distance of ``output`` against ``reference`` frame by frame.

    ``reference`` is the do-nothing baseline (same encoder, same time map) so only the edit differs;
    the face mask is the union of both frames' masks.
    """
    n = min(len(out_lm), len(ref_lm))
    psnrs, dists, coss = [], [], []
    picks = set(np.linspace(0, n - 1, CONTACT_FRAMES).astype(int).tolist()) if contact and n else set()
    crops: list[tuple[np.ndarray, np.ndarray]] = []
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
        psnrs.append(metrics.psnr_outside(a, b, mask))
        if embedder is not None and k % IDENTITY_EVERY_N_FRAMES == 0:
            ea, eb = embedder.embed(a, out_lm[k]), embedder.embed(b, ref_lm[k])
            if ea is not None and eb is not None:
                dists.append(float(np.linalg.norm(ea - eb)))
                coss.append(metrics.cosine(ea, eb))
        if k in picks and np.isfinite(ref_lm[k][0, 0]):
            crops.append((_mouth_crop(b, ref_lm[k]), _mouth_crop(a, ref_lm[k])))
    return PixelScores(
        psnr_outside_db=float(np.nanmean(psnrs)) if psnrs else float("nan"),
        identity_distance=float(np.mean(dists)) if dists else float("nan"),
        identity_cosine=float(np.mean(coss)) if coss else float("nan"),
        crops=crops,
    )
