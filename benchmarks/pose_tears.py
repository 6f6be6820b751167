"""Tears under head pose: lips mode on the dev clips with the most head motion, and on stress cases
made from real clips, scored by the issue-14 tear measure and shown as contact sheets of the hardest frames.

    .venv/bin/python benchmarks/pose_tears.py [--cases a,b] [--src PATH] [--tag NAME] [--sheets]

``--src`` renders with another checkout's ``src`` (e.g. a worktree of ``main``) for before/after.

**The score** is :mod:`benchmarks.tears` — the tear measure ``make bench`` reports against the
issue-14 targets (outline step and still points, :func:`benchmarks.tears.tear_frame`, summarised by
:func:`benchmarks.tears.summarise` with :data:`benchmarks.targets.TEAR_STEP_MAX_IOD` and
``TEAR_STILL_MAX_IOD`` in lips mode), so a case here reads on the same scale as a clip there.
This module adds the cases (the dev clips with the most head motion, and real clips turned by a
synthetic head rotation, :func:`build_video`) and the pictures.

**The pictures' red pixels** (:func:`tear_map`) are *unexplained edges*, not a second score: where
the output has an edge that the input, moved the way its own face moved, does not explain (or
lost one it had) — a step in the cheek line, a chin out of line with the neck, and also a seam
where a mouth patch from another moment meets the frame, which the outline measure does not look
for. Per frame:

1. the do-nothing baseline (the input through the same encoder) is warped by the smooth part of the
   dense optical flow from the output to it (blurred over ``FLOW_SIGMA_IOD``): legit jaw and lip
   motion is thereby explained, a discontinuity is not;
2. gradient magnitudes of the output and of the baseline are compared with ``TOLERANCE_PX`` of
   slack: *new* edges (in the output, not near one of the baseline's) and *lost* edges (the reverse);
   an edge is unexplained when it is so against both the baseline as it was (untouched pixels) and
   the warped baseline (pixels moved with the face);
3. only a band matters: along the lower face outline, ear to ear (``OUTLINE_BAND_IOD`` either side),
   and along the edge of what the edit changed — minus the lips, where the mouth interior changes by
   design, and above the nose bridge, which lips mode never edits (x264's own noise lives there).

Reported per case: the tear measure's summary (99th percentiles of outline step and still shifts,
frames over the targets' limits — as given: ``make bench`` raises a clip's limits to what its
do-nothing re-encode itself reads, ``report.tear_limits``, which this module does not measure, so
a small face can read over them on the measure's noise alone) and, beside it, ``edge_px_iod`` — the median over frames of the
unexplained edge length in that band per inter-ocular distance (how much red the sheets show).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import clips  # noqa: E402
from benchmarks import targets as T  # noqa: E402
from benchmarks import tears as TE  # noqa: E402
from benchmarks.measure import iter_rgb, measure_video  # noqa: E402
from reperform import landmarks as L  # noqa: E402

log = logging.getLogger("benchmarks.pose_tears")

WORK = clips.WORK_DIR / "pose"
IMAGES_DIR = REPO_ROOT / "docs" / "images"
NAN_TEAR = TE.TearFrame(float("nan"), float("nan"), float("nan"), 0)

#: Gradient blur (px) before measuring edges: below this, x264's noise.
EDGE_SIGMA_PX = 1.0
#: An edge counts when its strength (grey levels per pixel) exceeds the other image's by this much.
EDGE_LEVELS = 7.0
#: Slack (px) allowed between an output edge and the warped input's: landmark noise.
TOLERANCE_PX = 2
#: Band either side of the lower face outline (inter-ocular units).
OUTLINE_BAND_IOD = 0.15
#: Band either side of the edit's edge (inter-ocular units), and what counts as edited (grey levels).
EDIT_EDGE_BAND_IOD = 0.05
EDITED_LEVELS = 5.0
#: Lips excluded from the bands: the mouth interior changes by design (inter-ocular units of growth).
LIPS_EXCLUDE_IOD = 0.10
#: The compensating motion is smooth on this scale (inter-ocular units): a jaw moves, skin stretches,
#: an outline does not step.
FLOW_SIGMA_IOD = 0.08
#: Unexplained edge length (per IOD) over which a frame's picture shows a seam: a lower face shifted
#: against the outline reads well over it, a smooth jaw motion under it (tests/benchmarks/test_pose_tears.py).
SEAM_FRAME_PX_IOD = 0.25


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    video: str  # relative to the media folder, or "synthetic:<clip>" (built by `build_video`)
    audio: str  # relative to the media folder
    start_s: float = 0.0
    length_s: float | None = None
    turn_deg: float = 0.0  # synthetic head turn: yaw amplitude (pitch takes a third)
    turn_period_s: float = 3.0


CASES = {
    c.name: c
    for c in (
        Case("hamilton", "videos/facerecognition_short_hamilton_clip.mp4", "audio/whisper_jfk.flac"),
        Case("pcavs", "videos/pcavs_00373.mp4", "audio/pcavs_681600002.wav"),
        Case("d13", "videos/liveportrait_d13.mp4", "audio/echomimic_movie_0_clip_0.wav"),
        Case("dfrf", "videos/dfrf_cnn2_25fps.mp4", "audio/sadtalker_RD_Radio36_000.wav", 0.0, 12.0),
        # Stress: the smiling, lip-pursing clip under a synthetic ±30° head turn, driven by speech.
        Case("d13_turned", "videos/liveportrait_d13.mp4", "audio/pcavs_681600002.wav", 4.0, 7.7, 30.0),
        # Stress: a wide-open talking mouth under a ±35° turn, speech with many closures.
        Case("vr2_turned", "videos/videoretalking_2.mp4", "audio/latentsync_demo1_audio.wav", 0.0, None, 35.0, 2.5),
    )
}


def media_dir() -> Path:
    return Path(os.environ.get("REPERFORM_SHARED_MEDIA", REPO_ROOT.parent / "shared" / "media"))


# ------------------------------------------------------------------------------ inputs
def build_video(case: Case, work: Path = WORK) -> Path:
    """The case's source video: the clip trimmed, and turned by a synthetic head rotation if asked.

    The turn uses the engine's own head-mode warp (the 3-D mesh rotated about the neck, a smooth
    field over head, hair and neck): real pixels, a head MediaPipe reads as turned, and the clip's own
    mouth — wide open where the person opened it.
    """
    from reperform import media, pipeline

    out = work / f"{case.name}.src.mp4"
    if out.exists():
        return out
    work.mkdir(parents=True, exist_ok=True)
    src = media_dir() / case.video
    info = media.probe(src)
    fps = float(info.fps)
    first = int(round(case.start_s * fps))
    last = info.n_frames if case.length_s is None else min(info.n_frames, first + int(round(case.length_s * fps)))
    frames = [rgb for i, _t, rgb in media.iter_frames(info) if first <= i < last]
    n = len(frames)
    if case.turn_deg:
        t = np.arange(n) / fps
        delta = np.zeros((n, 3), np.float32)
        delta[:, 0] = case.turn_deg * np.sin(2 * np.pi * t / case.turn_period_s)
        delta[:, 1] = case.turn_deg / 3 * np.sin(2 * np.pi * t / (1.7 * case.turn_period_s))
        turned = pipeline.turn_heads(frames, delta)
        frames = [turned(k) for k in range(n)]
    sound = media.load_audio_for_output(src) if info.has_audio else None
    if sound is not None:
        a = int(round((info.video_start_s + first / fps) * media.audio.OUTPUT_RATE))
        sound = sound[:, a:a + int(round(n / fps * media.audio.OUTPUT_RATE))]
    h, w = frames[0].shape[:2]
    with media.Mp4Writer(out, w, h, info.fps, sound, n) as wr:
        for rgb in frames:
            wr.write(rgb)
    return out


def render_case(case: Case, tag: str, src_path: str | None, work: Path = WORK) -> tuple[Path, Path]:
    """(output, baseline) of lips mode on the case; the output is rendered in a child process so that
    ``src_path`` (another checkout's ``src``) can be the engine."""
    video = build_video(case, work)
    audio = media_dir() / case.audio
    base = work / f"{case.name}.baseline.mp4"
    if not base.exists():
        clips.make_baseline(video, audio, base)
    out = work / f"{case.name}.{tag}.mp4"
    if not out.exists():
        env = dict(os.environ)
        if src_path:
            env["PYTHONPATH"] = src_path
        code = ("import sys, reperform; "
                "reperform.generate(sys.argv[1], sys.argv[2], sys.argv[3], reperform.Options(mode='lips'))")
        subprocess.run([sys.executable, "-c", code, str(video), str(audio), str(out)], check=True, env=env)
    return out, base


# ------------------------------------------------------------------------------ the measure
def _edges(grey: np.ndarray) -> np.ndarray:
    g = cv2.GaussianBlur(grey, (0, 0), EDGE_SIGMA_PX)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    return cv2.magnitude(gx, gy) * 2.0  # levels per pixel (a one-level step reads ~1)


def _lower_outline(lm: np.ndarray) -> np.ndarray:
    return np.asarray(lm, np.float64)[list(L.JAW_LINE), :2]


def compensate(base: np.ndarray, out: np.ndarray, iod: float, box: tuple[int, int, int, int]) -> np.ndarray:
    """The baseline frame warped by the *smooth* part of its motion into the output.

    Dense optical flow (DIS) from output to baseline, blurred over FLOW_SIGMA_IOD: motion of the jaw,
    lips and skin is smooth on that scale and is explained; a step in the outline, or content pasted
    from another moment, is not (the blur cannot follow a discontinuity).
    """
    x0, y0, x1, y1 = box
    g_out = cv2.cvtColor(out[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    g_base = cv2.cvtColor(base[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(g_out, g_base, None)
    sigma = max(1.0, FLOW_SIGMA_IOD * iod)
    flow = cv2.GaussianBlur(flow, (0, 0), sigma)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    moved = base.copy()
    moved[y0:y1, x0:x1] = cv2.remap(base, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
    return moved


def tear_map(base: np.ndarray, out: np.ndarray, lm_base: np.ndarray, lm_out: np.ndarray) -> tuple[float, np.ndarray]:
    """(unexplained edge length per IOD, its pixel mask) of one frame: the sheets' red pixels (see the
    module docstring); not the tear score, which is :func:`benchmarks.tears.tear_frame`'s."""
    h, w = base.shape[:2]
    iod = float(L.interocular(np.asarray(lm_base, np.float64)[:, :2]))
    go = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)
    eo = _edges(go)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * TOLERANCE_PX + 1, 2 * TOLERANCE_PX + 1))
    eo_near = cv2.dilate(eo, k)
    unexplained = None
    # An edge is torn only if neither the input as it was nor the input moved the way the meshes
    # moved explains it: untouched pixels are explained by the first, legit jaw motion by the second.
    pts = np.concatenate([np.asarray(lm_base)[:, :2], np.asarray(lm_out)[:, :2]])
    x0, y0 = np.maximum(np.floor(pts.min(0) - 0.6 * iod), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(pts.max(0) + 0.6 * iod), [w, h]).astype(int)
    for ref in (base, compensate(base, out, iod, (int(x0), int(y0), int(x1), int(y1)))):
        eb = _edges(cv2.cvtColor(ref, cv2.COLOR_RGB2GRAY).astype(np.float32))
        worst = np.maximum(eo - cv2.dilate(eb, k), eb - eo_near)
        unexplained = worst if unexplained is None else np.minimum(unexplained, worst)
    band = np.zeros((h, w), np.uint8)
    thick = max(2, int(round(2 * OUTLINE_BAND_IOD * iod)))
    for lm in (lm_base, lm_out):
        cv2.polylines(band, [np.round(_lower_outline(lm) * 16).astype(np.int32)], False, 1, thick, cv2.LINE_8, 4)
    raw = cv2.cvtColor(base, cv2.COLOR_RGB2GRAY).astype(np.float32)
    edited = (cv2.GaussianBlur(np.abs(go - raw), (0, 0), 1.5) > EDITED_LEVELS).astype(np.uint8)
    r = max(1, int(round(EDIT_EDGE_BAND_IOD * iod)))
    kb = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    band |= cv2.dilate(edited, kb) - cv2.erode(edited, kb)
    lips = np.zeros((h, w), np.uint8)
    for lm in (lm_base, lm_out):
        cv2.fillPoly(lips, [np.round(np.asarray(lm)[list(L.LIPS_OUTER), :2] * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    g = max(1, int(round(LIPS_EXCLUDE_IOD * iod)))
    lips = cv2.dilate(lips, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * g + 1, 2 * g + 1)))
    band &= 1 - lips
    # Lips mode edits below the eyes only: the band ends at the nose bridge (landmark 6).
    band[: int(max(0, min(float(np.asarray(lm_base)[6, 1]), float(np.asarray(lm_out)[6, 1]))))] = 0
    torn = (unexplained > EDGE_LEVELS) & (band > 0)
    return float(torn.sum()) / max(iod, 1.0), torn


@dataclass(slots=True)
class CaseScores:
    name: str
    tears: list[TE.TearFrame]  # per output frame, the issue-14 measure (NaN fields: no face measured)
    edges: np.ndarray  # per output frame, unexplained edge length per IOD (:func:`tear_map`; NaN: no face)
    yaw: np.ndarray  # |yaw| of the input, degrees (relative to the clip's median)
    opening: np.ndarray  # input mouth opening (inter-ocular units)

    @property
    def scores(self) -> np.ndarray:
        """Per frame: the outline step (IOD), the tear measure's per-frame score."""
        return np.array([f.step_iod for f in self.tears], float)

    def summary(self) -> dict[str, float]:
        t = TE.summarise(self.tears, T.TEAR_STEP_MAX_IOD, T.TEAR_STILL_MAX_IOD)
        e = self.edges[np.isfinite(self.edges)]
        return {"frames": t.frames, "step_p99": t.step_p99, "still_outline_p99": t.still_outline_p99,
                "still_eyes_p99": t.still_eyes_p99, "frames_torn": t.frames_torn,
                "edge_px_iod": float(np.median(e)) if e.size else float("nan")}


def landmarks_of(video: Path) -> np.ndarray:
    """``measure_video`` landmarks, cached beside the video (keyed by its modification time)."""
    cache = video.with_suffix(f".lm{int(video.stat().st_mtime)}.npy")
    if cache.exists():
        return np.load(cache)
    lm = measure_video(video).landmarks
    np.save(cache, lm)
    return lm


def score_case(out: Path, base: Path) -> tuple[CaseScores, list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Per-frame tear measures and unexplained edges, plus the frames and edge masks (for the contact sheet)."""
    from benchmarks.metrics import head_pose_deg

    lo = landmarks_of(out)
    lb = landmarks_of(base)
    outs, bases, masks = [], [], []
    n = min(len(lo), len(lb))
    edges = np.full(n, np.nan)
    frames: list[TE.TearFrame] = []
    for k, (fo, fb) in enumerate(zip(iter_rgb(out), iter_rgb(base), strict=False)):
        if k >= n:
            break
        outs.append(fo)
        bases.append(fb)
        frames.append(TE.tear_frame(fb, fo, lb[k], "lips") if np.isfinite(lb[k, 0, 0]) else NAN_TEAR)
        if np.isfinite(lo[k, 0, 0]) and np.isfinite(lb[k, 0, 0]):
            edges[k], m = tear_map(fb, fo, lb[k], lo[k])
        else:
            m = np.zeros(fo.shape[:2], bool)
        masks.append(m)
    ok = np.isfinite(lb[:n, 0, 0])
    yaw = np.full(n, np.nan)
    opening = np.full(n, np.nan)
    if ok.any():
        pose = head_pose_deg(lb[:n][ok])
        yaw[ok] = np.abs(pose[:, 0] - np.median(pose[:, 0]))
        opening[ok] = L.mouth_params(lb[:n][ok])[:, 0]
    return CaseScores(out.stem, frames, edges, yaw, opening), outs, bases, masks


# ------------------------------------------------------------------------------ contact sheets
SHEET_CROP_PX = 300


#: Rows per sheet: (label, how many). Four rows keep a sheet under 1300 px tall, viewable at 1x.
SHEET_ROWS = (("turn", 1), ("open", 1), ("tear", 2))


def hardest_frames(sc: CaseScores, rows: tuple[tuple[str, int], ...] = SHEET_ROWS) -> list[tuple[int, str]]:
    """Frames with the largest head turn, the widest source mouth, the largest outline step."""
    picked: list[tuple[int, str]] = []
    values_of = {"turn": sc.yaw, "open": sc.opening, "tear": sc.scores}
    for label, n_each in rows:
        v = np.where(np.isfinite(values_of[label]), values_of[label], -np.inf)
        for k in np.argsort(-v):
            if len([p for p in picked if p[1] == label]) >= n_each or not np.isfinite(v[k]):
                break
            if all(abs(int(k) - p[0]) > 5 for p in picked):
                picked.append((int(k), label))
    return picked


def _crop(rgb: np.ndarray, lm: np.ndarray) -> tuple[int, int, int, int]:
    pts = np.asarray(lm, np.float64)[:, :2]
    iod = float(L.interocular(pts))
    lower = pts[list(L.JAW_LINE) + [L.NOSE_TIP]]
    cx, cy = lower.mean(0)
    half = max(np.ptp(lower[:, 0]), np.ptp(lower[:, 1])) / 2 + 0.45 * iod
    h, w = rgb.shape[:2]
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    return x0, y0, int(min(w, cx + half)), int(min(h, cy + half))


def contact_sheet(path: Path, rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """Rows of (label, input, output, edge mask, landmarks): input | output | output with unexplained edges red.

    Crops around the lower face incl. ears/neck, scaled to SHEET_CROP_PX (nearest-neighbour when
    enlarging, so what shows is the real pixels).
    """
    tiles = []
    for label, fb, fo, mask, lm in rows:
        x0, y0, x1, y1 = _crop(fb, lm)
        s = SHEET_CROP_PX / max(x1 - x0, y1 - y0)
        interp = cv2.INTER_NEAREST if s > 1 else cv2.INTER_AREA
        size = (max(1, int(round((x1 - x0) * s))), max(1, int(round((y1 - y0) * s))))
        a = cv2.resize(fb[y0:y1, x0:x1], size, interpolation=interp)
        b = cv2.resize(fo[y0:y1, x0:x1], size, interpolation=interp)
        c = b.copy()
        m = cv2.resize(mask[y0:y1, x0:x1].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        c[m] = (255, 0, 0)
        row = np.full((SHEET_CROP_PX + 18, 3 * SHEET_CROP_PX + 8, 3), 255, np.uint8)
        for j, t in enumerate((a, b, c)):
            row[18:18 + t.shape[0], j * (SHEET_CROP_PX + 4):j * (SHEET_CROP_PX + 4) + t.shape[1]] = t
        cv2.putText(row, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(row)
    sheet = np.concatenate(tiles, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def compare_sheet(name: str, tags: tuple[str, str], out_dir: Path, prefix: str, work: Path = WORK) -> Path:
    """Contact sheet input | tags[0] | tags[1] of the case's hardest frames: the largest head turn and
    the widest source mouth of the input, and the frames ``tags[0]`` tore worst and ``tags[1]`` tore
    worst. Both outputs must exist (``render_case``)."""
    base = work / f"{name}.baseline.mp4"
    a, b = (work / f"{name}.{t}.mp4" for t in tags)
    sa, _, bases, _ = score_case(a, base)
    sb, outs_b, _, _ = score_case(b, base)
    outs_a = list(iter_rgb(a))
    lb = landmarks_of(base)
    picked: list[tuple[int, str]] = []
    for label, values in (("turn", sa.yaw), ("open", sa.opening), (f"worst {tags[0]}", sa.scores),
                          (f"worst {tags[1]}", sb.scores)):
        v = np.where(np.isfinite(values), values, -np.inf)
        for k in np.argsort(-v):
            if not np.isfinite(v[k]):
                break
            if all(abs(int(k) - p[0]) > 5 for p in picked):
                picked.append((int(k), label))
                break
    tiles = []
    for k, label in picked:
        x0, y0, x1, y1 = _crop(bases[k], lb[k])
        sc = SHEET_CROP_PX / max(x1 - x0, y1 - y0)
        interp = cv2.INTER_NEAREST if sc > 1 else cv2.INTER_AREA
        size = (max(1, int(round((x1 - x0) * sc))), max(1, int(round((y1 - y0) * sc))))
        row = np.full((SHEET_CROP_PX + 18, 3 * SHEET_CROP_PX + 8, 3), 255, np.uint8)
        for j, img in enumerate((bases[k], outs_a[k], outs_b[k])):
            t = cv2.resize(img[y0:y1, x0:x1], size, interpolation=interp)
            row[18:18 + t.shape[0], j * (SHEET_CROP_PX + 4):j * (SHEET_CROP_PX + 4) + t.shape[1]] = t
        text = (f"{name} frame {k} ({label}; yaw {sa.yaw[k]:.0f} deg, source open {sa.opening[k]:.2f}): input | "
                f"{tags[0]} step {sa.scores[k]:.3f} | {tags[1]} step {sb.scores[k]:.3f}")
        cv2.putText(row, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(row)
    path = out_dir / f"{prefix}_{name}.png"
    out_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(tiles, 0), cv2.COLOR_RGB2BGR))
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--src", default=None, help="render with this checkout's src (PYTHONPATH)")
    p.add_argument("--tag", default="current")
    p.add_argument("--sheets", default=None, help="write contact sheets to this folder (e.g. docs/images)")
    p.add_argument("--sheet-prefix", default="render_pose")
    p.add_argument("--json", default=None)
    p.add_argument("--compare", default=None, help="TAG_A,TAG_B: only write input | A | B sheets to --sheets")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if a.compare:
        ta, tb = a.compare.split(",")
        for name in a.cases.split(","):
            print(compare_sheet(name, (ta, tb), Path(a.sheets or IMAGES_DIR), a.sheet_prefix), flush=True)
        return 0
    results = {}
    for name in a.cases.split(","):
        case = CASES[name]
        out, base = render_case(case, a.tag, a.src)
        sc, outs, bases, masks = score_case(out, base)
        results[name] = sc.summary()
        print(f"{name:12s} {a.tag:10s} " + " ".join(f"{k}={v:.3g}" for k, v in results[name].items()), flush=True)
        if a.sheets:
            lb = landmarks_of(base)
            rows = []
            for k, label in hardest_frames(sc):
                rows.append((f"{name} frame {k} ({label}: yaw {sc.yaw[k]:.0f} deg, open {sc.opening[k]:.2f}, "
                             f"step {sc.scores[k]:.3f}) input | {a.tag} | unexplained edges", bases[k], outs[k], masks[k], lb[k]))
            contact_sheet(Path(a.sheets) / f"{a.sheet_prefix}_{name}_{a.tag}.png", rows)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
