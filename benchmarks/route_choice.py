"""Per-window speech-route evidence vs planner-level lip-sync r, every route forced.

For every neighbouring (source, target) window pair of the clips (both directions, as
``speech_routes.route_windows``), the target window's own audio is analysed by each route with
the decision taken away: ``aligned`` (Whisper's transcript force-aligned whatever its fit —
the thresholds lifted), ``recognized`` (phones recognised without a transcript) and
``acoustic`` (the loudness tracks alone); plus ``engine`` (what the speech stage chooses). Each
is planned from the source window — ``reperform.plan`` of the window's analysis with that route's
speech in it (``plan_eval.window_analysis``; the product's planner and its shipped learned mouth
model, which was fitted on these dev clips) — and correlated with the real mouth of the target window.
The evidence the decision reads (acoustic fit per frame, coverage) is kept beside the r's, so a
decision rule can be scored leave-one-clip-out on it (``--json`` writes the rows).

Run: ``.venv/bin/python -m benchmarks.route_choice [--json out.json] [clips...]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
from pathlib import Path

import numpy as np

from reperform import media, runtime, speech
from reperform.config import EngineConfig
from reperform.speech import SpeechAnalyzer
from reperform.speech import analyzer as analyzer_module

from . import sections
from .metrics import pearson
from .plan_eval import CACHE_DIR, _measured_opening, _track, window_analysis, window_opening
from .speech_routes import _cut, _timeline

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
CLIPS = ("mimictalk_German_20s", "latentsync_demo1_video", "videoretalking_2", "videoretalking_4",
         "pcavs_00373", "dfrf_cnn2_25fps")
ROUTES = ("engine", "aligned", "recognized", "acoustic")
INTRO = """Every neighbouring pair of windows of each clip, both directions (as `speech_routes`): the
target window's own audio is analysed by each route with the decision taken away — *aligned*
(Whisper's transcript force-aligned whatever its fit; where Whisper heard no English it equals the
engine's route), *recognised* phones, *loudness only* — planned from the source window and
correlated with the real mouth of the target window (planner level: a renderer only loses
correlation). The transcript fit (pocketsphinx score per 10-ms frame) and coverage are what the
speech stage decides on (`speech/analyzer.py`)."""
_FIT = re.compile(r"acoustic fit (-?[0-9.]+|-inf) per frame.*?covers the speech ([0-9.]+)")


def _forced_aligned(analyzer: SpeechAnalyzer, audio):
    """The transcript route with the decision lifted (thresholds at their loosest)."""
    saved = analyzer_module.MIN_TRANSCRIPT_FIT, analyzer_module.MIN_ALIGN_AGREEMENT, analyzer_module.MIN_ALIGNED_SHARE
    analyzer_module.MIN_TRANSCRIPT_FIT, analyzer_module.MIN_ALIGN_AGREEMENT = -1e9, 0.0
    analyzer_module.MIN_ALIGNED_SHARE = 0.0
    try:
        return analyzer.analyze(audio)
    finally:
        (analyzer_module.MIN_TRANSCRIPT_FIT, analyzer_module.MIN_ALIGN_AGREEMENT,
         analyzer_module.MIN_ALIGNED_SHARE) = saved


def windows(analyzer: SpeechAnalyzer, path: Path, window_s: float, max_pairs: int) -> list[dict]:
    track, times, v0 = _track(path, CACHE_DIR)
    info = media.probe(path)
    fps = float(info.fps)
    audio = media.load_audio(path)
    real_all = _measured_opening(path, CACHE_DIR)
    w = min(track.n // 2, int(window_s * fps))
    blocks = [(i, i + w) for i in range(0, track.n - w + 1, w)]
    out: list[dict] = []
    for a, b in list(zip(blocks, blocks[1:], strict=False))[:max_pairs]:
        for src, tgt in ((a, b), (b, a)):
            src_audio = _cut(audio, v0 + times[src[0]], v0 + times[src[1] - 1] + 1 / fps)
            drive_audio = _cut(audio, v0 + times[tgt[0]], v0 + times[tgt[1] - 1] + 1 / fps)
            src_speech = analyzer.analyze(src_audio, transcribe=False)
            row: dict = {"clip": path.stem, "window_s": window_s, "source": list(src), "target": list(tgt)}
            window, real = None, None
            for route in ROUTES:
                drive = _forced_aligned(analyzer, drive_audio) if route == "aligned" else _timeline(
                    analyzer, drive_audio, route)
                if route == "engine":
                    row["engine_method"] = drive.method
                    row["engine_evidence"] = drive.evidence
                if route == "aligned":
                    m = _FIT.search(drive.evidence)
                    row["aligned_method"] = drive.method
                    row["fit"] = float(m.group(1)) if m else float("nan")
                    row["cover"] = float(m.group(2)) if m else float("nan")
                    row["aligned_evidence"] = drive.evidence
                prosody = speech.analyze_prosody(drive_audio, drive)
                window = (window_analysis(path, track, times, src, src_speech, drive, prosody, drive_audio.duration_s)
                          if window is None else dataclasses.replace(window, speech=drive, prosody=prosody))
                opening = window_opening(window, tgt[1] - tgt[0])
                real = real_all[tgt[0]: tgt[0] + len(opening)]
                row[route] = pearson(opening, real)
                if route != "engine":  # kept so blends of routes can be scored from the rows alone
                    row[f"{route}_plan"] = opening.tolist()
            row["real"] = np.asarray(real, float).tolist()
            out.append(row)
            log.warning("%s %s->%s %s", path.stem, src, tgt,
                        {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()
                         if k in ROUTES + ("fit", "cover", "engine_method")})
    return out


def _rule(row: dict, threshold: float) -> float:
    """r of the route a fit threshold would choose: the transcript's alignment when it covers the
    speech and fits at least ``threshold``, else what the engine does without it."""
    fit, cover = row.get("fit"), row.get("cover")
    if fit is not None and cover is not None and np.isfinite(fit) and cover >= analyzer_module.MIN_ALIGN_AGREEMENT \
            and fit >= threshold:
        return float(row["aligned"])
    return float(row["acoustic"] if row["engine_method"] == "acoustic" else row["recognized"])


def _clip_mean(rows: list[dict], value) -> float:
    """Mean over clips of the mean over each clip's windows (each clip weighs the same)."""
    clips = dict.fromkeys(r["clip"] for r in rows)
    return float(np.nanmean([np.nanmean([value(r) for r in rows if r["clip"] == c]) for c in clips]))


def loco_threshold(rows: list[dict], grid: np.ndarray = np.arange(-60.0, -9.0, 1.0)) -> list[tuple[str, float, float]]:
    """Leave one clip out: the fit threshold maximising the other clips' mean r (ties: the one
    nearest the shipped constant), and the held-out clip's mean r under it."""
    out = []
    for clip in dict.fromkeys(r["clip"] for r in rows):
        train = [r for r in rows if r["clip"] != clip]
        scores = np.array([_clip_mean(train, lambda r, t=t: _rule(r, t)) for t in grid])
        best = scores.max()
        ties = grid[scores >= best - 1e-9]
        t = float(ties[np.argmin(np.abs(ties - analyzer_module.MIN_TRANSCRIPT_FIT))])
        held = float(np.nanmean([_rule(r, t) for r in rows if r["clip"] == clip]))
        out.append((clip, t, held))
    return out


def section_body(rows: list[dict]) -> str:
    """Markdown: every window's evidence and r per forced route, per-clip means, the LOCO rule."""
    lines = ["| clip | window | source → target (frames) | engine chose | transcript fit / cover | "
             "r engine | r aligned (forced) | r recognised | r loudness only |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fit = "—" if r.get("fit") is None or not np.isfinite(r["fit"]) else f"{r['fit']:.1f} / {r['cover']:.2f}"
        lines.append(f"| {r['clip']} | {r['window_s']:g} s | {tuple(r['source'])} → {tuple(r['target'])} | "
                     f"{r['engine_method']} | {fit} | {r['engine']:+.2f} | {r['aligned']:+.2f} | "
                     f"{r['recognized']:+.2f} | {r['acoustic']:+.2f} |")
    lines += ["", "| clip | windows | engine | aligned (forced) | recognised | loudness only |", "|---|---|---|---|---|---|"]
    for clip in dict.fromkeys(r["clip"] for r in rows):
        rs = [r for r in rows if r["clip"] == clip]
        lines.append(f"| {clip} | {len(rs)} | " + " | ".join(
            f"{np.nanmean([r[k] for r in rs]):+.3f}" for k in ROUTES) + " |")
    lines.append("| **mean over clips** | " + str(len(rows)) + " | " + " | ".join(
        f"**{_clip_mean(rows, lambda r, k=k: r[k]):+.3f}**" for k in ROUTES) + " |")
    loco = loco_threshold(rows)
    lines += ["", "Fit threshold chosen leave-one-clip-out (grid -60…-10 per frame; the rule: align when the "
              "transcript covers the speech and fits at least the threshold, else the engine's other route):", "",
              "| held-out clip | threshold chosen on the other clips | held-out r (rule) | r with the shipped "
              f"{analyzer_module.MIN_TRANSCRIPT_FIT:g} |", "|---|---|---|---|"]
    for clip, t, held in loco:
        rs = [r for r in rows if r["clip"] == clip]
        shipped = float(np.nanmean([_rule(r, analyzer_module.MIN_TRANSCRIPT_FIT) for r in rs]))
        lines.append(f"| {clip} | {t:g} | {held:+.3f} | {shipped:+.3f} |")
    lines.append(f"| **mean over clips** | | **{np.mean([h for _, _, h in loco]):+.3f}** | "
                 f"**{_clip_mean(rows, lambda r: _rule(r, analyzer_module.MIN_TRANSCRIPT_FIT)):+.3f}** |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", default=list(CLIPS))
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    ap.add_argument("--window", type=float, action="append")
    ap.add_argument("--max-pairs", type=int, default=6)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--section", nargs="*", type=Path, metavar="JSON",
                    help="write benchmarks/sections/speech_route.md from saved --json rows instead of measuring")
    args = ap.parse_args(argv)
    if args.section is not None:
        rows = [row for p in args.section for row in json.loads(p.read_text())]
        print(sections.write("speech_route", "Speech route per window (planner level, issue 14)",
                             INTRO + "\n\n" + section_body(rows), argv=["python -m benchmarks.route_choice", *(argv or [])]))
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    runtime.tune_process()
    analyzer = SpeechAnalyzer(EngineConfig())
    rows = []
    for clip in args.clips:
        for window_s in args.window or [5.0]:
            rows += windows(analyzer, args.media / "videos" / f"{clip}.mp4", window_s, args.max_pairs)
            if args.json:
                args.json.write_text(json.dumps(rows, allow_nan=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
