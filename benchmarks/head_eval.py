"""Head mode, measured on the output: does the head move, by how much, and with the speech?

For each clip the engine runs in ``head`` and in ``lips`` mode, driven by the clip's own audio
(``cut_off``, so output frame k shows source frame k). MediaPipe (``benchmarks.measure``, the
engine-independent measurer) reads the mesh of every input frame, and the pose *change* of output
frame k is read from the pixels: the reference frame's rigid upper-face points are followed into
output frame k by optical flow and a rotation is fitted to them
(:func:`benchmarks.metrics.tracked_pose_change`, the same measure as the report's). The output's
own mesh is not used for pose: MediaPipe refits the whole mesh when the mouth changes, so a mesh
fit reads ~1° of "pose" on lips-mode outputs whose upper face did not move. Angles are
(yaw, pitch, roll) in degrees, the plan's order. Reported:

- ``head_std_deg``: std of that change in head mode (per axis, and the total = √Σvar); target 1.5–6°;
- ``head_vs_lips_std_deg``: the change from the lips-mode output to the head-mode output (same
  rendered mouth, so the mouth edit's own effect on the measured pose drops out); the
  correlations below use this change;
- ``planned_std_deg``: the same for the plan (``MotionPlan.head_delta``), and ``r_plan``, the
  correlation of measured with planned change (pooled over axes): the warp realises the plan;
- ``r_energy``: correlation of the head's angular speed (measured, smoothed over ~0.3 s) with the
  speech envelope smoothed the same way: the head moves while the voice is loud, rests in pauses;
- ``r_accent``: correlation of the measured pitch change with the accents (a 0.3 s pulse per
  accent, scaled by strength): nods land on stressed syllables;
- ``lips_mean_change_deg``: mean rotation angle of the pose change in lips mode after a 5-frame
  running median (target ≤ 0.5°), beside ``reencode_mean_change_deg``, the same for a plain
  re-encode of the input (the measure's noise floor);
- ``warp_ms_720p``: the warp's own cost per frame at 720p (``reperform.pipeline.turn_heads``), and the
  decode+encode floor per frame on the same machine for scale.

Each clip is analysed once (``reperform.analyze``); head and lips mode are planned and rendered
from that analysis (``reperform.plan`` / ``reperform.render``), and the head-mode plan is the one
``reperform.plan`` returned — the bytes are those ``reperform.generate`` writes.

Run: ``.venv/bin/python -m benchmarks.head_eval [clip stems...]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

import reperform
from reperform import media, pipeline
from reperform.options import GenerateOptions, ModelMode
from reperform.records import MotionPlan

from .clips import _letterbox
from .measure import measure_video
from .metrics import frame_envelope, pearson, tracked_pose_change
from .quality import _smooth

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
WORK_DIR = Path(__file__).resolve().parent / ".work" / "head_eval"
CLIPS = ("videoretalking_2", "videoretalking_4", "pcavs_00373")
#: Smoothing (s) of angular speed and envelope before correlating: a gesture, not a frame.
SMOOTH_S = 0.3
#: Accent pulse length (s) for r_accent (the planned nod's length).
ACCENT_PULSE_S = 0.3


def media_dir() -> Path:
    import os

    return Path(os.environ.get("REPERFORM_SHARED_MEDIA", REPO.parent / "shared" / "media"))


def _generate(analysis: reperform.Analysis, out: Path, mode: ModelMode, temperature: float) -> tuple[Path, MotionPlan]:
    """Plan and render one mode from the clip's analysis; the plan comes back for comparison."""
    plan = reperform.plan(analysis, GenerateOptions(mode=mode, temperature=temperature))
    reperform.render(analysis, plan, out)
    return out, plan.motion


def pose_change(ref_video: Path, out_video: Path, ref_lm: np.ndarray) -> np.ndarray:
    """[n, 3] rotation (yaw, pitch, roll deg) from reference frame k to output frame k, read from the
    pixels of the reference's upper-face points; NaN where the reference has no face or tracking fails."""
    n = len(ref_lm)
    res = np.full((n, 3), np.nan)
    for k, (a, b) in enumerate(zip(_frames(ref_video), _frames(out_video), strict=False)):
        if k >= n:
            break
        if np.isfinite(ref_lm[k, 0, 0]):
            rv = tracked_pose_change(a, b, ref_lm[k])
            res[k] = rv[[1, 0, 2]]  # rotation vector (x ≈ pitch, y ≈ yaw, z ≈ roll) → yaw, pitch, roll
    return res


