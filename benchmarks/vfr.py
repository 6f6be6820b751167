"""Variable frame rate: is the mouth on time for each frame's real timestamp? (issue 14, item 4)

None of the dev clips is VFR, so this benchmark makes VFR sources from real ones, the way a phone
under load records: each cross-segment source window of the long clips loses ~30 % of its frames
in irregular runs, and every kept frame keeps its true presentation time (millisecond time base).
The same target audio then drives the constant-rate window and its VFR copy; both outputs are
scored against the clip's real target window, read at each output frame's own time. An engine that
treated VFR frames as evenly spaced (when it learns this speaker's mouth from the source and its
sound, or when it picks the source frame each output frame shows) loses lip-sync here; one that
honours timestamps scores as on the constant-rate source, within the interval.

    python -m benchmarks.vfr            # writes benchmarks/sections/vfr.md (run.py includes it)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import catalog, clips, metrics, sections  # noqa: E402
from benchmarks import report as R  # noqa: E402
from benchmarks.child import run_child_seams  # noqa: E402
from benchmarks.measure import frame_times, measure_video  # noqa: E402
from benchmarks.suite import measure_video_cached  # noqa: E402
from reperform import media  # noqa: E402

log = logging.getLogger(__name__)

#: The clips whose windows are long enough to carry a VFR copy (the short dev clips give ~3 s halves).
CLIPS = ("dfrf_cnn2_25fps", "mimictalk_German_20s")
#: Share of source frames dropped, in irregular runs (frame drops under load, not a steady lower rate).
DROP_SHARE = 0.3
SEED = 14


def make_vfr(video: Path, out: Path, drop_share: float = DROP_SHARE, seed: int = SEED) -> tuple[Path, int, int]:
    """Copy ``video`` with ``drop_share`` of its frames dropped, each kept frame at its true time.

    Returns (path, frames kept, frames in). The sound is re-encoded whole, so it stays in sync
    with the pictures' real times. Rebuilt only when missing.
    """
    n = len(frame_times(video))  # from the packets: a cached copy needs no decoding
    rng = np.random.default_rng(seed)
    keep = [i for i in range(n) if i == 0 or rng.random() >= drop_share]
    if out.exists():
        return out, len(keep), n
    info = media.probe(video)
    frames = list(media.iter_frames(info))
    sound = media.load_audio(video, rate=48000).samples
    tmp = out.with_suffix(".part.mp4")
    h, w = frames[0][2].shape[:2]
    ms = Fraction(1, 1000)
    with av.open(str(tmp), "w") as c:
        v = c.add_stream("libx264", rate=round(float(info.fps)))
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.time_base = ms
        v.codec_context.time_base = ms
        v.options = {"crf": "14", **media.encode.x264_options()}
        a = c.add_stream("aac", rate=48000)
        for i in keep:
            _idx, t_s, rgb = frames[i]
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = int(round(t_s * 1000)), ms
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        mono = np.ascontiguousarray(np.atleast_2d(sound.astype(np.float32))[:1])
        af = av.AudioFrame.from_ndarray(mono, format="fltp", layout="mono")
        af.sample_rate, af.pts = 48000, 0
        for p in a.encode(af):
            c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    os.replace(tmp, out)
    return out, len(keep), n


def truth_at(truth_opening: np.ndarray, fps: float, times_s: np.ndarray) -> np.ndarray:
    """The real target mouth at each output frame's time (nearest real frame; NaN past the end)."""
    idx = np.round(np.asarray(times_s) * fps).astype(int)
    out = np.full(len(idx), np.nan)
    ok = (idx >= 0) & (idx < len(truth_opening))
    out[ok] = truth_opening[idx[ok]]
    return out


@dataclass(frozen=True, slots=True)
class VfrRow:
    window: str
    kept: int
    total: int
    fps_out: float
    r_cfr: float
    ci_cfr: tuple[float, float]
    r_vfr: float
    ci_vfr: tuple[float, float]
    error: str = ""


