"""Cross-segment evaluation of the motion planner alone (no renderer), through the engine's seams.

For each clip: the first half (its pictures and the sound under them, the very file the rendered
benchmark uses) is analysed with the second half's audio as the driving speech
(``reperform.analyze``) and planned (``reperform.plan``); the planned ``open`` is correlated with
the second half's real measured mouth opening. This is the ceiling the rendered lip-sync
benchmark can reach: a renderer only loses correlation, so the planner should clear the target
with margin.

Two plans per clip: ``r`` with the first half's own speech, exactly as the rendered benchmark
runs the engine — the number the rendered lip-sync can at best reach — and ``r_generic`` for a
picture-only source (the same first half without its sound track: no fitted openings, no lead
fit, a profile without pauses, the opening habit taken from every frame with a face at half
weight). The truth is the benchmark's own measure (``measure.measure_video`` +
``metrics.mouth_opening``, cached per clip), not the engine's tracker, so the two benchmarks
compare the same thing; ``r_engine`` is ``r`` against the engine's own tracked opening of the
real second half (from an analysis of the whole clip), for reference.

Also reported: the best lag of the planned opening against the speech envelope (must be 0 ± 1
frame) and against the real mouth, and the share of pause frames planned at rest.

Run: ``.venv/bin/python -m benchmarks.plan_eval [clip stems...]`` (prints a table).
``--fit-openings`` instead scores the generic viseme openings of ``motion.visemes.VISEME_SHAPES``
fitted by ridge regression through the coarticulation model, leave one speaker out, on every
cross-segment window (``benchmarks.fits.VisemeOpenings`` through ``benchmarks.loco``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import reperform
from reperform import face, media, runtime
from reperform.config import EngineConfig
from reperform.motion.visemes import Viseme
from reperform.options import GenerateOptions, SyncMode
from reperform.records import FaceTrack, Prosody, SpeechTimeline

from . import clips
from .analyses import cached_analysis
from .metrics import best_lag, frame_envelope, pause_closure, pause_frames, pearson, rest_level, silent_runs

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
CACHE_DIR = Path(__file__).resolve().parent / ".work" / "plan_eval"
#: Clips with speech: English ones (phone-accurate path) and one non-English (acoustic path).
CLIPS = (
    "videoretalking_2",
    "videoretalking_4",
    "pcavs_00373",
    "facerecognition_short_hamilton_clip",
    "latentsync_demo1_video",
)


@dataclass(frozen=True, slots=True)
class ClipResult:
    clip: str
    r: float  # planned open vs real open, second half (with the first half's own speech: the benchmark's case)
    r_no_source_speech: float  # same, for a picture-only first half
    r_engine: float  # ``r`` against the engine tracker's opening instead of the benchmark's measure
    r_width: float  # planned vs real mouth width (rounding/spread)
    r_jaw: float  # planned vs real jaw
    lag_env: int  # best lag of planned open vs the speech envelope, frames
    lag_env_generic: int  # the same for the plan without source speech
    lag_real: int  # best lag of planned open vs the real mouth, frames
    pause_rest: float  # share of pause frames planned at rest
    method: str  # speech method of the driving half
    n_frames: int


def _track(path: Path, cache: Path | None) -> tuple[FaceTrack, np.ndarray, float]:
    """Face track of the whole clip (cached). Not used by this module any more (it plans through
    the seams); kept for the window benchmarks (``speech_routes``, ``route_choice``,
    ``route_acoustic``), which cut many source windows out of one track (:func:`window_analysis`)."""
    info = media.probe(path)
    cached = cache / f"{path.stem}.npz" if cache else None
    if cached is not None and cached.is_file():
        z = np.load(cached, allow_pickle=True)  # our own cache; some FaceTrack fields are object arrays
        fields = {f.name: z[f.name] for f in dataclasses.fields(FaceTrack) if f.name not in ("width", "height")}
        return FaceTrack(**fields, width=info.width, height=info.height), z["times"], info.video_start_s
    tracker = face.FaceTracker(info.width, info.height)
    times = []
    for index, t_s, rgb in media.iter_frames(info):
        tracker.update(index, rgb)
        times.append(t_s)
    track = tracker.finish()
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, times=np.asarray(times), **{
            f.name: getattr(track, f.name) for f in dataclasses.fields(FaceTrack) if f.name not in ("width", "height")
        })
    return track, np.asarray(times), info.video_start_s


def _measured_opening(path: Path, cache: Path | None) -> np.ndarray:
    """The benchmark's own mouth opening of every frame (inner-lip gap / IOD, NaN without a face).

    Cached: the independent MediaPipe measure takes about a minute per clip.
    """
    from .measure import measure_video
    from .metrics import mouth_opening

    cached = cache / f"{path.stem}.opening.npy" if cache else None
    if cached is not None and cached.is_file():
        return np.load(cached)
    opening = mouth_opening(measure_video(path).landmarks)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.save(cached, opening)
    return opening


def _slice(track: FaceTrack, idx: np.ndarray) -> FaceTrack:
    return dataclasses.replace(
        track, present=track.present[idx], landmarks=track.landmarks[idx], bbox=track.bbox[idx],
        pose=track.pose[idx], scale=track.scale[idx], mouth=track.mouth[idx],
    )


def window_analysis(path: Path, track: FaceTrack, times: np.ndarray, source: tuple[int, int],
                    source_speech: SpeechTimeline, drive: SpeechTimeline, prosody: Prosody,
                    drive_duration_s: float) -> reperform.Analysis:
    """The :class:`reperform.Analysis` of source frames ``source`` (a half-open range) of ``path``
    cut out as a clip of their own, driven by speech ``drive``: what ``reperform.analyze`` holds —
    the window's face track (from the whole clip's ``track``, ``times``), its own speech
    ``source_speech`` (its audio from the window's first frame) and the profile built from them —
    with the driving speech given instead of analysed, so that a benchmark can force a speech route
    the speech stage would not choose. Another route on the same window is
    ``dataclasses.replace(analysis, speech=..., prosody=...)``. ``reperform.plan`` of it is the
    product's plan (the shipped learned mouth model included); the window's frames are never read
    (it cannot be rendered: no mouth bank)."""
    idx = np.arange(*source)
    window = _slice(track, idx)
    frame_times = times[idx] - times[idx[0]]
    info = media.probe(path)
    fps = float(info.fps)
    info = dataclasses.replace(info, n_frames=len(idx), duration_s=len(idx) / fps, video_start_s=0.0)
    return reperform.Analysis(
        video=path, audio=path, info=info, drive_duration_s=drive_duration_s, text=None,
        frame_times_s=frame_times, track=window, profile=face.build_profile(window, source_speech, frame_times),
        bank=None, speech=drive, prosody=prosody, source_speech=source_speech,  # type: ignore[arg-type]
    )


def window_opening(analysis: reperform.Analysis, max_frames: int, config: EngineConfig | None = None) -> np.ndarray:
    """The planned opening of the output (at most its first ``max_frames`` frames, the target
    window's length): ``reperform.plan`` of ``analysis`` (a :func:`window_analysis`), the source
    looped under the driving speech, with ``config`` (default: the product's)."""
    plan = reperform.plan(analysis, GenerateOptions(sync_mode=SyncMode.loop), config=config)
    return plan.motion.mouth[:max_frames, 0]


def evaluate_clip(path: Path, cache: Path | None = CACHE_DIR) -> ClipResult:
    """The cross-segment experiment on one clip (see the module docstring)."""
    split = clips.split_halves(path)
    analysis = cached_analysis(split.video, split.audio)
    generic = cached_analysis(clips.without_sound(split.video), split.audio)
    whole = cached_analysis(path, path)  # the engine's own track of the real second half
    planned_all = reperform.plan(analysis).motion.mouth
    n_out = len(planned_all)
    planned, generic_open = planned_all[:, 0], reperform.plan(generic).motion.mouth[:n_out, 0]
    half = split.half_frame
    own = whole.track
    real_all = np.full((n_out, 4), np.nan)
    got = np.where(own.present[half:half + n_out, None], own.mouth[half:half + n_out], np.nan)
    real_all[:len(got)] = got
    measured = _measured_opening(path, cache)
    real = np.full(n_out, np.nan)
    got = measured[half:half + n_out]
    real[:len(got)] = got
    drive_audio = media.load_audio(split.audio)
    fps = split.fps
    env = frame_envelope(drive_audio.samples, drive_audio.rate, fps, n_out)
    in_pause = pause_frames(silent_runs(drive_audio.samples, drive_audio.rate), fps, n_out)
    src = analysis.track
    rest = rest_level(np.where(src.present, src.mouth[:, 0], np.nan))  # the plan is in engine units
    return ClipResult(
        clip=path.stem, r=pearson(planned, real), r_no_source_speech=pearson(generic_open, real),
        r_engine=pearson(planned, real_all[:, 0]),
        r_width=pearson(planned_all[:, 1], real_all[:, 1]), r_jaw=pearson(planned_all[:, 3], real_all[:, 3]),
        lag_env=best_lag(planned, env)[0], lag_env_generic=best_lag(generic_open, env)[0],
        lag_real=best_lag(planned, real)[0],
        pause_rest=pause_closure(planned, in_pause, rest)[0], method=analysis.speech.method, n_frames=n_out,
    )


def _print_fit(media_dir: Path) -> None:
    """The viseme-opening fit, scored leave-one-speaker-out (see ``benchmarks.loco``), per window."""
    from .fits import VisemeOpenings, ridge_openings, table_openings
    from .loco import leave_one_speaker_out
    from .suite import SPEECH_CLIPS, Suite

    suite = Suite(media_dir, [], contact=False)
    train, tasks = suite.training_clips(), suite.held_out_tasks(list(SPEECH_CLIPS))
    for fit in (VisemeOpenings(fitted=False), VisemeOpenings(fitted=True)):
        for r in leave_one_speaker_out(fit, train, tasks):
            print(f"{fit.name:34s} {r.label:42s} r={r.r:+.3f} n_eff={r.n_eff:5.0f} trained on {len(r.trained_on)} clips")
    names = [Viseme(v).name for v in range(1, len(table_openings()) + 1)]
    fitted = ridge_openings([c for c in train if c.analysis.speech.phones])
    for name, table, value in zip(names, table_openings(), fitted / fitted.max(), strict=True):
        print(f"{name:14s} table={table:.2f} fitted on every training clip={value:.2f} (in-sample: not a score)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", default=list(CLIPS))
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    ap.add_argument("--fit-openings", action="store_true", help="refit the generic viseme openings")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    runtime.tune_process()  # the engine's process settings: they change float rounding in the speech stage
    if args.fit_openings:
        _print_fit(args.media)
        return 0
    rows = []
    for stem in args.clips:
        res = evaluate_clip(args.media / "videos" / f"{stem}.mp4")
        rows.append(res)
        print(
            f"{res.clip:38s} r={res.r:+.3f} r_generic={res.r_no_source_speech:+.3f} r_engine={res.r_engine:+.3f} "
            f"r_width={res.r_width:+.3f} "
            f"r_jaw={res.r_jaw:+.3f} lag_env={res.lag_env:+d} lag_env_generic={res.lag_env_generic:+d} "
            f"lag_real={res.lag_real:+d} pause_rest={res.pause_rest:.2f} method={res.method} n={res.n_frames}",
            flush=True,
        )
    print(f"{'mean':38s} r={np.nanmean([r.r for r in rows]):+.3f} "
          f"r_generic={np.nanmean([r.r_no_source_speech for r in rows]):+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