def _accent_train(accents: tuple[tuple[float, float], ...], n: int, fps: float) -> np.ndarray:
    t = np.arange(n) / fps
    train = np.zeros(n)
    for at, strength in accents:
        u = (t - at) / ACCENT_PULSE_S + 0.5
        train += strength * np.where((u > 0) & (u < 1), np.sin(np.pi * np.clip(u, 0, 1)) ** 2, 0.0)
    return train


def _reencode(video: Path, out: Path) -> Path:
    """The input decoded and written again with the engine's writer: the do-nothing output."""
    info = media.probe(video)
    frames = [rgb for _i, _t, rgb in media.iter_frames(info)]
    with media.Mp4Writer(out, frames[0].shape[1], frames[0].shape[0], info.fps, None, len(frames)) as w:
        for f in frames:
            w.write(f)
    return out


def warp_speed_720p(video: Path, n_frames: int = 40) -> dict[str, float]:
    """Per-frame cost (ms) of the warp on the clip's frames letterboxed to 1280x720, with random deltas."""
    info = media.probe(video)
    frames = []
    for i, _t, rgb in media.iter_frames(info):
        if i >= n_frames:
            break
        frames.append(_letterbox(rgb, 720))
    n = len(frames)
    deltas = np.random.default_rng(0).normal(0, 2.0, (n, 3)).astype(np.float32)
    turned = pipeline.turn_heads(frames, deltas)
    turned(0)
    times = []
    for k in range(n):
        t0 = time.perf_counter()
        turned(k)
        times.append(time.perf_counter() - t0)
    # The floor's per-frame cost on this machine, for scale: decode + encode of the same frames.
    out = WORK_DIR / "floor720.mp4"
    t0 = time.perf_counter()
    with media.Mp4Writer(out, frames[0].shape[1], frames[0].shape[0], info.fps, None, n) as w:
        for f in frames:
            w.write(f)
    encode_ms = (time.perf_counter() - t0) / n * 1000
    return {"warp_ms_720p_min": float(np.min(times) * 1000), "warp_ms_720p_median": float(np.median(times) * 1000),
            "encode_ms_720p": encode_ms}


def evaluate_clip(clip: str, temperature: float = 0.5) -> dict[str, object]:
    """Head and lips runs of one clip, measured (see the module docstring)."""
    video = media_dir() / "videos" / f"{clip}.mp4"
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    analysis = reperform.analyze(video, video)  # one analysis, both modes
    head_out, plan = _generate(analysis, WORK_DIR / f"{clip}.head.mp4", ModelMode.head, temperature)
    np.save(WORK_DIR / f"{clip}.head_delta.npy", plan.head_delta)
    lips_out, _ = _generate(analysis, WORK_DIR / f"{clip}.lips.mp4", ModelMode.lips, temperature)
    reencoded = WORK_DIR / f"{clip}.reencode.mp4"
    _reencode(video, reencoded)
    inp_faces = measure_video(video)
    inp, fps = inp_faces.landmarks, inp_faces.fps
    lips_lm = measure_video(lips_out).landmarks
    d_head = pose_change(video, head_out, inp)
    d_lips = pose_change(video, lips_out, inp)
    d_noise = pose_change(video, reencoded, inp)
    # Head output against lips output: both carry the same rendered mouth and expression, so this
    # isolates the head warp.
    d_iso = pose_change(lips_out, head_out, lips_lm)
    n = min(len(d_head), len(d_iso))
    d_head, d_iso = d_head[:n], d_iso[:n]
    ok = np.isfinite(d_iso[:, 0])
    planned = plan.head_delta[:n].astype(np.float64)

    audio = media.load_audio(video)
    env = frame_envelope(audio.samples, audio.rate, fps, n)
    sigma = SMOOTH_S * fps
    filled = np.where(ok[:, None], d_iso, 0.0)
    speed = np.linalg.norm(np.gradient(filled, axis=0), axis=1)
    speed[~ok] = np.nan
    accents = _accent_train(analysis.prosody.accents, n, fps)

    def total(std: np.ndarray) -> float:
        return float(np.sqrt(np.sum(np.square(std))))

    head_std = np.nanstd(d_head, axis=0)
    iso_std = np.nanstd(d_iso, axis=0)
    plan_std = planned.std(axis=0)
    return {
        "clip": clip,
        "frames": int(n),
        "measured_frames": int(ok.sum()),
        "head_std_deg": [round(float(v), 2) for v in head_std] + [round(total(head_std), 2)],
        "head_vs_lips_std_deg": [round(float(v), 2) for v in iso_std] + [round(total(iso_std), 2)],
        "planned_std_deg": [round(float(v), 2) for v in plan_std] + [round(total(plan_std), 2)],
        "r_plan": round(pearson(d_iso[ok].ravel(), planned[ok].ravel()), 3),
        "r_energy": round(pearson(gaussian_filter1d(np.nan_to_num(speed), sigma), gaussian_filter1d(env, sigma)), 3),
        "r_energy_planned": round(pearson(
            gaussian_filter1d(np.linalg.norm(np.gradient(planned, axis=0), axis=1), sigma), gaussian_filter1d(env, sigma)
        ), 3),
        "r_accent": round(pearson(d_iso[ok, 1], accents[ok]), 3),
        "r_accent_planned": round(pearson(planned[:, 1], accents), 3),
        "accents": len(analysis.prosody.accents),
        "lips_mean_change_deg": round(float(np.nanmean(np.linalg.norm(_smooth(d_lips), axis=1))), 3),
        "reencode_mean_change_deg": round(float(np.nanmean(np.linalg.norm(_smooth(d_noise), axis=1))), 3),
        "head_mean_change_deg": round(float(np.nanmean(np.linalg.norm(d_head, axis=1))), 3),
    }


