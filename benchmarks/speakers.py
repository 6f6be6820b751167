"""Speakers: how often auto speaker detection edits the person who really speaks, and what following
every face costs.

Two measurements for docs/benchmarks.md ("Speakers"):

1. **Pick accuracy.** Two-person videos made from the real talking clips
   (:mod:`benchmarks.composites`): two people on screen, both talking, the sound of only one of
   them. Each *span* has one true speaker (whose own sound is heard); spans follow each other with
   a cut (people may swap places) or without one (a turn: the other person's sound takes over in
   the same shot). Per span: the share of frames whose edited face is the true speaker's, for
   auto and for what the engine does without sound (the most prominent face per shot).
2. **Cost.** Milliseconds per frame of following every face (detector every 5 frames, a mesh per
   face per frame on two lanes, a few dlib descriptors per face run) against following one face
   (the default tracker, also on two lanes), on the same decoded frames (decoding excluded), one
   run each on a shared machine.

    python -m benchmarks.speakers   # writes benchmarks/sections/speakers.md (run.py includes it), ~3 min
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reperform import face, media, runtime
from reperform.options import ActiveSpeaker

from . import composites as C
from . import sections
from . import speakers_loco as L
from .report import table

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
Shot = C.Shot

#: name → (layout, spans). Spans without a cut between them continue both clips where they were.
CASES: dict[str, tuple[str, list[Shot]]] = {
    "vr2 beside vr4, heard vr2": ("h", [Shot(((C.VR2, 0.0), (C.VR4, 0.0)), 0, 4.0)]),
    "vr2 beside vr4, heard vr4": ("h", [Shot(((C.VR2, 0.0), (C.VR4, 0.0)), 1, 4.0)]),
    "vr4 above vr2, heard vr2": ("v", [Shot(((C.VR4, 0.0), (C.VR2, 0.0)), 1, 4.0)]),
    "pcavs beside vr2, heard pcavs": ("h", [Shot(((C.PCAVS, 0.0), (C.VR2, 0.0)), 0, 5.0)]),
    "vr4 beside pcavs, heard pcavs": ("h", [Shot(((C.VR4, 0.0), (C.PCAVS, 0.0)), 1, 5.0)]),
    "vr2 beside vr4, turn at 2.5 s (no cut)": ("h", [Shot(((C.VR2, 0.0), (C.VR4, 0.0)), 0, 2.5),
                                                Shot(((C.VR2, 2.5), (C.VR4, 2.5)), 1, 2.5)]),
    "dfrf beside german, 6 spans: cuts that swap, turns": ("h", [
        Shot(((C.DFRF, 10.0), (C.GERMAN, 0.0)), 0, 3.0),
        Shot(((C.DFRF, 13.0), (C.GERMAN, 3.0)), 1, 3.0),  # turn, no cut
        Shot(((C.GERMAN, 6.0), (C.DFRF, 16.0)), 1, 3.0),  # cut, swapped places
        Shot(((C.GERMAN, 9.0), (C.DFRF, 19.0)), 0, 3.0),  # turn
        Shot(((C.DFRF, 30.0), (C.GERMAN, 12.0)), 0, 3.0),  # cut, swapped back
        Shot(((C.DFRF, 33.0), (C.GERMAN, 15.0)), 1, 3.0),  # turn
    ]),
    # Added for the leave-one-case-out check: other pairings and other times of the long clips.
    "dfrf (45 s) above german (4 s), turn at 3 s (no cut)": ("v", [
        Shot(((C.DFRF, 45.0), (C.GERMAN, 4.0)), 1, 3.0),
        Shot(((C.DFRF, 48.0), (C.GERMAN, 7.0)), 0, 3.0),
    ]),
    "vr4 beside dfrf (55 s), heard dfrf": ("h", [Shot(((C.VR4, 0.0), (C.DFRF, 55.0)), 1, 4.0)]),
}


@dataclass
class SpanResult:
    case: str
    span: int
    frames: int
    auto: float  # share of the span's frames with the true speaker edited
    prominent: float  # the same for the most prominent face


@dataclass
class CostResult:
    clip: str
    faces: int
    frames: int
    one_face_ms: float
    all_faces_ms: float


def _decoded(path: Path) -> tuple[media.MediaInfo, list[np.ndarray], np.ndarray]:
    info = media.probe(path)
    pics, times = [], []
    for _i, t_s, rgb in media.iter_frames(info):
        pics.append(rgb)
        times.append(t_s)
    return info, pics, np.asarray(times) + info.video_start_s


def _follow_all(info: media.MediaInfo, pics: list[np.ndarray]) -> tuple[face.AllFaces, float]:
    faces = face.AllFaces(info.width, info.height)
    t0 = time.perf_counter()
    for i, rgb in enumerate(pics):
        faces.update(i, rgb)
    elapsed = time.perf_counter() - t0
    faces.close()
    return faces, elapsed


def _follow_one(info: media.MediaInfo, pics: list[np.ndarray]) -> float:
    tracker = face.FaceTracker(info.width, info.height)
    t0 = time.perf_counter()
    for _ in tracker.follow(enumerate(pics)):  # as the default video pass does (two mesh lanes)
        pass
    elapsed = time.perf_counter() - t0
    tracker.finish()
    return elapsed


def _hits(clip: C.Composite, selection: face.Selection) -> np.ndarray:
    hits = np.zeros(len(selection.landmarks), bool)
    for i, lm in enumerate(selection.landmarks):
        if lm is not None:
            x0, y0, x1, y1 = clip.speaker_rect(i)
            x, y = float(lm[:, 0].mean()), float(lm[:, 1].mean())
            hits[i] = x0 <= x < x1 and y0 <= y < y1
    return hits


def measure(media_dir: Path, work: Path) -> tuple[list[SpanResult], list[CostResult], list[L.Fold]]:
    spans: list[SpanResult] = []
    costs: list[CostResult] = []
    right: dict[str, dict[L.Point, int]] = {}  # frames right per case per grid point
    n_frames: dict[str, int] = {}
    for n, (case, (layout, shots)) in enumerate(CASES.items()):
        clip = C.build(work / f"case{n}.mp4", media_dir / "videos", shots, layout)
        info, pics, times = _decoded(clip.path)
        faces, t_all = _follow_all(info, pics)
        t_one = _follow_one(info, pics)
        _runs, run_at = faces.faces()
        costs.append(CostResult(case, len(run_at), len(pics), 1000 * t_one / len(pics), 1000 * t_all / len(pics)))
        sound = media.load_audio(clip.path)
        auto = _hits(clip, faces.select(ActiveSpeaker(auto_detect=True), times, sound))
        right[case], n_frames[case] = {}, len(pics)
        for point in L.points():  # the faces are followed once; only the selection reruns
            with L.constants(point):
                right[case][point] = int(_hits(clip, faces.select(ActiveSpeaker(auto_detect=True), times,
                                                                  sound)).sum())
        prominent = _hits(clip, faces.select(ActiveSpeaker(auto_detect=True), times, None))
        for s, start in enumerate(clip.starts):
            stop = clip.starts[s + 1] if s + 1 < len(clip.starts) else len(pics)
            spans.append(SpanResult(case, s, stop - start, float(auto[start:stop].mean()),
                                    float(prominent[start:stop].mean())))
        log.info("%s: auto %.2f", case, auto.mean())
    info, pics, _times = _decoded(media_dir / "videos" / "videoretalking_2.mp4")
    faces, t_all = _follow_all(info, pics)
    costs.append(CostResult("videoretalking_2 (one person)", len(faces.faces()[1]), len(pics),
                            1000 * _follow_one(info, pics) / len(pics), 1000 * t_all / len(pics)))
    return spans, costs, L.leave_one_case_out(right, n_frames, L.shipped())


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


WHY = """\
Auto speaker detection edits, in each stretch of a shot, the person whose mouth follows the
video's own sound (engine: `reperform/face/speakers.py`). The videos below put two real talking
clips side by side or one above the other, both people talking, with the sound of one: that
person is the true speaker of the span (clips: vr2/vr4 videoretalking_2/4, pcavs pcavs_00373,
dfrf dfrf_cnn2_25fps, german mimictalk_German_20s). The shipped auto constants (window 3 s, switch
cost 6) were set on the first seven videos: the span table is in-sample; the leave-one-case-out
table below is the held-out check. "Most prominent" is what the engine edits when
the video has no sound of its own (the largest, most central face per shot): the do-nothing
baseline. Frames are pooled per span; the summary pools every frame."""


LOCO = """\
The faces of each video are followed once; the auto selection is then rerun at every point of a
small grid ({grid}; shipped: {shipped}). Each video in turn is held out: the grid point with the
most frames right on the other videos (ties: the shipped point) is chosen and scores the held-out
video. "In-sample" is the shipped constants on the same video (they were chosen looking at the
first seven videos; the last two were added for this check)."""


TITLE = "Speakers (issue 17)"


def section(media_dir: Path) -> str:
    """The body of the "Speakers" section of docs/benchmarks.md (markdown, without its heading)."""
    runtime.tune_process()
    with tempfile.TemporaryDirectory(prefix="speakers-") as tmp:
        spans, costs, folds = measure(media_dir, Path(tmp))
    frames = np.array([s.frames for s in spans])
    auto = float(np.average([s.auto for s in spans], weights=frames))
    prom = float(np.average([s.prominent for s in spans], weights=frames))
    right_spans = sum(s.auto >= 0.5 for s in spans)
    fw = np.array([f.frames for f in folds])
    held, ins = (float(np.average([getattr(f, k) for f in folds], weights=fw)) for k in ("held_out", "in_sample"))
    held_mean, ins_mean = (float(np.mean([getattr(f, k) for f in folds])) for k in ("held_out", "in_sample"))
    fold_rows = [[f.case, str(f.frames), _pct(f.in_sample), _pct(f.held_out), ", ".join(f"{v:g}" for v in f.chosen)]
                 for f in folds]
    rows = [[s.case, str(s.span + 1), str(s.frames), _pct(s.auto), _pct(s.prominent)] for s in spans]
    cost_rows = [[c.clip, str(c.faces), str(c.frames), f"{c.one_face_ms:.1f}", f"{c.all_faces_ms:.1f}",
                  f"{c.all_faces_ms / c.one_face_ms:.1f}x"] for c in costs]
    return "\n".join([
        WHY, "",
        f"**Auto picks the true speaker in {_pct(auto)} of {int(frames.sum())} frames** "
        f"(most prominent face: {_pct(prom)}); the majority of frames is right in {right_spans} of "
        f"{len(spans)} spans.", "",
        table(["video", "span", "frames", "auto", "most prominent"], rows), "",
        "### Held out: leave one case out", "",
        LOCO.format(grid="; ".join(f"{k} {', '.join(f'{v:g}' for v in vs)}" for k, vs in L.GRID.items()),
                    shipped=", ".join(f"{v:g}" for v in L.shipped())), "",
        f"**Held out: {_pct(held)} of frames right** (mean over cases {_pct(held_mean)}); in-sample with the "
        f"shipped constants {_pct(ins)} (mean over cases {_pct(ins_mean)}).", "",
        table(["video (held out)", "frames", "in-sample (shipped)", "held out",
               "chosen on the others (" + ", ".join(L.GRID) + ")"], fold_rows), "",
        "### Cost of following every face", "",
        "Milliseconds per frame on the same decoded frames (decoding excluded), one run each, "
        "on the shared 2-core machine. The speaker pass then reads the frames a second time to "
        "fill the chosen face's mouth bank (from the frame store when the clip fits it).", "",
        table(["video", "people", "frames", "one face (default) ms/frame", "every face ms/frame", "ratio"],
              cost_rows), "",
    ])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    path = sections.write("speakers", TITLE, section(args.media), argv=["python", "-m", "benchmarks.speakers",
                                                                       *(argv or [])])
    print(path.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
