"""Markdown for ``docs/benchmarks.md`` and the PNG mouth contact sheets.

Every number stands beside its do-nothing baseline, per clip, with a pass/fail column against the
targets in :mod:`benchmarks.targets`; a mode the engine lacks is written "not implemented".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from benchmarks import metrics as M
from benchmarks import quality as Q
from benchmarks import targets as T
from benchmarks.quality import PixelScores
from benchmarks.suite import EmotionRow, QualityRow, SpeedRow

GIB = 2**30


def f(x: float | None, digits: int = 2, pct: bool = False) -> str:
    """A number for a table cell; NaN/None as a dash."""
    if x is None or not math.isfinite(x):
        return "—"
    return f"{100 * x:.0f} %" if pct else f"{x:.{digits}f}"


def table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _status(row: QualityRow) -> str | None:
    """None when the row has numbers; otherwise the text that replaces them."""
    if row.run is None or row.run.ok:
        return None
    if row.run.not_implemented:
        return "not implemented"
    return f"failed: {row.run.error}: {row.run.message[:120]}".replace("|", "/")


def cross_segment_tables(rows: list[QualityRow]) -> str:
    """Per clip × mode: every quality number beside the baseline (and the real second half)."""
    by_clip: dict[str, dict[str, QualityRow]] = {}
    for r in rows:
        by_clip.setdefault(r.clip, {})[r.mode] = r
    header = ["clip", "mode", "lip-sync r (baseline)", "AV lag fr (baseline / truth)", "AV peak r",
              "pause at rest (baseline / truth; frames)", "jitter × input (baseline)",
              "PSNR outside dB (baseline)", "head mode background: PSNR outside head / far dB, band changed worst frame",
              "identity dist (baseline)", "pose Δ° (baseline)", "checks"]
    out = []
    for clip, modes in by_clip.items():
        base, truth = modes["baseline"], modes["truth"]
        for mode, r in modes.items():
            if mode in ("baseline", "truth"):
                continue
            status = _status(r)
            if status:
                out.append([clip, mode, status] + [""] * (len(header) - 3))
                continue
            checks = [
                ("lag", abs(r.lm.av_lag) <= T.AV_LAG_MAX_FRAMES if T.finite(r.lm.av_peak_r) else None),
                ("pause", r.lm.pause_closed >= T.PAUSE_CLOSED_MIN if r.lm.pause_frames else None),
                ("jitter", r.lm.jitter_ratio <= T.JITTER_RATIO_MAX if T.finite(r.lm.jitter_ratio) else None),
                ("PSNR", r.px.psnr_outside_db >= T.PSNR_OUTSIDE_MIN_DB if T.finite(r.px.psnr_outside_db) else None),
            ]
            if r.px.region == "head":
                checks.append(("band", band_ok(r.px)))
            if mode in ("lips", "face"):
                ok = r.px.pose_change_deg <= T.POSE_CHANGE_MAX_DEG if T.finite(r.px.pose_change_deg) else None
                checks.append(("pose", ok))
            speech = f" ({r.run.speech_method})" if r.run is not None and r.run.speech_method else ""
            out.append([
                clip, mode + speech,
                (f"{f(r.lm.lipsync_r)} {interval(r.lm.lipsync_ci)}({f(base.lm.lipsync_r)})" if T.finite(r.lm.lipsync_r)
                 else f"— (truth measurable in {r.lm.lipsync_frames} frames, < {M.MIN_TRUTH_FRAMES})"),
                f"{r.lm.av_lag:+d} ({base.lm.av_lag:+d} / {truth.lm.av_lag:+d})",
                f"{f(r.lm.av_peak_r)} ({f(base.lm.av_peak_r)} / {f(truth.lm.av_peak_r)})",
                f"{f(r.lm.pause_closed, pct=True)} ({f(base.lm.pause_closed, pct=True)} / "
                f"{f(truth.lm.pause_closed, pct=True)}; {r.lm.pause_frames})",
                f"{f(r.lm.jitter_ratio)} ({f(base.lm.jitter_ratio)})",
                psnr_cell(r.px, base.px),
                head_background_cell(r.px, base.px),
                f"{f(r.px.identity_distance, 3)} ({f(base.px.identity_distance, 3)})",
                f"{f(r.px.pose_change_deg)} ({f(base.px.pose_change_deg)})",
                ", ".join(f"{name} {T.verdict(ok)}" for name, ok in checks if ok is not None),
            ])
    return table(header, out) + "\n\n" + BACKGROUND_AND_POSE_NOTE


def interval(ci: tuple[float, float]) -> str:
    """A 95 % interval as ``[lo–hi] `` (with its trailing space), or nothing when unknown."""
    lo, hi = ci
    return f"[{f(lo)}–{f(hi)}] " if T.finite(lo) and T.finite(hi) else ""


def mean_interval(rows: list[QualityRow]) -> tuple[float, float]:
    """95 % interval of the mean lip-sync r over ``rows``: each clip's standard error read off its
    own interval (half-width / 1.96), combined as independent clips."""
    ses, vals = [], []
    for r in rows:
        lo, hi = r.lm.lipsync_ci
        if not (T.finite(r.lm.lipsync_r) and T.finite(lo) and T.finite(hi)):
            return float("nan"), float("nan")
        ses.append((hi - lo) / (2 * 1.96))
        vals.append(r.lm.lipsync_r)
    if not vals:
        return float("nan"), float("nan")
    half = 1.96 * float(np.sqrt(np.sum(np.square(ses)))) / len(vals)
    return float(np.mean(vals)) - half, float(np.mean(vals)) + half


def band_ok(px: PixelScores) -> bool | None:
    """Head mode's no-holes check on the band around the head region (None if there is no band:
    the head region fills the frame)."""
    return px.band_changed_worst <= M.BAND_CHANGED_MAX if T.finite(px.band_changed_worst) else None


def psnr_cell(px: PixelScores, base: PixelScores) -> str:
    """The background PSNR the target is checked on, beside the baseline's over the same region."""
    if px.region == "head":
        return f"{f(px.psnr_outside_db, 1)} outside head ({f(base.psnr_outside_head_db, 1)})"
    return f"{f(px.psnr_outside_db, 1)} ({f(base.psnr_outside_db, 1)})"


