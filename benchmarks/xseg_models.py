"""Cross-segment lip-sync of lips mode under two mouth-model data files, on the same windows.

    .venv/bin/python -m benchmarks.xseg_models OLD.npz NEW.npz [--clips a,b] [--media DIR]

The check a rebuilt ``motion/data/mouth_trajectory.npz`` needs before it ships (``make
mouth-model``), at a fraction of ``benchmarks/run.py``'s cost: every window of ``make bench``'s
cross-segment test (:meth:`benchmarks.suite.Suite.windows`) is analysed once (the
:mod:`benchmarks.analyses` cache), planned in lips mode with ``EngineConfig(mouth_model=OLD)`` and
with ``NEW``, rendered, and measured by the benchmark's own measurer against the real target
window. Only the lip-sync numbers (r with its interval, AV lag); no pixel, tear or identity
measures, and no do-nothing baseline. Prints per window, per clip (windows pooled as in the
report), the mean over clips with both intervals, the non-English group, and the paired
new − old difference per clip.

``--loudness-only`` drives every window by the loudness tracks alone (its phones and words dropped,
pauses from the energy: what the speech stage returns when recognition finds nothing, as
``benchmarks.speech_routes``' "acoustic" route), the only speech ``MouthModel.acoustic_methods``
sends to the acoustic model.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
from pathlib import Path

import numpy as np

import reperform
from benchmarks import catalog, metrics, speech_routes
from benchmarks import report as R
from benchmarks.analyses import cached_analysis
from benchmarks.measure import measure_video
from benchmarks.quality import driving_curves, landmark_scores
from benchmarks.suite import SPEECH_CLIPS, Suite
from reperform import media
from reperform.config import EngineConfig
from reperform.options import GenerateOptions

log = logging.getLogger(__name__)


def window_scores(suite: Suite, clip: str, models: dict[str, str], *,
                  loudness_only: bool = False) -> list[dict[str, object]]:
    """One row per (window, model): r, its interval and n_eff, AV lag, the target's speech route."""
    rows: list[dict[str, object]] = []
    orig = suite.original_landmarks(clip)
    for w in suite.windows(clip):
        first, truth = orig[w.source_start:w.target_start], orig[w.target_start:]
        analysis = cached_analysis(w.video, w.audio)
        audio = media.load_audio(w.audio)
        if loudness_only:
            analysis = dataclasses.replace(analysis, speech=speech_routes.loudness_only(analysis.speech, audio))
        rest = metrics.rest_level(metrics.mouth_opening(first))
        planned = {}
        for name, path in models.items():
            plan = reperform.plan(analysis, GenerateOptions.parse(mode="lips"), config=EngineConfig(mouth_model=path))
            planned[name] = plan.motion.mouth[:, 0]
            tag = "loudness." if loudness_only else ""
            out = suite.work / f"{w.video.name.removesuffix('.source.mp4')}.xseg.lips.{tag}{name}.mp4"
            reperform.render(analysis, plan, out)
            lm = measure_video(out).landmarks
            n = len(lm)
            env, in_pause = driving_curves(audio.samples, audio.rate, w.fps, n)
            s = landmark_scores(lm, envelope=env, in_pause=in_pause, rest=rest, input_lm=first,
                                truth_opening=metrics.mouth_opening(truth)[:n])
            rows.append({"clip": clip, "window": w.label, "model": name, "r": s.lipsync_r, "ci": s.lipsync_ci,
                         "neff": s.lipsync_neff, "lag": s.av_lag, "route": analysis.speech.method})
            log.info("%s %s: r %.3f [%.3f–%.3f], AV lag %+d, speech %s", w.label, name, s.lipsync_r,
                     *s.lipsync_ci, s.av_lag, analysis.speech.method)
        a, b = planned.values()
        m = min(len(a), len(b))
        log.info("%s: planned openings old vs new r %.3f, mean |Δ| %.4f", w.label,
                 float(np.corrcoef(a[:m], b[:m])[0, 1]), float(np.mean(np.abs(a[:m] - b[:m]))))
    return rows


def pooled(rows: list[dict[str, object]]) -> tuple[float, float, float]:
    """A clip's r and interval over its windows (:func:`metrics.pooled_estimate`)."""
    return metrics.pooled_estimate([x["r"] for x in rows], [x["ci"] for x in rows], [x["neff"] for x in rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", help="the mouth-model file to compare against (e.g. the shipped one)")
    ap.add_argument("new", help="the candidate mouth-model file")
    ap.add_argument("--clips", help=f"comma-separated subset of {','.join(SPEECH_CLIPS)}")
    ap.add_argument("--media", default=os.environ.get("REPERFORM_SHARED_MEDIA",
                                                      str(Path(__file__).resolve().parents[2] / "shared" / "media")))
    ap.add_argument("--loudness-only", action="store_true",
                    help="drive every window by its loudness alone (the acoustic model's route)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    models = {"old": str(Path(args.old).resolve()), "new": str(Path(args.new).resolve())}
    clip_names = args.clips.split(",") if args.clips else list(SPEECH_CLIPS)
    suite = Suite(Path(args.media), ["lips"], contact=False)
    rows = [row for clip in clip_names for row in window_scores(suite, clip, models, loudness_only=args.loudness_only)]

    print("per window: r [95 %] old | new (AV lag), target speech route")
    for x, y in zip(rows[0::2], rows[1::2], strict=True):
        print(f"  {x['window']:34s} {x['r']:+.3f} {R.interval(x['ci'])}({x['lag']:+d}) | "
              f"{y['r']:+.3f} {R.interval(y['ci'])}({y['lag']:+d})  {x['route']}")
    est = {name: {c: pooled([x for x in rows if x["clip"] == c and x["model"] == name]) for c in clip_names}
           for name in models}
    print("per clip (windows pooled): old | new | new − old")
    for c in clip_names:
        o, n = est["old"][c], est["new"][c]
        print(f"  {c:28s} {o[0]:+.3f} {R.interval(o[1:])}| {n[0]:+.3f} {R.interval(n[1:])}| {n[0] - o[0]:+.3f}")
    groups = {"mean over clips": clip_names,
              "non-English": [c for c in clip_names if catalog.BY_STEM[c].language != "en"]}
    for label, members in groups.items():
        if not members:
            continue
        texts = [R.mean_text(R.mean_of({c: est[name][c] for c in members if math.isfinite(est[name][c][0])}))
                 for name in models]
        deltas = [d for c in members if math.isfinite(d := est["new"][c][0] - est["old"][c][0])]
        print(f"  {label:28s} {texts[0]} | {texts[1]} | {np.mean(deltas):+.3f} "
              f"(clips up {sum(d > 0 for d in deltas)}/{len(deltas)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
