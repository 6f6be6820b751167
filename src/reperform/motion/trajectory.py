"""A learned, speaker-independent mouth trajectory: phones and sound in a window → how open.

The rule-based planner (``mouth``) shapes each phone by a table and blends neighbours by
hand-set dominance curves; its constants were tuned on a few clips. This model instead learns
the whole coarticulation from real talking video: a linear filter over the viseme classes and
the sound's openness/energy in a window from ``LAGS_S[0]`` before to ``LAGS_S[-1]`` after each
frame (a linear "dynamic viseme": anticipation, carry-over and the shapes themselves in one
set of weights). It is fitted by ``scripts/train_mouth_model.py`` to the dev media's own
speech (force-aligned by our aligner) and mouths (measured by our tracker), every clip
counting equally, and shipped as ``data/mouth_trajectory.npz``.

Its output is in z units (how far above or below the speaker's mean opening, in standard
deviations); the planner maps it into the person's own range and blends it with the rule
plan (``plan.LEARNED_SHARE``), so the person's habits still come from their own footage.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EngineError
from ..records import ARTICULATION_FEATURES, SpeechTimeline
from .visemes import N_VISEMES, Viseme, rule_for

#: Tracks per lag of :func:`acoustic_design`: energy, openness, the articulation features, p/b/m.
N_ACOUSTIC_TRACKS = 2 + len(ARTICULATION_FEATURES) + 1

#: Offsets (s) at which the speech is read around each frame, negative = before. The mouth
#: moves ahead of the sound (anticipation up to ~300 ms for rounding) and releases behind it.
#: Chosen leave-one-clip-out among three windows (docs/tuning.md).
LAGS_S = tuple(np.round(np.arange(-0.2, 0.3001, 0.02), 3))
#: Grid of the speech tracks (SpeechTimeline.hop_s is 10 ms).
GRID_S = 0.01
#: Where the shipped model lives (rebuilt by scripts/train_mouth_model.py).
DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "mouth_trajectory.npz"
#: Offsets (s) of the acoustic model (:func:`acoustic_design`): coarser than LAGS_S, so its
#: nine sound features per lag stay few against ~2 min of training video.
ACOUSTIC_LAGS_S = tuple(np.round(np.arange(-0.2, 0.3001, 0.04), 3))
#: Bumped when the feature layout changes: an old file must not be read with new features.
#: 2: the acoustic model (``MouthModel.acoustic_weights``) beside the phone model. A version-1
#: file (phone model only) still reads: its layout is version 2 without the acoustic arrays.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


def viseme_grid(speech_tl: SpeechTimeline, n: int) -> np.ndarray:
    """The viseme class (int) of every 10-ms step of the speech; 0 (REST) outside phones."""
    out = np.zeros(n, np.int16)
    for ph in speech_tl.phones:
        i0, i1 = int(ph.start_s / GRID_S), int(np.ceil(ph.end_s / GRID_S))
        out[max(0, i0): max(0, min(n, i1))] = int(rule_for(ph.label).viseme)
    return out


def design(speech_tl: SpeechTimeline, times_s: np.ndarray) -> np.ndarray:
    """Features of each time in ``times_s``: per lag, the viseme one-hot (REST left out) and the
    sound's openness and energy; a constant last. float64[len(times_s), n_features]."""
    n = max(len(speech_tl.energy), int(np.ceil(speech_tl.duration_s / GRID_S)) + 1)
    grid = viseme_grid(speech_tl, n)
    openness = np.zeros(n)
    energy = np.zeros(n)
    openness[: len(speech_tl.openness)] = speech_tl.openness
    energy[: len(speech_tl.energy)] = speech_tl.energy
    times_s = np.asarray(times_s, np.float64)
    cols = []
    for lag in LAGS_S:
        idx = np.round((times_s + lag) / GRID_S).astype(int)
        outside = (idx < 0) | (idx >= n)
        idx = np.clip(idx, 0, n - 1)
        onehot = np.zeros((len(idx), N_VISEMES))
        onehot[np.arange(len(idx)), grid[idx]] = 1.0
        onehot[outside] = 0.0
        cols.append(onehot[:, 1:])
        cols.append(np.where(outside[:, None], 0.0, np.stack([openness[idx], energy[idx]], axis=1)))
    return np.concatenate([*cols, np.ones((len(times_s), 1))], axis=1)


def n_features() -> int:
    return len(LAGS_S) * (N_VISEMES - 1 + 2) + 1


