"""Learn this speaker's viseme openings from their own filmed speech, through the coarticulation model.

Sampling the source mouth at phone centres (``adapt.speaker_targets``) mixes each viseme with its
neighbours: a short vowel between two consonants never reaches its target, so its measured mean
is too small. The planner is *linear* in the targets, though, so the whole filmed opening curve
can be explained at once: plan the source's own phones once per viseme with only that viseme
open (one design column each), then solve a ridge regression for the openings that best
reproduce the real curve, pulled toward the centre-sampled targets where the source says little.
"""

from __future__ import annotations

import logging

import numpy as np

from ..records import FaceTrack, SpeechTimeline
from .adapt import Range
from .mouth import coarticulate, grid, pause_segments, phone_segments
from .visemes import N_VISEMES, Viseme

log = logging.getLogger(__name__)

#: Ridge strength toward the generic openings, in units of "frames of evidence": a viseme seen
#: in only a few frames stays near the table, one seen throughout the source follows the data.
RIDGE_FRAMES = 20.0
#: Fewer source frames with a face inside speech than this: not worth a fit.
MIN_FIT_FRAMES = 40
#: Only this much of the source is used: two minutes hold hundreds of syllables, and the fit
#: costs one planning pass per viseme, so its time must not grow with the clip.
MAX_FIT_S = 120.0
#: Fitted openings are clipped to this range of fractions (above 1 = beyond the 95th percentile).
OPENING_LIMITS = (0.0, 1.5)


def fit_openings(
    targets: np.ndarray,
    rng: Range,
    track: FaceTrack | None,
    source_speech: SpeechTimeline | None,
    frame_times_s: np.ndarray | None,
    *,
    source_offset_s: float = 0.0,
) -> np.ndarray:
    """``targets`` (float32[N_VISEMES, 4]) with the ``open`` column refitted to this speaker.

    Returns ``targets`` unchanged when the source has no phones, too few usable frames, or the
    fit is degenerate.
    """
    if (
        track is None or source_speech is None or frame_times_s is None or not source_speech.phones
        or source_speech.method == "acoustic" or len(frame_times_s) != track.n
    ):
        return targets
    t_frames = np.asarray(frame_times_s, np.float64) + source_offset_s
    real = np.asarray(track.mouth[:, 0], np.float64)
    fit_s = min(source_speech.duration_s, MAX_FIT_S)
    ok = np.asarray(track.present, bool) & np.isfinite(real) & (t_frames >= 0) & (t_frames < fit_s)
    if ok.sum() < MIN_FIT_FRAMES:
        return targets
    span = float(rng.hi[0] - rng.closed[0])
    t_grid = grid(fit_s)
    phones = [p for p in source_speech.phones if p.start_s < fit_s]
    pauses = [(a, b) for a, b in source_speech.pauses if a < fit_s]

    def opening(tg: np.ndarray) -> np.ndarray:
        segs = phone_segments(phones, tg, rng, None) + pause_segments(pauses, tg[Viseme.REST], rng)
        curve, _ = coarticulate(segs, t_grid, tg[Viseme.REST])
        return np.interp(t_frames[ok], t_grid, curve[:, 0])

    closed = targets.copy()
    closed[1:, 0] = rng.closed[0]
    base = opening(closed)
    cols = []
    for v in range(1, N_VISEMES):
        one = closed.copy()
        one[v, 0] = rng.hi[0]
        cols.append((opening(one) - base) / span)
    x = np.stack(cols, axis=1)
    y = (real[ok] - base) / span
    prior = (targets[1:, 0] - rng.closed[0]) / span
    try:
        w = np.linalg.solve(x.T @ x + RIDGE_FRAMES * np.eye(x.shape[1]), x.T @ y + RIDGE_FRAMES * prior)
    except np.linalg.LinAlgError:
        return targets
    out = targets.copy()
    out[1:, 0] = rng.closed[0] + np.clip(w, *OPENING_LIMITS) * span
    log.debug("fitted openings on %d source frames: %s", int(ok.sum()), np.round(w, 2))
    return out.astype(np.float32)