def head_background_cell(px: PixelScores, base: PixelScores) -> str:
    """PSNR outside the head region and far from it, and the band's worst frame, beside the baseline's."""
    if not T.finite(px.psnr_outside_head_db):
        return "— (head region fills the frame)"
    return (f"{f(px.psnr_outside_head_db, 1)} / {f(px.psnr_far_db, 1)}, {f(100 * px.band_changed_worst, 2)} % "
            f"({f(base.psnr_outside_head_db, 1)} / {f(base.psnr_far_db, 1)}, {f(100 * base.band_changed_worst, 2)} %)")


#: What the background and pose columns measure (printed under the per-clip table).
BACKGROUND_AND_POSE_NOTE = (
    f"**Background.** Lips and face modes: PSNR outside the face region (part 1's mask). Head mode moves "
    f"head, hair and neck by design, so its background number excludes the *head region* instead, built "
    f"from the reference frame's mesh alone (the same rule for every method and mode): the mesh's bounding "
    f"box (W × H) grown by {M.HEAD_SIDE_W:g} W to each side, {M.HEAD_ABOVE_H:g} H upwards (skull, hair) and "
    f"{M.HEAD_BELOW_H:g} H downwards (neck). The *band* is the ring {M.BAND_WIDTH:g} × max(W, H) wide around "
    f"it; 'far' is everything outside region and band. Holes and tears: per frame, the share of band "
    f"pixels whose largest channel difference exceeds {M.CHANGED_LEVELS} levels; the worst frame must stay "
    f"≤ {100 * M.BAND_CHANGED_MAX:g} % (a re-encode: ~0.01 %; a black hole a fifth of the face wide: ~1 %). "
    f"Head-region numbers are shown for every mode so they can be compared. "
    f"**Pose Δ.** The reference frame's rigid upper-face points ({len(M.UPPER_FACE_POINTS)}: upper "
    f"forehead, temples, eye corners, nose bridge — no lips, jaw, cheeks or brows) are followed into the "
    f"output frame by their pixels (pyramidal Lucas–Kanade, forward–backward error ≤ {M.TRACK_FB_MAX_PX} px) "
    f"and a weak-perspective rotation is fitted to them with the reference mesh's depth; the number is the "
    f"mean rotation angle after a 5-frame running median. The output's own mesh is not used: MediaPipe "
    f"refits the whole mesh when the mouth changes, which read as 0.7–1.8° on lips-mode outputs whose "
    f"upper face is pixel-identical to the baseline. The baseline's value (vs its input) is the noise floor."
)