def _score(output: Path, truth_opening: np.ndarray, fps: float) -> tuple[float, tuple[float, float]]:
    opening = metrics.mouth_opening(measure_video(output).landmarks)
    truth = truth_at(truth_opening, fps, frame_times(output))
    return metrics.pearson(opening, truth), metrics.correlation_interval(opening, truth)


def measure_window(w: clips.Window, orig: np.ndarray, work: Path) -> VfrRow:
    """One window: constant-rate source vs its VFR copy, same target audio, scored by real time."""
    stem = w.video.name.removesuffix(".source.mp4")
    vfr, kept, total = make_vfr(w.video, work / f"{stem}.vfr.source.mp4")
    truth_open = metrics.mouth_opening(orig[w.target_start:])
    outs = {kind: work / f"{stem}.vfr-bench.{kind}.mp4" for kind in ("cfr", "vfr")}
    res = {kind: run_child_seams(src, w.audio, [(outs[kind], {"mode": "lips"})], work)[0]
           for kind, src in (("cfr", w.video), ("vfr", vfr))}
    bad = [f"{k}: {r.error}: {r.message}" for k, r in res.items() if not r.ok]
    if bad:
        return VfrRow(w.label, kept, total, float("nan"), float("nan"), (float("nan"),) * 2, float("nan"),
                      (float("nan"),) * 2, error="; ".join(bad))
    r_c, ci_c = _score(outs["cfr"], truth_open, w.fps)
    r_v, ci_v = _score(outs["vfr"], truth_open, w.fps)
    return VfrRow(w.label, kept, total, float(media.probe(outs["vfr"]).fps), r_c, ci_c, r_v, ci_v)


def render(rows: list[VfrRow]) -> str:
    """The report section (markdown)."""
    table = [[r.window, f"{r.kept}/{r.total}", R.f(r.fps_out, 2), R.f(r.r_cfr) + " " + R.interval(r.ci_cfr).rstrip(),
              R.f(r.r_vfr) + " " + R.interval(r.ci_vfr).rstrip(), R.f(r.r_vfr - r.r_cfr) if not r.error else r.error] for r in rows]
    ok = [r for r in rows if not r.error and np.isfinite(r.r_cfr) and np.isfinite(r.r_vfr)]
    mean = (f"Mean over {len(ok)} windows: constant rate {R.f(float(np.mean([r.r_cfr for r in ok])))}, "
            f"VFR copy {R.f(float(np.mean([r.r_vfr for r in ok])))}." if ok else "No window could be scored.")
    return "\n".join([
        "Each long clip's cross-segment source windows, as filmed (constant rate) and as a VFR copy with "
        f"{DROP_SHARE:.0%} of the frames dropped in irregular runs (true timestamps kept; seed {SEED}), driven "
        "by the same target audio in lips mode. r: output mouth opening against the real target window's, "
        "read at each output frame's own time; [95 % interval].", "",
        R.table(["window", "frames kept", "VFR output fps", "r, constant rate", "r, VFR copy", "VFR − constant"],
                table), "", mean,
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--media", default=os.environ.get("REPERFORM_SHARED_MEDIA", str(REPO_ROOT.parent / "shared" / "media")))
    p.add_argument("--clips", default=",".join(CLIPS))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    work = clips.WORK_DIR
    rows: list[VfrRow] = []
    for clip in args.clips.split(","):
        path = Path(args.media) / "videos" / f"{clip}.mp4"
        orig = measure_video_cached(path, work / "measured")
        for w in clips.split_windows(path, catalog.BY_STEM[clip].pairs, work):
            log.info("vfr: %s", w.label)
            rows.append(measure_window(w, orig, work))
    sections.write("vfr", "Variable frame rate (issue 14)", render(rows), argv=["python", "-m", "benchmarks.vfr", *(argv or [])])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
