"""A language-independent route for speech without a trustworthy transcript, scored leave-one-clip-out.

The windows are ``route_choice``'s (every neighbouring pair of 5-s windows of each clip, both
directions; the target window's own audio drives a plan made from the source window; planner-level
r against the real mouth of the target window). Per window the speech stage runs once per route and
is cached (``CACHE_DIR/route_acoustic``, keyed by the speech code), so the variants below only plan:

- ``engine``: the speech stage's own choice, rule plan — ``reperform.plan`` of the window
  (``plan_eval.window_analysis``) with the learned mouth model off (:data:`RULES_ONLY`; the shipped
  model was fitted on these clips, so it would leak the held-out clip; ``route_choice`` and
  ``speech_routes`` plan with it, as the product does);
- ``recognized``: recognised phones, rule plan; ``acoustic``: loudness only, rule plan;
- ``model``: the acoustic model's own curve (:func:`trajectory.acoustic_design`), no planner;
- ``recognized+model@s`` / ``acoustic+model@s``: the rule plan with share ``s`` of the acoustic
  model mixed into speaking frames (``plan.learned_opening``, with its sync fallback). These call
  the planner stage (``motion.plan_motion``) directly: a fitted model object at one share is a
  planner variant that no ``EngineConfig`` expresses (the seams plan with a model file and the
  shipped shares).

The acoustic model of a held-out clip is fitted to the *other* clips only (their whole audio
through the recognised route, their mouths by the engine's tracker; ridge by an inner
leave-one-clip-out), so a clip's own mouth is never read when it is scored. The share ``s`` is
chosen leave-one-clip-out as well, and the table's "held out" column is what a clip gets under the
share the other clips chose. ``engine+`` is the engine with the chosen variant where it would not
align a transcript.

Run: ``.venv/bin/python -m benchmarks.route_acoustic [--json out.json] [clips...]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import pickle
from pathlib import Path

import numpy as np

from reperform import face, media, motion, runtime, speech
from reperform.config import EngineConfig
from reperform.motion import trajectory
from reperform.motion.visemes import VOWELS, Viseme, viseme_of
from reperform.options import GenerateOptions, SyncMode
from reperform.speech import SpeechAnalyzer

from .metrics import pearson
from .mouth_model import _fit, _score
from .plan_eval import CACHE_DIR, _measured_opening, _slice, _track, window_analysis, window_opening
from .route_choice import _FIT
from .speech_routes import _cut, _timeline

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
CLIPS = ("mimictalk_German_20s", "latentsync_demo1_video", "videoretalking_2", "videoretalking_4",
         "pcavs_00373", "dfrf_cnn2_25fps")
NON_ENGLISH = ("mimictalk_German_20s", "latentsync_demo1_video")
#: Shares of the acoustic model tried (chosen leave-one-clip-out); 0 = the rule plan alone.
SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
RIDGES = (3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
WINDOW_S = 5.0
#: The rule plan: ``reperform.plan`` with the learned mouth model off. Not the shipped model: it
#: was fitted on these very clips, so it would read the held-out clip's own mouth.
RULES_ONLY = EngineConfig(mouth_model="")


def relabel(tl, keep_consonants: bool):
    """Recognised phones trusted less: p/b/m kept (lips close in every language), every vowel
    made a neutral "AH" (the sound carries the openness), every other consonant "T" with
    ``keep_consonants`` or "AH" without (then only the closures and the syllable timing remain)."""
    def label(ph) -> str:
        v = viseme_of(ph.label)
        if v == Viseme.PBM or v == Viseme.REST:
            return ph.label
        if ph.label.upper().rstrip("012") in VOWELS or not keep_consonants:
            return "AH"
        return "T"
    return dataclasses.replace(tl, phones=tuple(dataclasses.replace(p, label=label(p)) for p in tl.phones))


def _speech_version() -> str:
    src = REPO / "src" / "reperform"
    h = hashlib.sha256()
    for path in sorted((src / "speech").glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _cache(name: str) -> Path:
    return CACHE_DIR / "route_acoustic" / f"{name}.{_speech_version()}.pkl"


def _load_or(path: Path, build):
    if path.is_file():
        return pickle.loads(path.read_bytes())
    value = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(value))
    return value


def _window_pairs(path: Path, max_pairs: int):
    """``(cut, pairs)``: neighbouring frame blocks of ``path`` (``WINDOW_S`` long, at most half
    the clip) and a function giving the sound under a block, on the tracker's clock."""
    track, times, v0 = _track(path, CACHE_DIR)
    fps = float(media.probe(path).fps)
    audio = media.load_audio(path)
    w = min(track.n // 2, int(WINDOW_S * fps))
    blocks = [(i, i + w) for i in range(0, track.n - w + 1, w)]

    def cut(block: tuple[int, int]):
        return _cut(audio, v0 + times[block[0]], v0 + times[block[1] - 1] + 1 / fps)

    return cut, list(zip(blocks, blocks[1:], strict=False))[:max_pairs]


def clip_windows(analyzer: SpeechAnalyzer, path: Path, max_pairs: int = 6) -> list[dict]:
    """Every window pair of ``path`` with the speech of the source and of each forced route of the
    target (cached; the planning inputs only)."""
    def build() -> list[dict]:
        cut, pairs = _window_pairs(path, max_pairs)
        out = []
        for a, b in pairs:
            for src, tgt in ((a, b), (b, a)):
                src_audio, drive_audio = cut(src), cut(tgt)
                drives = {route: _timeline(analyzer, drive_audio, route) for route in ("engine", "recognized", "acoustic")}
                out.append({"source": src, "target": tgt, "src_speech": analyzer.analyze(src_audio, transcribe=False),
                            "drives": drives, "prosody": {k: speech.analyze_prosody(drive_audio, d) for k, d in drives.items()},
                            "duration_s": drive_audio.duration_s})
                log.warning("%s %s->%s engine %s", path.stem, src, tgt, drives["engine"].method)
        return out
    return _load_or(_cache(f"{path.stem}.windows"), build)


def aligned_windows(analyzer: SpeechAnalyzer, path: Path, max_pairs: int = 6) -> list:
    """Per window of :func:`clip_windows` (same order), the target audio's transcript force-aligned
    whatever its fit (``route_choice._forced_aligned``); cached separately (Whisper is the cost)."""
    from .route_choice import _forced_aligned

    def build() -> list:
        cut, pairs = _window_pairs(path, max_pairs)
        out = []
        for a, b in pairs:
            for tgt in (b, a):
                out.append(_forced_aligned(analyzer, cut(tgt)))
        return out
    return _load_or(_cache(f"{path.stem}.aligned"), build)


def _broad(label: str) -> int:
    """0 silence, 1 lips closed (p b m), 2 vowel, 3 other consonant."""
    v = viseme_of(label)
    if v == Viseme.REST:
        return 0
    if v == Viseme.PBM:
        return 1
    return 2 if label.upper().rstrip("012") in VOWELS else 3


def agreement(aligned, recognized) -> dict[str, float]:
    """How far a transcript's alignment agrees with free phone recognition of the same audio, over
    the loud 10-ms frames: the share with the same viseme class, and with the same broad class
    (silence / lips closed / vowel / other consonant). Language-free: both read the same sound."""
    n = len(recognized.energy)
    loud = np.asarray(recognized.energy[:n]) > 0
    if not loud.any() or not aligned.phones:
        return {"agree_viseme": float("nan"), "agree_broad": float("nan")}
    a, r = trajectory.viseme_grid(aligned, n), trajectory.viseme_grid(recognized, n)
    ba, br = np.zeros(n, int), np.zeros(n, int)
    for grid, tl in ((ba, aligned), (br, recognized)):
        for ph in tl.phones:
            grid[int(ph.start_s / trajectory.GRID_S): int(np.ceil(ph.end_s / trajectory.GRID_S))] = _broad(ph.label)
    return {"agree_viseme": float((a[loud] == r[loud]).mean()), "agree_broad": float((ba[loud] == br[loud]).mean())}


@dataclasses.dataclass(frozen=True)
class Train:
    clip: str
    design: np.ndarray
    phone_design: np.ndarray
    target: np.ndarray
    ok: np.ndarray
    fps: float


def clip_training(analyzer: SpeechAnalyzer, path: Path) -> Train:
    """The whole clip through the recognised route, and its engine-tracked opening (z-scored)."""
    def build() -> tuple:
        return analyzer.analyze(media.load_audio(path), transcribe=False)
    tl = _load_or(_cache(f"{path.stem}.whole"), build)
    track, times, v0 = _track(path, CACHE_DIR)
    frame_times = np.asarray(times) + v0
    opening = np.asarray(track.mouth[:, 0], np.float64)
    ok = np.asarray(track.present, bool) & np.isfinite(opening) & (frame_times < tl.duration_s)
    target = np.zeros_like(opening)
    target[ok] = (opening[ok] - opening[ok].mean()) / max(float(opening[ok].std()), 1e-9)
    return Train(path.stem, trajectory.acoustic_design(tl, frame_times), trajectory.design(tl, frame_times), target, ok,
                 float(media.probe(path).fps))


def fit_acoustic(data: list[Train], field: str = "design") -> tuple[np.ndarray, float]:
    """Weights over ``data`` (the acoustic design, or ``field="phone_design"`` for the phone
    model's design on recognised phones), the ridge chosen by leave-one-clip-out within ``data``."""
    if len(data) < 2:
        ridge = RIDGES[len(RIDGES) // 2]
    else:
        scores = {r: np.nanmean([_score(_fit([x for x in data if x is not d], r, field), d, field) for d in data])
                  for r in RIDGES}
        ridge = max(scores, key=lambda r: scores[r])
    return _fit(data, ridge, field), ridge


def evaluate(analyzer: SpeechAnalyzer, media_dir: Path, clips: list[str], with_aligned: bool = False) -> list[dict]:
    """Per window: r of every variant; the acoustic model of each clip fitted without it."""
    train = {c: clip_training(analyzer, media_dir / "videos" / f"{c}.mp4") for c in CLIPS}
    rows = []
    for clip in clips:
        weights, ridge = fit_acoustic([train[c] for c in CLIPS if c != clip])
        phone_weights, phone_ridge = fit_acoustic([train[c] for c in CLIPS if c != clip], "phone_design")
        model = trajectory.MouthModel(weights=phone_weights, info={}, acoustic_weights=weights,
                                      acoustic_methods=("recognized", "acoustic"))
        phone_model = trajectory.MouthModel(weights=phone_weights, info={})
        log.warning("%s: acoustic model fitted without it, ridge %g; training r of the others %s", clip, ridge,
                    {c: round(_score(weights, train[c]), 3) for c in CLIPS if c != clip})
        path = media_dir / "videos" / f"{clip}.mp4"
        track, times, v0 = _track(path, CACHE_DIR)
        info = media.probe(path)
        real_all = _measured_opening(path, CACHE_DIR)
        forced = aligned_windows(analyzer, path) if with_aligned else None
        for i, win in enumerate(clip_windows(analyzer, path)):
            if forced is not None:
                win["drives"]["aligned"] = forced[i]
                win["prosody"]["aligned"] = win["prosody"]["recognized"]
            s_idx = np.arange(*win["source"])
            src_track = _slice(track, s_idx)
            src_times = times[s_idx] - times[s_idx[0]]
            timemap = media.build_timemap(src_times, info.fps, win["duration_s"], SyncMode.loop)
            tgt = win["target"]
            n_out = min(tgt[1] - tgt[0], timemap.n_out)
            timemap = dataclasses.replace(timemap, n_out=n_out, src_frame=timemap.src_frame[:n_out])
            profile = face.build_profile(src_track, win["src_speech"], src_times)
            real = real_all[tgt[0]: tgt[0] + n_out]
            row = {"clip": clip, "source": list(win["source"]), "target": list(tgt),
                   "engine_method": win["drives"]["engine"].method, "ridge": ridge}

            win["drives"]["closures"] = relabel(win["drives"]["recognized"], False)
            win["drives"]["cv"] = relabel(win["drives"]["recognized"], True)
            win["prosody"]["closures"] = win["prosody"]["cv"] = win["prosody"]["recognized"]

            window = window_analysis(path, track, times, tuple(win["source"]), win["src_speech"],
                                     win["drives"]["engine"], win["prosody"]["engine"], win["duration_s"])

            def plan(route: str, share: float | None, win=win, src_track=src_track, profile=profile,
                     timemap=timemap, src_times=src_times, model=model, real=real, window=window,
                     n_out=n_out) -> float:
                if not share:  # the product's planner with its learned model off (see the module docstring)
                    rules = dataclasses.replace(window, speech=win["drives"][route], prosody=win["prosody"][route])
                    return pearson(window_opening(rules, n_out, RULES_ONLY), real)
                # A fitted model object at one share: a planner variant no EngineConfig expresses.
                plan_ = motion.plan_motion(
                    win["drives"][route], win["prosody"][route], src_track, profile, timemap, GenerateOptions(),
                    source_speech=win["src_speech"], frame_times_s=src_times,
                    mouth_model=model, learned_shares=(share,))
                return pearson(plan_.mouth[:, 0], real)

            for route in ("engine", "recognized", "acoustic", "closures", "cv", "aligned"):
                if route in win["drives"]:
                    row[route] = plan(route, None)
            if forced is not None:
                m = _FIT.search(forced[i].evidence)
                row["aligned_method"] = forced[i].method
                row["fit"] = float(m.group(1)) if m else float("nan")
                row["cover"] = float(m.group(2)) if m else float("nan")
                row.update(agreement(forced[i], win["drives"]["recognized"]))
            row["model"] = pearson(model.predict(win["drives"]["recognized"], np.arange(n_out) / float(info.fps)), real)
            row["phone model alone"] = pearson(phone_model.predict(win["drives"]["recognized"],
                                                                   np.arange(n_out) / float(info.fps)), real)
            for share in SHARES[1:]:
                row[f"recognized+model@{share:g}"] = plan("recognized", share)
                row[f"acoustic+model@{share:g}"] = plan("acoustic", share)
                row[f"recognized+phones@{share:g}"] = plan("recognized", share, model=phone_model)
                row[f"closures+model@{share:g}"] = plan("closures", share)
                row[f"cv+model@{share:g}"] = plan("cv", share)
            rows.append(row)
            log.warning("%s %s->%s %s", clip, win["source"], tgt,
                        {k: round(v, 3) for k, v in row.items() if isinstance(v, float) and k != "ridge"})
    return rows


def _variant(row: dict, route: str, share: float) -> float:
    return float(row[route] if share == 0 else row[f"{route}+model@{share:g}"])


def _phones(row: dict, route: str, share: float) -> float:
    return float(row[route] if share == 0 else row[f"{route}+phones@{share:g}"])


def _engine_plus(row: dict, route: str, share: float) -> float:
    """The engine with ``route`` (+ model at ``share``) wherever it did not align a transcript."""
    return float(row["engine"]) if row["engine_method"] == "aligned" else _variant(row, route, share)


def _mean(rows: list[dict], value) -> float:
    clips = dict.fromkeys(r["clip"] for r in rows)
    return float(np.nanmean([np.nanmean([value(r) for r in rows if r["clip"] == c]) for c in clips]))


def loco(rows: list[dict], route: str, value=_variant) -> dict[str, tuple[float, float]]:
    """Per held-out clip: the share the other clips choose for ``route`` and the clip's mean r under it."""
    out = {}
    for clip in dict.fromkeys(r["clip"] for r in rows):
        others = [r for r in rows if r["clip"] != clip]
        scores = [_mean(others, lambda r, s=s: value(r, route, s)) for s in SHARES]
        share = SHARES[int(np.nanargmax(scores))]
        out[clip] = (share, float(np.nanmean([value(r, route, share) for r in rows if r["clip"] == clip])))
    return out


def _fallback(row: dict) -> float:
    return float(row["acoustic"] if row["engine_method"] == "acoustic" else row["recognized"])


def _agree_rule(row: dict, key: str, threshold: float) -> float:
    """Align when the transcript covers the speech and its phones agree with free recognition at
    least ``threshold`` (``key``: which agreement), else the engine's other route."""
    from reperform.speech import analyzer as analyzer_module

    agree, cover = row.get(key), row.get("cover")
    if agree is not None and np.isfinite(agree) and cover is not None and np.isfinite(cover) \
            and cover >= analyzer_module.MIN_ALIGN_AGREEMENT and agree >= threshold:
        return float(row["aligned"])
    return _fallback(row)


AGREE_GRID = tuple(np.round(np.arange(0.0, 0.81, 0.05), 2))


def loco_agreement(rows: list[dict], key: str) -> dict[str, tuple[float, float]]:
    """Per held-out clip: the agreement threshold the other clips choose (ties: the lowest) and the
    clip's mean r under it."""
    out = {}
    for clip in dict.fromkeys(r["clip"] for r in rows):
        others = [r for r in rows if r["clip"] != clip]
        scores = [_mean(others, lambda r, t=t: _agree_rule(r, key, t)) for t in AGREE_GRID]
        t = AGREE_GRID[int(np.nanargmax(scores))]
        out[clip] = (t, float(np.nanmean([_agree_rule(r, key, t) for r in rows if r["clip"] == clip])))
    return out


def route_report(rows: list[dict]) -> str:
    """The route decision by agreement with free recognition vs by the transcript fit, held out."""
    from .route_choice import loco_threshold

    clips = list(dict.fromkeys(r["clip"] for r in rows))
    fit = {c: (t, h) for c, t, h in loco_threshold(rows)}
    agree = {k: loco_agreement(rows, k) for k in ("agree_viseme", "agree_broad")}
    lines = ["| clip | windows | engine | aligned (forced) | recognised | agreement viseme / broad (mean) | "
             "fit rule (held out) | viseme-agreement rule (held out) | broad-agreement rule (held out) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in clips:
        rs = [r for r in rows if r["clip"] == c]
        lines.append(f"| {c} | {len(rs)} | {np.nanmean([r['engine'] for r in rs]):+.3f} | "
                     f"{np.nanmean([r['aligned'] for r in rs]):+.3f} | {np.nanmean([r['recognized'] for r in rs]):+.3f} | "
                     f"{np.nanmean([r['agree_viseme'] for r in rs]):.2f} / {np.nanmean([r['agree_broad'] for r in rs]):.2f} | "
                     f"{fit[c][1]:+.3f} (t={fit[c][0]:g}) | " + " | ".join(
                         f"{agree[k][c][1]:+.3f} (t={agree[k][c][0]:g})" for k in agree) + " |")
    lines.append(f"| **mean over clips** | {len(rows)} | {_mean(rows, lambda r: r['engine']):+.3f} | "
                 f"{_mean(rows, lambda r: r['aligned']):+.3f} | {_mean(rows, lambda r: r['recognized']):+.3f} | | "
                 f"{np.mean([v[1] for v in fit.values()]):+.3f} | " + " | ".join(
                     f"{np.mean([v[1] for v in agree[k].values()]):+.3f}" for k in agree) + " |")
    lines += ["", "Per window: clip, target, engine chose, fit, cover, agreement viseme/broad, r aligned/recognised:"]
    lines += [f"- {r['clip']} {tuple(r['target'])} {r['engine_method']} fit {r['fit']:.1f} cover {r['cover']:.2f} "
              f"agree {r['agree_viseme']:.2f}/{r['agree_broad']:.2f} r {r['aligned']:+.2f}/{r['recognized']:+.2f}"
              for r in rows]
    return "\n".join(lines)


def report(rows: list[dict]) -> str:
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    cols = {"engine": lambda r: r["engine"], "recognised": lambda r: r["recognized"],
            "loudness only": lambda r: r["acoustic"], "acoustic model alone": lambda r: r["model"],
            "phone model alone": lambda r: r.get("phone model alone", np.nan)}
    routes = [r for r in ("recognized", "acoustic", "closures", "cv") if r in rows[0]]
    cols.update({f"{r} (rule)": (lambda row, r=r: row[r]) for r in routes[2:]})
    held = {f"{route}+model (held out)": loco(rows, route) for route in routes}
    if "recognized+phones@1" in rows[0]:
        held["recognized+phone model (held out)"] = loco(rows, "recognized", _phones)
    held["engine+ (held out)"] = loco(rows, "recognized", _engine_plus)
    lines = ["| clip | windows | " + " | ".join([*cols, *held]) + " |", "|---" * (2 + len(cols) + len(held)) + "|"]
    for clip in clips:
        rs = [r for r in rows if r["clip"] == clip]
        lines.append(f"| {clip} | {len(rs)} | " + " | ".join(f"{np.nanmean([f(r) for r in rs]):+.3f}" for f in cols.values())
                     + " | " + " | ".join(f"{h[clip][1]:+.3f} (s={h[clip][0]:g})" for h in held.values()) + " |")
    lines.append(f"| **mean over clips** | {len(rows)} | " + " | ".join(f"**{_mean(rows, f):+.3f}**" for f in cols.values())
                 + " | " + " | ".join(f"**{np.nanmean([v[1] for v in h.values()]):+.3f}**" for h in held.values()) + " |")
    non_en = [c for c in clips if c in NON_ENGLISH]
    if non_en:
        lines.append("| non-English mean | | " + " | ".join(
            f"{np.nanmean([np.nanmean([f(r) for r in rows if r['clip'] == c]) for c in non_en]):+.3f}" for f in cols.values())
            + " | " + " | ".join(f"{np.nanmean([h[c][1] for c in non_en]):+.3f}" for h in held.values()) + " |")
    lines += ["", "Fixed shares (not held out, for the curve): " + "; ".join(
        f"{route} @{s:g}: {_mean(rows, lambda r, s=s, route=route: _variant(r, route, s)):+.3f}"
        for route in routes for s in SHARES)]
    if "recognized+phones@1" in rows[0]:
        lines[-1] += "; recognized+phone model " + "; ".join(
            f"@{s:g}: {_mean(rows, lambda r, s=s: _phones(r, 'recognized', s)):+.3f}" for s in SHARES)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", default=list(CLIPS))
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--aligned", action="store_true", help="also force-align every window (Whisper) and score "
                    "choosing the route by the alignment's agreement with free phone recognition")
    ap.add_argument("--report", type=Path, metavar="JSON", help="print the table from saved --json rows")
    args = ap.parse_args(argv)
    if args.report:
        rows = json.loads(args.report.read_text())
        print(report(rows))
        if "aligned" in rows[0]:
            print()
            print(route_report(rows))
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    runtime.tune_process()
    rows = evaluate(SpeechAnalyzer(EngineConfig()), args.media, args.clips, args.aligned)
    if args.json:
        args.json.write_text(json.dumps(rows, allow_nan=True))
    print(report(rows))
    if "aligned" in rows[0]:
        print()
        print(route_report(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