def lipsync_summary(rows: list[QualityRow], modes: list[str]) -> list[list[str]]:
    """Mean cross-segment r per mode against the target, with the baseline's mean."""
    out = []
    base = [r.lm.lipsync_r for r in rows if r.mode == "baseline" and T.finite(r.lm.lipsync_r)]
    for mode in modes:
        sel = [r for r in rows if r.mode == mode]
        if sel and all(r.run is not None and r.run.not_implemented for r in sel):
            out.append([f"cross-segment lip-sync r, mean ({mode})", f"≥ {T.LIPSYNC_MEAN_R_MIN}", "not implemented",
                        f(np.mean(base) if base else float("nan")), "—"])
            continue
        ran = [r for r in sel if r.run is not None and r.run.ok]
        vals = [r.lm.lipsync_r for r in ran if T.finite(r.lm.lipsync_r)]
        failed = len(sel) - len(ran)
        thin = [r.clip for r in ran if not T.finite(r.lm.lipsync_r)]
        mean = float(np.mean(vals)) if vals else float("nan")
        ok = None if not vals else (mean >= T.LIPSYNC_MEAN_R_MIN and not failed)
        note = f" ({failed} clip(s) failed)" if failed else ""
        lo, hi = mean_interval([r for r in ran if T.finite(r.lm.lipsync_r)])
        if T.finite(lo):
            note += f" (95 % interval {f(lo)}–{f(hi)})"
        if thin:
            note += f" (over {len(vals)} clips; too little measurable truth in: {', '.join(thin)})"
        out.append([f"cross-segment lip-sync r, mean ({mode})", f"≥ {T.LIPSYNC_MEAN_R_MIN}", f(mean) + note,
                     f(np.mean(base) if base else float("nan")), T.verdict(ok)])
    return out


def pause_table(rows: list[QualityRow]) -> str:
    base = {r.clip: r for r in rows if r.mode == "baseline"}
    out = []
    for r in rows:
        if r.mode == "baseline":
            continue
        status = _status(r)
        if status:
            out.append([r.clip, r.mode, status, "", "", "", "", "", ""])
            continue
        b = base[r.clip]
        ok = r.lm.pause_closed >= T.PAUSE_CLOSED_MIN if r.lm.pause_frames else None
        out.append([
            r.clip, r.mode, f"{f(r.lm.pause_closed, pct=True)} ({f(b.lm.pause_closed, pct=True)})",
            str(r.lm.pause_frames), f"{f(r.lm.pause_open_median, 3)} ({f(b.lm.pause_open_median, 3)})",
            f"{f(r.lm.rest, 3)} + {M.REST_TOLERANCE_IOD}",
            f"{r.lm.av_lag:+d} ({b.lm.av_lag:+d})", f"{f(r.lm.jitter_ratio)}",
            T.verdict(ok),
        ])
    return table(["clip", "mode", "pause frames at rest (baseline)", "pause frames",
                  "median opening in pauses (baseline)", "rest level + tolerance", "AV lag (baseline)",
                  "jitter × input", f"≥ {T.PAUSE_CLOSED_MIN:.0%}"], out)


def speed_table(rows: list[SpeedRow]) -> str:
    floors = {r.label: r for r in rows if r.mode == "floor"}
    out = []
    for r in rows:
        if not r.ok_runs:
            err = r.runs[0] if r.runs else None
            text = "not implemented" if err and err.not_implemented else f"failed: {err.error if err else '?'}"
            out.append([r.label, r.mode, text, "", "", "", "", ""])
            continue
        fl = floors.get(r.label)
        ratio = r.rtf("min") / fl.rtf("min") if fl and fl.ok_runs and r.mode != "floor" else float("nan")
        check: bool | None = None
        if r.label == "720p" and r.mode == "lips":
            check = r.rtf("min") <= T.RTF_720P_MAX and ratio <= T.FLOOR_RATIO_720P_MAX
        elif r.label == "720p" and r.mode == "head":
            check = ratio <= T.HEAD_FLOOR_RATIO_720P_MAX
        elif r.label == "1080p 60 s" and r.mode != "floor":
            check = r.peak_rss_bytes <= T.RSS_60S_1080P_MAX_BYTES
        out.append([
            r.label, r.mode, f"{f(r.rtf('min'))} / {f(r.rtf('median'))}", f(ratio),
            f"{r.peak_rss_bytes / GIB:.2f}", str(len(r.ok_runs)), f"{r.ok_runs[0].duration_s:.1f}",
            T.verdict(check),
        ])
    return table(["input", "mode", "RTF min / median", "× floor (min/min)", "peak RSS GiB", "runs",
                  "output s", "target"], out)


def stage_table(rows: list[SpeedRow]) -> str:
    """ms per output frame of each stage, from ``GenerateResult.timings_s`` of the fastest run."""
    stages: list[str] = []
    for r in rows:
        for run in r.ok_runs:
            stages += [s for s in run.timings_s if s not in stages]
    out = []
    for r in rows:
        if r.mode == "floor" or not r.ok_runs:
            continue
        best = min(r.ok_runs, key=lambda x: x.wall_s)
        n = max(1, best.n_frames)
        out.append([r.label, r.mode] + [f"{1000 * best.timings_s[s] / n:.1f}" if s in best.timings_s else "—"
                                        for s in stages] + [f"{1000 * best.wall_s / n:.1f}"])
    header = ["input", "mode"] + stages + ["wall (generate call)"]
    return table(header, out) if out else "(no successful engine run)"


