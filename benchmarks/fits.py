"""Fits scored by :mod:`benchmarks.loco` (leave one speaker out); add new ones to :data:`FITS`.

- :class:`EnginePlan` — the shipped planner (``reperform.plan``) with the shipped learned mouth
  trajectory, which was fitted to every dev clip: on them it is *not* a held-out number, and its
  hand-set constants were tuned while looking at the same clips. The reference, labelled so.
- :class:`EnginePlan` with ``mouth_model=""`` — the planner by its rules alone (no learned part).
- :class:`LearnedTrajectory` — the planner with the learned trajectory (``motion.trajectory``,
  built by ``benchmarks/mouth_model.py``) refitted *without* the held-out speaker: the shipped
  planner's honest held-out number, and the template for plugging in any fitted model the
  engine reads through :class:`reperform.EngineConfig`.
- :class:`VisemeOpenings` — the generic opening of each viseme (``motion.visemes.VISEME_SHAPES``,
  column ``open``) fitted by ridge regression through the planner's coarticulation model
  (formerly ``plan_eval --fit-openings``). ``fitted=False`` scores the same model with the hand
  table, so the fit's own effect is read against a like-for-like baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import reperform
from benchmarks.loco import Fit, HeldOutTask, TrainingClip
from reperform.config import EngineConfig
from reperform.motion import mouth as mouth_passes
from reperform.motion.adapt import Range, generic_targets
from reperform.motion.visemes import N_VISEMES, VISEME_SHAPES, Viseme
from reperform.records import SpeechTimeline

#: Ridge strength pulling fitted openings toward the hand-set phonetic values (plan_eval's).
FIT_RIDGE = 3.0


def opening_design(speech: SpeechTimeline, rng: Range, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The planner's opening at times ``t_s`` as a linear model of the viseme openings.

    The coarticulation pass is linear in the viseme targets, so planning once with every viseme
    closed (``base``) and once per viseme with only that one open gives the design: the opening
    is ``base + span · X @ w`` for opening fractions ``w`` (``float[N_VISEMES - 1]``). Returns
    ``(X float[len(t_s), N_VISEMES - 1], base float[len(t_s)], span)``.
    """
    span = float(rng.hi[0] - rng.closed[0])
    t_grid = mouth_passes.grid(max(speech.duration_s, float(np.max(t_s, initial=0.0))))

    def opening(targets: np.ndarray) -> np.ndarray:
        segs = mouth_passes.phone_segments(list(speech.phones), targets, rng, None)
        rest = mouth_passes.pause_segments(list(speech.pauses), targets[Viseme.REST], rng)
        m, _ = mouth_passes.coarticulate(segs + rest, t_grid, targets[Viseme.REST])
        return np.interp(t_s, t_grid, m[:, 0])

    closed = generic_targets(rng)
    closed[1:, 0] = rng.closed[0]
    base = opening(closed)
    cols = []
    for v in range(1, N_VISEMES):
        one = closed.copy()
        one[v, 0] = rng.hi[0]
        cols.append((opening(one) - base) / span)
    return np.stack(cols, axis=1), base, span


def training_design(clip: TrainingClip) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of one clip talking in its own voice: y is its real opening (the engine tracker's
    units, the units the table is in) minus the all-closed plan, in range fractions."""
    a = clip.analysis
    t_frames = a.frame_times_s + a.info.video_start_s
    ok = a.track.present & (t_frames < a.speech.duration_s)
    x, base, span = opening_design(a.speech, Range(a.profile), t_frames[ok])
    return x, (a.track.mouth[ok, 0] - base) / span


def table_openings() -> np.ndarray:
    """The hand-set openings of visemes 1.. (the ridge prior and the unfitted model)."""
    return np.array([VISEME_SHAPES[Viseme(v)][0] for v in range(1, N_VISEMES)])


def ridge_openings(train: Sequence[TrainingClip], ridge: float = FIT_RIDGE) -> np.ndarray:
    """Ridge fit of the openings of visemes 1.. toward the hand table, on ``train``'s footage."""
    prior = table_openings()
    designs = [training_design(c) for c in train]
    x = np.vstack([d[0] for d in designs])
    y = np.concatenate([d[1] for d in designs])
    return np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y + ridge * prior)


