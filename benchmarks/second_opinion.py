"""Cross-segment lip-sync read by a second measurer: dlib's 68 points, the independent judge's kind.

`make bench` scores cross-segment lip-sync with MediaPipe's mesh — the same model the engine tracks
faces with, so a renderer tuned against it could please it and no one else. The independent judge
of issue 14 measured mouth opening with dlib's 68-point model (:mod:`benchmarks.dlib_mouth`) and
read 0.51–0.53 on the dev clips where the bench read 0.55. This module re-reads the windows the last
cross-segment run left in ``benchmarks/.work`` — every window's real target (the truth) and each
mode's output — with dlib, and reports per clip and the mean over clips with both intervals, beside
MediaPipe's reading of the very same frames (those where both measurers found the face), so the two
can be compared frame for frame.

    .venv/bin/python -m benchmarks.second_opinion [--clips a,b] [--modes lips]

`benchmarks/run.py` calls :func:`write_section` after its cross-segment step; run alone, it writes
``benchmarks/sections/second_opinion.md`` from whatever outputs the last run left.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import catalog, clips, metrics, sections
from benchmarks.dlib_mouth import DlibMouthMeter
from benchmarks.measure import iter_rgb, measure_frames, measure_video
from benchmarks.report import f, mean_text, table

log = logging.getLogger(__name__)

MEASURERS = ("MediaPipe", "dlib")


@dataclass(frozen=True, slots=True)
class WindowReading:
    clip: str
    window: str
    mode: str
    frames: int  # frames where both measurers found the face in truth and output
    r: dict[str, float]
    ci: dict[str, tuple[float, float]]
    neff: dict[str, float]


def _truth(clip_path: Path, w: clips.Window, n: int, meter: DlibMouthMeter) -> dict[str, np.ndarray]:
    """Both measurers' openings on the window's real target frames (decoded once per measurer, so
    no more than one frame is held)."""
    def frames() -> Iterator[np.ndarray]:
        return itertools.islice(iter_rgb(clip_path), w.target_start, w.target_start + n)

    return {"MediaPipe": metrics.mouth_opening(measure_frames(frames())), "dlib": meter.frames(frames()).opening}


def read_window(clip_path: Path, w: clips.Window, modes: list[str], meter: DlibMouthMeter) -> list[WindowReading]:
    stem = w.video.name.removesuffix(".source.mp4")
    outs = {m: w.video.parent / f"{stem}.xseg.{m}.mp4" for m in modes}
    outs = {m: p for m, p in outs.items() if p.is_file()}
    if not outs:
        return []
    readings = {m: {"MediaPipe": metrics.mouth_opening(measure_video(p).landmarks), "dlib": meter.video(p).opening}
                for m, p in outs.items()}
    n = min(len(v["dlib"]) for v in readings.values())
    truth = _truth(clip_path, w, n, meter)
    rows = []
    for mode, got in readings.items():
        both = np.ones(n, bool)
        for meas in MEASURERS:
            both &= np.isfinite(got[meas][:n]) & np.isfinite(truth[meas][:n])
        r, ci, neff = {}, {}, {}
        for meas in MEASURERS:
            a = np.where(both, got[meas][:n], np.nan)
            b = np.where(both, truth[meas][:n], np.nan)
            if both.sum() >= metrics.MIN_TRUTH_FRAMES:
                r[meas], ci[meas] = metrics.pearson(a, b), metrics.correlation_interval(a, b)
                neff[meas] = metrics.effective_frames(a, b)
            else:
                r[meas], ci[meas], neff[meas] = float("nan"), (float("nan"),) * 2, float("nan")
        rows.append(WindowReading(w.clip, w.label, mode, int(both.sum()), r, ci, neff))
    return rows


def clip_value(rows: list[WindowReading], meas: str) -> tuple[float, float, float]:
    return metrics.pooled_estimate([x.r[meas] for x in rows], [x.ci[meas] for x in rows], [x.neff[meas] for x in rows])


def section(media: Path, clip_names: list[str], modes: list[str], work: Path = clips.WORK_DIR) -> str:
    """The section's text for the windows in ``work`` (where the cross-segment run left them)."""
    meter = DlibMouthMeter()
    readings: list[WindowReading] = []
    for clip in clip_names:
        clip_path = media / "videos" / f"{clip}.mp4"
        for w in clips.split_windows(clip_path, catalog.BY_STEM[clip].pairs, work):
            log.info("second opinion: %s", w.label)
            readings += read_window(clip_path, w, modes, meter)
    return report(readings, modes)


def report(readings: list[WindowReading], modes: list[str]) -> str:
    lines = [
        "The cross-segment outputs of the run above, and each window's real target, read again by dlib's "
        "68-point model (HOG face detector; what the independent judge of issue 14 used) beside "
        "MediaPipe (the benchmark's own measurer and the engine's tracker), on the frames where *both* "
        "found the face in output and truth — so the two columns differ only by the measurer. dlib "
        "misses more faces (turned, small), which is why its frame counts, and some clips, drop out. "
        "Clip values pool windows by Fisher's fixed effect; means are over clips with the measurement "
        "and between-clip intervals, as above.",
        "",
    ]
    for mode in modes:
        mine = [x for x in readings if x.mode == mode]
        if not mine:
            continue
        per_clip = {c: [x for x in mine if x.clip == c] for c in dict.fromkeys(x.clip for x in mine)}
        rows, est = [], {m: {} for m in MEASURERS}
        for clip, rs in per_clip.items():
            cells = [clip, str(len(rs)), str(sum(x.frames for x in rs))]
            for meas in MEASURERS:
                r, lo, hi = clip_value(rs, meas)
                if np.isfinite(r):
                    est[meas][clip] = (r, lo, hi)
                cells.append(f"{f(r)} [{f(lo)}–{f(hi)}]" if np.isfinite(r) else "—")
            rows.append(cells)
        means = {m: metrics.mean_of_clips([e[0] for e in est[m].values()], [(e[1], e[2]) for e in est[m].values()])
                 for m in MEASURERS}
        rows.append(["**mean over clips**", "", "", *(f"{mean_text(means[m])} ({len(est[m])} clips)" for m in MEASURERS)])
        lines += [f"**{mode} mode**", "", table(["clip", "windows", "frames (both found)", "r MediaPipe [95 %]",
                                                 "r dlib [95 %]"], rows), ""]
    return "\n".join(lines)


TITLE = "Cross-segment lip-sync, read by a second measurer (dlib)"


def write_section(media: Path, clip_names: list[str], modes: list[str], argv: list[str],
                  work: Path = clips.WORK_DIR) -> Path:
    """Measure and write ``benchmarks/sections/second_opinion.md``; ``argv`` is the command that ran."""
    return sections.write("second_opinion", TITLE, section(media, clip_names, modes, work), argv=argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", default=",".join(c.stem for c in catalog.CLIPS))
    ap.add_argument("--modes", default="lips")
    ap.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media")
    ap.add_argument("--work", type=Path, default=clips.WORK_DIR, help="where the cross-segment run left its files")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.no_write:
        print(section(args.media, args.clips.split(","), args.modes.split(","), args.work))
    else:
        print(write_section(args.media, args.clips.split(","), args.modes.split(","),
                            ["python -m benchmarks.second_opinion", *argv], args.work))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