def emotion_table(rows: list[EmotionRow]) -> str:
    if not rows:
        return "(not run)"
    if all(r.run.not_implemented for r in rows):
        return "face mode: not implemented — the signature table is filled in once it lands."
    measures = ["lip_corner_height", "cheek_height", "brow_height", "inner_brow_height", "brow_gap",
                "eye_opening", "nose_lip", "jaw"]
    out = []
    for r in rows:
        if not r.run.ok:
            out.append([r.clip, r.emotion, f"{r.temperature}", f"failed: {r.run.error}"] + [""] * len(measures))
            continue
        expected = T.EMOTION_SIGNATURES[r.emotion]
        ok = all(np.sign(r.deltas[m]) == d for m, d in expected) if expected else None
        out.append([r.clip, r.emotion, f"{r.temperature}", T.verdict(ok)]
                   + [f"{r.deltas[m]:+.3f}" for m in measures])
    return table(["clip", "emotion", "temp", "expected signs"] + measures, out)


def head_table(rows: list[QualityRow]) -> str:
    """Pose change per clip × mode against the baseline: the head-mode motion and its link to speech.

    Takes cross-segment rows and, if given, pause-test rows (8 s of driving audio with real pauses:
    the better test of "still in pauses"); rows without pixel scores (the pause baseline) are skipped.
    """
    out = []
    for r in rows:
        if r.test not in ("cross-segment", "pause") or r.mode == "truth" or _status(r):
            continue
        if r.test == "pause" and not T.finite(r.px.pose_change_deg):
            continue
        check = None
        if r.mode == "head":
            lo, hi = T.HEAD_POSE_STD_RANGE_DEG
            check = lo <= r.lm.pose_std_deg <= hi if T.finite(r.lm.pose_std_deg) else None
        elif r.mode in ("lips", "face"):
            check = r.px.pose_change_deg <= T.POSE_CHANGE_MAX_DEG if T.finite(r.px.pose_change_deg) else None
        out.append([r.clip, r.test, r.mode, f(r.lm.pose_std_deg), f(r.px.added_std_deg),
                    " / ".join(f(v) for v in r.px.pose_axis_std_deg),
                    f(r.px.pose_change_deg), f"{f(r.px.pose_energy_r)} (p {f(r.px.pose_energy_p)})",
                    f(r.px.pose_tracked, pct=True),
                    T.verdict(check)])
    note = (
        "'pose std' is the std of the output's own head pose (mesh axes: eye line, forehead → base of the "
        "nose; mean over yaw/pitch/roll), the source's motion included: issue 5's 1.5–6° target is checked on "
        "it. Every other number is the *change* of head pose from the reference frame made from the same "
        "source frame (outputs: the do-nothing baseline; baseline rows: their input, i.e. the measure's noise "
        "floor), read from the pixels of the rigid upper-face points (see the note under the per-clip table), "
        "so the source's own motion cancels out: 'added std' is its std (mean over axes), what head mode adds. "
        "'r' correlates the change's angular speed with the driving "
        f"speech's RMS envelope, both smoothed by a {1000 * Q.POSE_ENERGY_SMOOTH_S:.0f} ms Gaussian: the head "
        "should move while the voice is loud and rest in pauses (for lips/face rows and the baseline it is a "
        "correlation with noise). p is the share of circular time shifts of the envelope (by ≥ 2 smoothing "
        "widths) that correlate at least as well: a clip half of a few seconds holds only a few independent "
        "gestures, so an r without a small p means little."
    )
    return table(["clip", "test", "mode", "pose std ° (output, absolute)", "added std ° (mean of axes)",
                  "added std pitch / yaw / roll °",
                  "mean pose Δ ° (rotation angle)", "head speed ~ speech envelope r (p)", "frames read",
                  "target"], out) + "\n\n" + note


def contact_sheet(rows: list[QualityRow], path: Path) -> Path | None:
    """Mouth crops per clip: a row of reference (do-nothing) crops above a row of output crops."""
    import cv2

    strips = []
    for r in rows:
        if not r.px.crops:
            continue
        top = np.concatenate([c[0] for c in r.px.crops], axis=1)
        bottom = np.concatenate([c[1] for c in r.px.crops], axis=1)
        label = np.full((22, top.shape[1], 3), 255, np.uint8)
        cv2.putText(label, f"{r.clip} [{r.mode}]: top = input, bottom = output", (4, 16),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        strips.append(np.concatenate([label, top, bottom], axis=0))
    if not strips:
        return None
    width = max(s.shape[1] for s in strips)
    strips = [np.pad(s, ((0, 4), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in strips]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(strips, axis=0), cv2.COLOR_RGB2BGR))
    return path


def median_or_nan(vals: list[float]) -> float:
    vals = [v for v in vals if math.isfinite(v)]
    return statistics.median(vals) if vals else float("nan")