def run(clips: tuple[str, ...] = CLIPS, temperature: float = 0.5, speed: bool = True) -> dict[str, object]:
    """Every clip's numbers plus the warp's speed at 720p."""
    results = [evaluate_clip(c, temperature) for c in clips]
    out: dict[str, object] = {"temperature": temperature, "clips": results}
    if speed:
        out["speed"] = warp_speed_720p(media_dir() / "videos" / "videoretalking_4.mp4")
    return out


def contact_sheet(clip: str, out_png: Path, n: int = 4, width_px: int = 360) -> Path:
    """Input over head-mode output for ``n`` frames with large planned deltas (reuses a run's output)."""
    head_out = WORK_DIR / f"{clip}.head.mp4"
    video = media_dir() / "videos" / f"{clip}.mp4"
    saved = WORK_DIR / f"{clip}.head_delta.npy"
    if head_out.is_file() and saved.is_file():
        delta = np.load(saved)
    else:
        _out, plan = _generate(reperform.analyze(video, video), head_out, ModelMode.head, 0.5)
        delta = plan.head_delta
    mag = np.linalg.norm(delta, axis=1)
    picks: list[int] = []
    for i in np.argsort(-mag):  # largest deltas first, at least half a second apart
        if all(abs(int(i) - p) >= 12 for p in picks):
            picks.append(int(i))
        if len(picks) == n:
            break
    picks.sort()
    src = [f for i, f in enumerate(_frames(video)) if i in picks]
    dst = [f for i, f in enumerate(_frames(head_out)) if i in picks]

    def tile(f: np.ndarray, label: str) -> np.ndarray:
        h = int(round(f.shape[0] * width_px / f.shape[1]))
        t = cv2.resize(f, (width_px, h), interpolation=cv2.INTER_AREA)
        cv2.putText(t, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 0), 1, cv2.LINE_AA)
        return t

    rows = [
        np.hstack([tile(f, f"input {i}") for f, i in zip(src, picks, strict=True)]),
        np.hstack([tile(f, "head " + ", ".join(f"{v:+.1f}" for v in delta[i]))
                   for f, i in zip(dst, picks, strict=True)]),
    ]
    cv2.imwrite(str(out_png), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    return out_png


def _frames(path: Path):  # noqa: ANN202 - generator of RGB frames
    from .measure import iter_rgb

    yield from iter_rgb(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clips", nargs="*", default=list(CLIPS))
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--sheet", type=Path, help="write a contact sheet of the first clip here instead")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.sheet:
        print(contact_sheet(args.clips[0], args.sheet))
        return
    print(json.dumps(run(tuple(args.clips), args.temperature, not args.no_speed), indent=1))


if __name__ == "__main__":
    main()
