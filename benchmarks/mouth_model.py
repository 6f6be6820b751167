"""Build the learned mouth trajectory model (``reperform.motion.trajectory``) from the dev media.

Each training clip's own audio is analysed by the engine's speech stage (force-aligned where its
transcript explains it, recognised phones otherwise) and its own mouth measured by the engine's
tracker: the data file then describes what this engine's inputs look like against real mouths.
Every constant fitted here is chosen leave-one-clip-out, and the numbers reported are for clips
the model did not see:

- the ridge strength is chosen per fold by an inner leave-one-clip-out over the training clips;
- ``held_out`` scores each clip with a model fitted to the others only.

Run ``.venv/bin/python -m benchmarks.mouth_model --write`` (``make mouth-model``) to rebuild the
shipped file after changing the features, the speech stage or the tracker; without ``--write`` it
only reports. The cross-segment benchmark calls :func:`model_without` to drive each clip with a
model that never saw it.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reperform import face, media, runtime, speech
from reperform.config import EngineConfig
from reperform.motion import trajectory
from reperform.records import SpeechTimeline

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
WORK = Path(__file__).resolve().parent / ".work" / "mouth_model"
#: Dev clips with speech and a trackable speaking face. Left out: the Hamilton clip (its edited
#: face is mostly behind a microphone, in profile or off screen; other faces in its cutaways)
#: and liveportrait_d13 (no sound).
TRAIN_CLIPS = (
    "videoretalking_2",
    "videoretalking_4",
    "pcavs_00373",
    "latentsync_demo1_video",
    "dfrf_cnn2_25fps",
    "mimictalk_German_20s",
)
#: Ridge strengths tried (in the units of ``trajectory.fit``).
RIDGES = (3.0, 10.0, 30.0, 100.0, 300.0)
#: Window (s) over which the report's correlations are taken: the length of a cross-segment
#: target, so a clip's slow drifts (posture, framing) do not count as lip-sync.
WINDOW_S = 5.0


@dataclass(frozen=True, slots=True)
class ClipData:
    """One clip's features, target (engine-tracked opening, z-scored over frames with a face) and
    the frames that count."""

    clip: str
    design: np.ndarray  # float64[n, n_features]
    target: np.ndarray  # float64[n]
    ok: np.ndarray  # bool[n]
    fps: float
    #: float64[n, n_acoustic_features]: the clip's audio through the recognised route (no
    #: transcript), the input the acoustic model sees in use.
    acoustic: np.ndarray | None = None


def _code_version() -> str:
    """A hash of the code the data depend on: the speech and face stages and the features."""
    src = REPO / "src" / "reperform"
    h = hashlib.sha256()
    for path in sorted([*(src / "speech").glob("*.py"), *(src / "face").glob("*.py"), src / "motion" / "trajectory.py"]):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def clip_data(path: Path, config: EngineConfig | None = None) -> ClipData:
    """Features and target of one clip (cached under benchmarks/.work, keyed by the code)."""
    cache = WORK / f"{path.stem}.{_code_version()}.npz"
    if cache.is_file():
        z = np.load(cache)
        return ClipData(path.stem, z["design"], z["target"], z["ok"], float(z["fps"]), z["acoustic"])
    info = media.probe(path)
    tracker = face.FaceTracker(info.width, info.height)
    times = []
    for index, t_s, rgb in media.iter_frames(info):
        tracker.update(index, rgb)
        times.append(t_s)
    track = tracker.finish()
    audio = media.load_audio(path)
    tl: SpeechTimeline = speech.analyze_speech(audio, text=None, config=config or EngineConfig())
    recognized = speech.analyze_speech(audio, text=None, config=config or EngineConfig(), transcribe=False)
    frame_times = np.asarray(times) + info.video_start_s  # on the audio's clock
    opening = np.asarray(track.mouth[:, 0], np.float64)
    ok = np.asarray(track.present, bool) & np.isfinite(opening) & (frame_times < tl.duration_s)
    target = np.zeros_like(opening)
    target[ok] = (opening[ok] - opening[ok].mean()) / max(float(opening[ok].std()), 1e-9)
    data = ClipData(path.stem, trajectory.design(tl, frame_times), target, ok, float(info.fps),
                    trajectory.acoustic_design(recognized, frame_times))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, design=data.design, target=data.target, ok=data.ok, fps=data.fps, acoustic=data.acoustic)
    log.info("%s: %d frames, speech %s", path.stem, int(ok.sum()), tl.method)
    return data


def window_r(pred: np.ndarray, truth: np.ndarray, ok: np.ndarray, window: int) -> float:
    """Mean Pearson r over consecutive windows of ``window`` frames (frames with ``ok`` only)."""
    rs = []
    for i in range(0, len(pred) - window + 1, window):
        sel = ok[i:i + window]
        a, b = pred[i:i + window][sel], truth[i:i + window][sel]
        if len(a) >= window // 2 and a.std() > 1e-9 and b.std() > 1e-9:
            rs.append(float(np.corrcoef(a, b)[0, 1]))
    return float(np.mean(rs)) if rs else float("nan")


def _fit(data: list[ClipData], ridge: float, field: str = "design") -> np.ndarray:
    return trajectory.fit([getattr(d, field)[d.ok] for d in data], [d.target[d.ok] for d in data], ridge)


def _score(weights: np.ndarray, d: ClipData, field: str = "design") -> float:
    return window_r(getattr(d, field) @ weights, d.target, d.ok, int(round(WINDOW_S * d.fps)))


def choose_ridge(data: list[ClipData], field: str = "design") -> float:
    """The ridge whose leave-one-clip-out mean over ``data`` is highest (``field``: which design)."""
    if len(data) < 2:
        return RIDGES[len(RIDGES) // 2]
    scores = {r: np.nanmean([_score(_fit([x for x in data if x is not d], r, field), d, field) for d in data])
              for r in RIDGES}
    return max(scores, key=lambda r: scores[r])


def train(data: list[ClipData]) -> trajectory.MouthModel:
    """A model fitted to ``data`` (the phone model on the engine's route, the acoustic model on
    recognised phones), each ridge chosen leave-one-clip-out within ``data``."""
    ridge = choose_ridge(data)
    info: dict[str, object] = {"clips": [d.clip for d in data], "ridge": ridge,
                               "frames": int(sum(d.ok.sum() for d in data))}
    if any(d.acoustic is None for d in data):
        # Data built from analyses alone (the benchmark's leave-one-speaker-out fit) carry no
        # recognised-route features: the acoustic model is left out. It only plans speech without
        # usable phones, which the tasks those fits are scored on do not have.
        return trajectory.MouthModel(weights=_fit(data, ridge), info=info)
    acoustic_ridge = choose_ridge(data, "acoustic")
    return trajectory.MouthModel(weights=_fit(data, ridge), acoustic_weights=_fit(data, acoustic_ridge, "acoustic"),
                                 info={**info, "acoustic_ridge": acoustic_ridge})


def held_out(data: list[ClipData]) -> dict[str, tuple[float, float, float, float]]:
    """Per clip: (ridge chosen without it, window r of a phone model fitted without it, and the
    same two for the acoustic model)."""
    out = {}
    for d in data:
        model = train([x for x in data if x is not d])
        out[d.clip] = (float(model.info["ridge"]), _score(model.weights, d),
                       float(model.info["acoustic_ridge"]), _score(model.acoustic_weights, d, "acoustic"))
    return out


def model_without(clip: str, media_dir: Path, work: Path = WORK) -> Path:
    """A model file fitted to every training clip except ``clip`` (for the benchmark's held-out
    runs); cached per code version."""
    path = work / f"without_{clip}.{_code_version()}.npz"
    if not path.is_file():
        data = [clip_data(media_dir / "videos" / f"{c}.mp4") for c in TRAIN_CLIPS if c != clip]
        train(data).save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    ap.add_argument("--write", action="store_true", help=f"write {trajectory.DEFAULT_PATH.relative_to(REPO)}")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    runtime.tune_process()
    data = [clip_data(args.media / "videos" / f"{c}.mp4") for c in TRAIN_CLIPS]
    scores = held_out(data)
    print(f"held-out window r ({WINDOW_S:g}-s windows; engine-tracked opening): phone model | acoustic model")
    for clip, (ridge, r, a_ridge, a_r) in scores.items():
        print(f"  {clip:28s} r={r:+.3f} (ridge {ridge:g}) | r={a_r:+.3f} (ridge {a_ridge:g}); ridges chosen without it")
    mean = float(np.nanmean([v[1] for v in scores.values()]))
    a_mean = float(np.nanmean([v[3] for v in scores.values()]))
    print(f"  {'mean over clips':28s} r={mean:+.3f} | r={a_mean:+.3f}")
    model = train(data)
    model.info["held_out_r"] = {clip: round(v[1], 4) for clip, v in scores.items()}
    model.info["held_out_mean_r"] = round(mean, 4)
    model.info["acoustic_held_out_r"] = {clip: round(v[3], 4) for clip, v in scores.items()}
    model.info["acoustic_held_out_mean_r"] = round(a_mean, 4)
    print(f"final model: ridge {model.info['ridge']:g} over {model.info['frames']} frames")
    if args.write:
        print(f"wrote {model.save(trajectory.DEFAULT_PATH)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