@dataclass(frozen=True, slots=True)
class EnginePlan:
    """The shipped planner, nothing refitted: ``reperform.plan(task.analysis).motion.mouth[:, 0]``
    with ``EngineConfig(mouth_model=mouth_model)`` (None: the shipped trajectory; "": rules alone)."""

    mouth_model: str | None = None
    name: str = ""
    description: str = "reperform.plan on the window's analysis"
    trains: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            label = ("as shipped: learned trajectory fitted on every dev clip, not held out"
                     if self.mouth_model is None else "rules alone, no learned trajectory; hand-set constants")
            object.__setattr__(self, "name", f"engine plan ({label})")

    def applies(self, task: HeldOutTask) -> bool:
        return True

    def fit(self, train: Sequence[TrainingClip]) -> object:
        return None

    def predict(self, params: object, task: HeldOutTask) -> np.ndarray:
        config = EngineConfig(mouth_model=self.mouth_model)
        return reperform.plan(task.analysis, config=config).motion.mouth[:, 0]


@dataclass(frozen=True, slots=True)
class LearnedTrajectory:
    """The planner with the learned mouth trajectory refitted on the training speakers only.

    ``fit`` builds ``benchmarks/mouth_model.py``'s data from each training clip's analysis (its
    own speech, its own tracked mouth: exactly what ``mouth_model.clip_data`` computes) and trains
    it as ``make mouth-model`` does (ridge chosen by an inner leave-one-clip-out); the model file
    goes to a temporary folder and ``predict`` plans with ``EngineConfig(mouth_model=<it>)``.
    """

    name: str = "engine plan, learned trajectory refitted without the speaker (held out)"
    description: str = "motion.trajectory via benchmarks.mouth_model.train"

    def applies(self, task: HeldOutTask) -> bool:
        return True  # without phones the planner leaves the learned part out: it is the rules' plan

    def fit(self, train: Sequence[TrainingClip]) -> str:
        import hashlib
        import tempfile

        from benchmarks import mouth_model

        data = [trajectory_data(c) for c in train]
        key = hashlib.sha256("|".join(sorted(c.clip for c in train)).encode()).hexdigest()[:10]
        path = Path(tempfile.gettempdir()) / "reperform-loco" / f"trajectory.{key}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        mouth_model.train(data).save(path)
        return str(path)

    def predict(self, params: object, task: HeldOutTask) -> np.ndarray:
        return reperform.plan(task.analysis, config=EngineConfig(mouth_model=str(params))).motion.mouth[:, 0]


def trajectory_data(clip: TrainingClip):  # noqa: ANN201 - benchmarks.mouth_model.ClipData
    """``mouth_model.ClipData`` of a training clip from its analysis (no second tracking pass)."""
    from benchmarks import mouth_model
    from reperform.motion import trajectory

    a = clip.analysis
    frame_times = a.frame_times_s + a.info.video_start_s  # on the audio's clock
    opening = np.asarray(a.track.mouth[:, 0], np.float64)
    ok = np.asarray(a.track.present, bool) & np.isfinite(opening) & (frame_times < a.speech.duration_s)
    target = np.zeros_like(opening)
    target[ok] = (opening[ok] - opening[ok].mean()) / max(float(opening[ok].std()), 1e-9)
    return mouth_model.ClipData(clip.clip, trajectory.design(a.speech, frame_times), target, ok, float(a.info.fps))


@dataclass(frozen=True, slots=True)
class VisemeOpenings:
    """Per-viseme openings in the coarticulation model, fitted (ridge, leave one speaker out) or
    the hand table; the prediction is that model's opening for the window's driving speech."""

    fitted: bool = True
    name: str = ""
    description: str = "coarticulation model, viseme openings"

    def __post_init__(self) -> None:
        if not self.name:
            label = "fitted, held out" if self.fitted else "hand table"
            object.__setattr__(self, "name", f"viseme openings ({label})")

    def applies(self, task: HeldOutTask) -> bool:
        return bool(task.analysis.speech.phones) and task.analysis.speech.method != "acoustic"

    def fit(self, train: Sequence[TrainingClip]) -> np.ndarray:
        usable = [c for c in train if c.analysis.speech.phones and c.analysis.speech.method != "acoustic"]
        return ridge_openings(usable) if self.fitted and usable else table_openings()

    def predict(self, params: object, task: HeldOutTask) -> np.ndarray:
        a = task.analysis
        fps = float(a.info.fps)
        t_out = np.arange(len(task.truth)) / fps  # output frame k shows driving-audio time k / fps
        x, base, span = opening_design(a.speech, Range(a.profile), t_out)
        return base + span * (x @ np.asarray(params, np.float64))


#: Everything the benchmark scores by leave-one-speaker-out, in report order.
FITS: tuple[Fit, ...] = (
    EnginePlan(), EnginePlan(mouth_model=""), LearnedTrajectory(),
    VisemeOpenings(fitted=False), VisemeOpenings(fitted=True),
)