def acoustic_design(speech_tl: SpeechTimeline, times_s: np.ndarray) -> np.ndarray:
    """Features of the acoustic model: per lag of ACOUSTIC_LAGS_S, the sound's energy, openness
    and articulation features (``speech_tl.features``; zeros when the timeline has none) and
    whether a recognised/aligned phone there is a bilabial (p/b/m close the lips in every
    language, and are what phone recognition finds most reliably); a constant last. No other
    phone identity is read, so a wrong language's phone labels cannot steer it.
    float64[len(times_s), n_acoustic_features()]."""
    n = max(len(speech_tl.energy), int(np.ceil(speech_tl.duration_s / GRID_S)) + 1)
    k = N_ACOUSTIC_TRACKS - 3
    tracks = np.zeros((n, N_ACOUSTIC_TRACKS))
    tracks[: len(speech_tl.energy), 0] = speech_tl.energy
    tracks[: len(speech_tl.openness), 1] = speech_tl.openness
    feats = np.asarray(speech_tl.features, np.float64)
    if feats.ndim == 2 and feats.shape[1] == k:
        tracks[: len(feats), 2: 2 + k] = feats[:n]
    tracks[:, -1] = viseme_grid(speech_tl, n) == int(Viseme.PBM)
    times_s = np.asarray(times_s, np.float64)
    cols = []
    for lag in ACOUSTIC_LAGS_S:
        idx = np.round((times_s + lag) / GRID_S).astype(int)
        outside = (idx < 0) | (idx >= n)
        cols.append(np.where(outside[:, None], 0.0, tracks[np.clip(idx, 0, n - 1)]))
    return np.concatenate([*cols, np.ones((len(times_s), 1))], axis=1)


def n_acoustic_features() -> int:
    return len(ACOUSTIC_LAGS_S) * N_ACOUSTIC_TRACKS + 1


@dataclass(frozen=True, slots=True)
class MouthModel:
    """Weights of the filter, and where they came from (``info``: clips, ridge, held-out scores)."""

    weights: np.ndarray  # float64[n_features()]
    info: dict
    #: The acoustic model (float64[n_acoustic_features()]) for speech of the ``acoustic_methods``;
    #: None = the phone model everywhere (and nothing for loudness-only speech).
    acoustic_weights: np.ndarray | None = None
    #: Speech methods the acoustic model drives. Loudness-only speech only: held out, it lifted that
    #: route on every clip, while on recognised phones it did not beat the phone model on the German
    #: clip (docs/tuning.md, ``trajectory.acoustic_weights``).
    acoustic_methods: tuple[str, ...] = ("acoustic",)

    def predict(self, speech_tl: SpeechTimeline, times_s: np.ndarray) -> np.ndarray:
        """The learned opening at ``times_s`` (z units: 0 = the speaker's mean opening): by the
        acoustic model for the ``acoustic_methods`` when there is one, else by the phone model."""
        if self.acoustic_weights is not None and speech_tl.method in self.acoustic_methods:
            return acoustic_design(speech_tl, times_s) @ self.acoustic_weights
        return design(speech_tl, times_s) @ self.weights

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        extra = {} if self.acoustic_weights is None else {
            "acoustic_weights": self.acoustic_weights, "acoustic_lags_s": np.asarray(ACOUSTIC_LAGS_S)}
        np.savez(path, weights=self.weights, version=FORMAT_VERSION, lags_s=np.asarray(LAGS_S),
                 info=json.dumps(self.info, sort_keys=True), **extra)
        return path


def fit(designs: list[np.ndarray], targets: list[np.ndarray], ridge: float) -> np.ndarray:
    """Ridge weights over several clips, each clip counting equally whatever its length
    (one long clip must not make the model that one speaker's). The constant is not shrunk."""
    dim = designs[0].shape[1]
    gram = np.zeros((dim, dim))
    rhs = np.zeros(dim)
    for x, y in zip(designs, targets, strict=True):
        gram += x.T @ x / len(y)
        rhs += x.T @ y / len(y)
    penalty = ridge / 1000.0 * np.eye(dim)
    penalty[-1, -1] = 0.0
    return np.linalg.solve(gram + penalty, rhs)


@functools.lru_cache(maxsize=4)
def load(path: str | None = None) -> MouthModel:
    """The model at ``path`` (default: the shipped one); read once per process."""
    file = Path(path) if path else DEFAULT_PATH
    try:
        with np.load(file, allow_pickle=False) as z:
            version = int(z["version"])
            weights = np.asarray(z["weights"], np.float64)
            lags = tuple(np.round(z["lags_s"], 3))
            info = json.loads(str(z["info"]))
            acoustic = np.asarray(z["acoustic_weights"], np.float64) if "acoustic_weights" in z else None
            acoustic_lags = tuple(np.round(z["acoustic_lags_s"], 3)) if acoustic is not None else ACOUSTIC_LAGS_S
    except (OSError, KeyError, ValueError) as exc:
        raise EngineError(f"cannot read the mouth model {file}: {exc}") from exc
    if version not in READABLE_VERSIONS or lags != LAGS_S or weights.shape != (n_features(),) or (
            acoustic is not None and (acoustic_lags != ACOUSTIC_LAGS_S or acoustic.shape != (n_acoustic_features(),))):
        raise EngineError(f"mouth model {file} was built for another feature layout; rebuild it "
                          "with `make mouth-model`")
    return MouthModel(weights=weights, info=info, acoustic_weights=acoustic)
