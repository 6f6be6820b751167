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
from .mouth import coarticulate, grid, pause_segments, phone_segments, plan_mouth
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
#: Columns of MOUTH_PARAMS fitted: opening and jaw (both open from a rest value; lip shape
#: goes both ways and stays with the centre-sampled measurement).
FITTED_COLUMNS = (0, 3)
#: Mouth leads tried per speaker, seconds: under one frame at 25–30 fps, so the AV lag
#: stays 0 ± 1 (docs/tuning.md).
LEAD_CANDIDATES_S = (0.0, 0.01, 0.02, 0.03)
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
    """``targets`` (float32[N_VISEMES, 4]) with the ``open`` and ``jaw`` columns refitted to this speaker.

    Returns ``targets`` unchanged when the source has no phones, too few usable frames, or the
    fit is degenerate.
    """
    if (
        track is None or source_speech is None or frame_times_s is None or not source_speech.phones
        or source_speech.method == "acoustic" or len(frame_times_s) != track.n
    ):
        return targets
    t_frames = np.asarray(frame_times_s, np.float64) + source_offset_s
    real = np.asarray(track.mouth, np.float64)
    fit_s = min(source_speech.duration_s, MAX_FIT_S)
    ok = np.asarray(track.present, bool) & np.isfinite(real[:, FITTED_COLUMNS]).all(axis=1)
    ok &= (t_frames >= 0) & (t_frames < fit_s)
    if ok.sum() < MIN_FIT_FRAMES:
        return targets
    t_grid = grid(fit_s)
    phones = [p for p in source_speech.phones if p.start_s < fit_s]
    pauses = [(a, b) for a, b in source_speech.pauses if a < fit_s]

    def planned(tg: np.ndarray) -> np.ndarray:
        segs = phone_segments(phones, tg, rng, None) + pause_segments(pauses, tg[Viseme.REST], rng)
        curve, _ = coarticulate(segs, t_grid, tg[Viseme.REST])
        return np.stack([np.interp(t_frames[ok], t_grid, curve[:, j]) for j in FITTED_COLUMNS], axis=1)

    # Opening rests at "closed", the jaw at neutral: that is where every viseme's target is 0.
    low = np.array([rng.closed[j] if j == 0 else rng.neutral[j] for j in FITTED_COLUMNS])
    span = np.maximum(np.array([rng.hi[j] for j in FITTED_COLUMNS]) - low, 1e-6)
    closed = targets.copy()
    closed[1:, FITTED_COLUMNS] = low
    base = planned(closed)
    cols = []
    for v in range(1, N_VISEMES):
        one = closed.copy()
        one[v, FITTED_COLUMNS] = low + span
        cols.append((planned(one) - base) / span)
    design = np.stack(cols, axis=2)  # [frames, columns, visemes]
    out = targets.copy()
    for c, j in enumerate(FITTED_COLUMNS):
        x = design[:, c, :]
        y = (real[ok, j] - base[:, c]) / span[c]
        prior = (targets[1:, j] - low[c]) / span[c]
        try:
            w = np.linalg.solve(x.T @ x + RIDGE_FRAMES * np.eye(x.shape[1]), x.T @ y + RIDGE_FRAMES * prior)
        except np.linalg.LinAlgError:
            return targets
        out[1:, j] = low[c] + np.clip(w, *OPENING_LIMITS) * span[c]
        log.debug("fitted column %d on %d source frames: %s", j, int(ok.sum()), np.round(w, 2))
    return out.astype(np.float32)


def fit_lead(
    targets: np.ndarray,
    rng: Range,
    track: FaceTrack | None,
    source_speech: SpeechTimeline | None,
    frame_times_s: np.ndarray | None,
    *,
    default_s: float,
    source_offset_s: float = 0.0,
) -> float:
    """How far ahead of the sound this speaker's mouth moves, chosen from LEAD_CANDIDATES_S.

    The source's own speech is planned with this speaker's targets, and the lead whose planned
    opening best matches the filmed one wins. Speakers differ here (some anticipate each vowel
    early, some articulate late); candidates stop at 30 ms so the mouth never leaves the
    0 ± 1 frame AV-sync window. ``default_s`` when the source cannot tell.
    """
    if (
        track is None or source_speech is None or frame_times_s is None or not source_speech.phones
        or source_speech.method == "acoustic" or len(frame_times_s) != track.n
    ):
        return default_s
    fit_s = min(source_speech.duration_s, MAX_FIT_S)
    t_frames = np.asarray(frame_times_s, np.float64) + source_offset_s
    real = np.asarray(track.mouth[:, 0], np.float64)
    ok = np.asarray(track.present, bool) & np.isfinite(real) & (t_frames >= 0) & (t_frames < fit_s)
    if ok.sum() < MIN_FIT_FRAMES or np.std(real[ok]) < 1e-6:
        return default_s
    curves = plan_mouth(source_speech, None, targets, rng, fit_s, speech_end_s=fit_s)
    scores = {}
    for lead in LEAD_CANDIDATES_S:
        planned = np.interp(t_frames[ok] + lead, curves.t_s, curves.mouth[:, 0])
        if np.std(planned) < 1e-9:
            return default_s
        scores[lead] = float(np.corrcoef(planned, real[ok])[0, 1])
    best = max(scores, key=lambda k: scores[k])
    log.debug("mouth lead fit %s -> %.2f s", {k: round(v, 3) for k, v in scores.items()}, best)
    return best
