"""Leave-one-speaker-out evaluation of anything fitted to the dev clips.

Design notes ("How we know it works"): a constant fitted on four clips and scored on the same
clips is tuned against noise. Here every fit is scored only on speakers it never saw: for each
speaker, the fit learns from every *other* speaker's training footage, then predicts that
speaker's cross-segment windows; the report gives those held-out numbers, never the in-sample
ones. Every dev clip has one speaker, so leaving a speaker out is leaving a clip out.

To plug in a new fit (e.g. phone → mouth trajectories learned from the dev clips), write a class
with the :class:`Fit` protocol and add it to :data:`benchmarks.fits.FITS`:

- ``fit(train)`` receives :class:`TrainingClip` s: a clip's engine analysis *driven by its own
  audio* (``reperform.analyze(clip, clip)``: its speech aligned to phones, its face tracked) and
  the benchmark's independent measure of its real mouth opening per frame — what the person's
  mouth did for what they said. Return anything (the fitted parameters).
- ``predict(params, task)`` receives a held-out :class:`HeldOutTask`: the engine's analysis of
  one cross-segment window (source window with its sound, driven by the target window's audio)
  and returns the predicted mouth opening per output frame (any affine scale: r ignores it).
  Make the engine use the parameters however the fit needs (``reperform.plan`` with them, once
  the engine reads them); the harness only compares the prediction with the truth.
- ``trains`` (optional, default True): False for a reference that learns nothing.
- ``applies(task)`` says whether the fit can speak to a window (a phone model cannot predict a
  window whose speech has no phones): others are reported as not applicable.

:func:`leave_one_speaker_out` runs the folds; the report (``report.loco_table``) pools each
clip's windows and averages clips exactly like the rendered cross-segment benchmark.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

import reperform
from benchmarks import metrics as M

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrainingClip:
    """A dev clip as training footage: the person talking, driven by their own voice."""

    clip: str
    speaker: str
    analysis: reperform.Analysis  # reperform.analyze(clip, clip)
    opening: np.ndarray  # float[n source frames] the benchmark's measured mouth opening (IOD), NaN without a face


@dataclass(frozen=True, slots=True)
class HeldOutTask:
    """One cross-segment window to predict, from a speaker the fit did not see."""

    clip: str
    speaker: str
    label: str  # "clip" or "clip #i/k"
    analysis: reperform.Analysis  # the source window driven by the target window's audio
    truth: np.ndarray  # float[n_out] the target window's real opening (IOD), NaN where unmeasured


class Fit(Protocol):
    name: str
    description: str

    def applies(self, task: HeldOutTask) -> bool: ...

    def fit(self, train: Sequence[TrainingClip]) -> object: ...

    def predict(self, params: object, task: HeldOutTask) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class HeldOutResult:
    """One window's held-out score under one fit (NaN r when not applicable or unmeasurable)."""

    fit: str
    clip: str
    speaker: str
    label: str
    r: float
    n_eff: float
    interval: tuple[float, float]
    trained_on: tuple[str, ...]  # the clips the fold learned from
    applies: bool


def leave_one_speaker_out(fit: Fit, train: Sequence[TrainingClip], tasks: Sequence[HeldOutTask]) -> list[HeldOutResult]:
    """Score ``fit`` on every task with a fold that never saw the task's speaker."""
    out: list[HeldOutResult] = []
    for speaker in dict.fromkeys(t.speaker for t in tasks):
        fold = [c for c in train if c.speaker != speaker]
        mine = [t for t in tasks if t.speaker == speaker]
        if not any(fit.applies(t) for t in mine):
            out += [_result(fit, t, None, fold) for t in mine]
            continue
        params = fit.fit(fold)
        out += [_result(fit, t, fit.predict(params, t) if fit.applies(t) else None, fold) for t in mine]
    return out


def _result(fit: Fit, task: HeldOutTask, prediction: np.ndarray | None, fold: Sequence[TrainingClip]) -> HeldOutResult:
    # A reference that learns nothing (``trains = False``) reports no training clips.
    trained = tuple(c.clip for c in fold) if getattr(fit, "trains", True) else ()
    if prediction is None:
        return HeldOutResult(fit.name, task.clip, task.speaker, task.label, math.nan, math.nan, (math.nan, math.nan),
                             trained, False)
    n = min(len(prediction), len(task.truth))
    pred, truth = np.asarray(prediction[:n], np.float64), np.asarray(task.truth[:n], np.float64)
    if M.overlap_frames(pred, truth) < M.MIN_TRUTH_FRAMES:
        return HeldOutResult(fit.name, task.clip, task.speaker, task.label, math.nan, math.nan,
                             (math.nan, math.nan), trained, True)
    return HeldOutResult(fit.name, task.clip, task.speaker, task.label, M.pearson(pred, truth),
                         M.effective_frames(pred, truth), M.correlation_interval(pred, truth), trained, True)


def pooled_by_clip(results: Sequence[HeldOutResult]) -> dict[str, tuple[float, float, float]]:
    """Each clip's windows pooled (Fisher fixed effect): clip → (r, lo, hi)."""
    out: dict[str, tuple[float, float, float]] = {}
    for clip in dict.fromkeys(r.clip for r in results):
        mine = [r for r in results if r.clip == clip]
        r, lo, hi, _n = M.pool_correlations([x.r for x in mine], [x.n_eff for x in mine])
        out[clip] = (r, lo, hi)
    return out
