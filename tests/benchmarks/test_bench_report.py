"""The report writer: every section renders, and each target line gets the right verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmarks.child import RunResult
from benchmarks.quality import LandmarkScores, PixelScores
from benchmarks.suite import EmotionRow, QualityRow, SpeedRow

from benchmarks import report, run

MACHINE = {"commit": "abc", "command": "x", "date": "d", "cpu": "c", "cores": "2", "threads": "t"}


def ok_run(wall_s: float, duration_s: float = 5.0, rss: int = 2**30) -> RunResult:
    return RunResult(wall_s=wall_s, duration_s=duration_s, n_frames=125, peak_rss_bytes=rss,
                     timings_s={"analyze": wall_s / 2, "render": wall_s / 2}, speech_method="aligned")


def xseg_rows(r_value: float, lag: int, ci: tuple[float, float] = (float("nan"), float("nan"))) -> list[QualityRow]:
    lm = LandmarkScores(lipsync_r=r_value, av_lag=lag, av_peak_r=0.5, pause_closed=0.95, pause_frames=10,
                        jitter_ratio=1.1, lipsync_ci=ci)
    return [
        QualityRow("cross-segment", "clip", "truth", lm=LandmarkScores(lipsync_r=1.0)),
        QualityRow("cross-segment", "clip", "baseline", lm=LandmarkScores(lipsync_r=0.05)),
        QualityRow("cross-segment", "clip", "lips", run=ok_run(4.0), lm=lm, px=PixelScores(psnr_outside_db=45.0,
                                                                                    pose_change_deg=0.2)),
    ]


def test_lip_sync_r_is_reported_with_its_interval_per_clip_and_for_the_mean() -> None:
    rows = xseg_rows(0.6, 0, ci=(0.44, 0.72))
    mean_row = run.summary_rows(["lips"], rows, [], [])[0]
    # one clip: its own standard error (0.28 / 3.92), symmetric around r: 0.6 ± 0.14
    assert "95 % interval 0.46–0.74" in mean_row[2] and mean_row[-1] == "pass"
    assert "0.60 [0.44–0.72] (0.05)" in report.cross_segment_tables(rows)


def test_the_summary_passes_a_good_run_and_fails_a_late_mouth() -> None:
    good = run.summary_rows(["lips"], xseg_rows(0.6, 0), [], [])
    assert good[0][-1] == "pass" and all(r[-1] in ("pass", "—") for r in good)
    late = run.summary_rows(["lips"], xseg_rows(0.6, 3), [], [])
    lag_row = next(r for r in late if r[0].startswith("worst AV lag"))
    assert lag_row[2] == "+3" and "FAIL" in lag_row[-1]


def test_the_speed_summary_compares_720p_with_its_floor() -> None:
    speed = [SpeedRow("720p", "floor", [ok_run(2.0)]), SpeedRow("720p", "lips", [ok_run(5.0), ok_run(4.5)])]
    rows = {r[0]: r for r in run.summary_rows([], [], [], speed)}
    assert rows["720p real-time factor (lips, min)"][2] == "0.90"
    assert rows["720p time × decode+encode floor (lips)"][2] == "2.25"
    assert "FAIL" in rows["720p time × decode+encode floor (lips)"][-1]


def test_the_whole_report_renders_when_every_engine_run_failed(tmp_path: Path) -> None:
    failed = RunResult(error="EngineError", message="boom")
    xseg = [QualityRow("cross-segment", "clip", "truth"), QualityRow("cross-segment", "clip", "baseline"),
            QualityRow("cross-segment", "clip", "lips", run=failed)]
    speed = [SpeedRow("720p", "floor", [ok_run(2.0)]), SpeedRow("720p", "lips", [failed])]
    emotion = [EmotionRow("clip", "happy", 0.5, RunResult(error="ModeNotImplemented"))]
    text = run.render_markdown(MACHINE, ["lips"], xseg, [], emotion, speed, [], "none", 1.0, True)
    for heading in ("## Targets", "## Cross-segment", "## Speed", "## Emotion", "## How each number"):
        assert heading in text
    assert "failed: EngineError" in text
    assert "face mode: not implemented" in text


def test_a_contact_sheet_stacks_input_above_output(tmp_path: Path) -> None:
    crops = [(np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8))] * 3
    row = QualityRow("cross-segment", "clip", "lips", run=ok_run(1.0), px=PixelScores(crops=crops))
    path = report.contact_sheet([row], tmp_path / "sheet.png")
    import cv2

    img = cv2.imread(str(path))
    assert img.shape[1] == 24
    assert img[22:30].max() == 0 and img[30:38].min() == 255  # label, then input (black), then output


def test_head_mode_is_judged_outside_the_head_region_and_fails_on_a_torn_band() -> None:
    rows = xseg_rows(0.6, 0)
    good = PixelScores(psnr_outside_db=44.0, region="head", psnr_outside_face_db=37.0, psnr_outside_head_db=44.0,
                       psnr_far_db=46.0, band_changed=0.0001, band_changed_worst=0.001)
    torn = PixelScores(psnr_outside_db=44.0, region="head", psnr_outside_face_db=37.0, psnr_outside_head_db=44.0,
                       psnr_far_db=46.0, band_changed=0.001, band_changed_worst=0.02)
    rows += [QualityRow("cross-segment", "clip", "head", run=ok_run(4.0), lm=rows[-1].lm, px=good),
             QualityRow("cross-segment", "other", "head", run=ok_run(4.0), lm=rows[-1].lm, px=torn)]
    rows += [QualityRow("cross-segment", "other", m, lm=r.lm, px=r.px) for m, r in (("truth", rows[0]),
                                                                                   ("baseline", rows[1]))]
    text = report.cross_segment_tables(rows)
    head_lines = [line for line in text.splitlines() if "| head (" in line]
    assert "44.0 outside head" in head_lines[0] and "band pass" in head_lines[0]
    assert "band **FAIL**" in head_lines[1]
    assert "head region" in text and "Lucas–Kanade" in text  # the rule is printed with the table


def _window_rows(clip: str, label: str, r_value: float, n_eff: float, steps: list[float]) -> list[QualityRow]:
    from benchmarks import tears

    half = 1.96 / np.sqrt(n_eff - 3)  # Fisher's z interval for this many effective frames
    lo_hi = (float(np.tanh(np.arctanh(r_value) - half)), float(np.tanh(np.arctanh(r_value) + half)))
    frames = [tears.TearFrame(s, 0.01, 0.01, 30) for s in steps]
    torn = [tears.TearFrame(0.09, 0.01, 0.0, 30)] * len(steps)
    base_px = PixelScores(tear_frames=[tears.TearFrame(0.01, 0.01, 0.01, 30)] * len(steps), torn_frames=torn)
    lm = LandmarkScores(lipsync_r=r_value, lipsync_ci=lo_hi, lipsync_neff=n_eff, lipsync_frames=200, av_peak_r=0.5)
    summary = tears.summarise(frames, 0.05, 0.04)
    return [
        QualityRow("cross-segment", clip, "truth", window=label),
        QualityRow("cross-segment", clip, "baseline", lm=LandmarkScores(lipsync_r=0.0, lipsync_ci=(-0.2, 0.2)),
                   px=base_px, window=label, tear=tears.summarise(base_px.tear_frames, 0.05, 0.04)),
        QualityRow("cross-segment", clip, "lips", run=ok_run(4.0), lm=lm, px=PixelScores(tear_frames=frames),
                   window=label, tear=summary),
    ]


def test_windows_pool_per_clip_and_groups_and_tears_get_their_verdicts() -> None:
    from benchmarks import catalog

    rows = (_window_rows("dfrf_cnn2_25fps", "dfrf_cnn2_25fps #1/2", 0.6, 60, [0.01] * 100)
            + _window_rows("dfrf_cnn2_25fps", "dfrf_cnn2_25fps #2/2", 0.4, 60, [0.01] * 100)
            + _window_rows("pcavs_00373", "pcavs_00373", 0.2, 30, [0.01] * 90 + [0.2] * 10))
    facts = {"dfrf_cnn2_25fps": catalog.ClipFacts(120, 3, 2, 1, 0), "pcavs_00373": catalog.ClipFacts(50, 30, 4, 1, 0)}
    est = report.clip_estimates(rows, "lips")
    assert 0.4 < est["dfrf_cnn2_25fps"][0] < 0.6 and est["pcavs_00373"][0] == pytest.approx(0.2)
    summary = {r[0]: r for r in run.summary_rows(["lips"], rows, [], [], facts)}
    mean = summary["cross-segment lip-sync r, mean (lips)"]
    assert "over 2 clips, 3 windows" in mean[2] and "between clips" in mean[2] and "FAIL" in mean[-1]
    worst = summary["cross-segment lip-sync r, worst group (lips)"]
    assert "0.20" in worst[2] and "FAIL" in worst[-1]
    tear = summary["tear: outline step p99, worst clip (lips)"]
    assert "pcavs_00373" in tear[2] and "FAIL" in tear[-1]
    groups = report.group_table(rows, facts, ["lips"])
    assert "| VFR | no dev clip falls in this group |" in groups
    assert "| frontal close-up | dfrf_cnn2_25fps |" in groups
    tear_text = report.tear_tables(rows, ["lips"])
    assert tear_text.count("| pass |") >= 2  # the measure separates do-nothing from torn on both clips
    assert "10 / 100" in tear_text  # pcavs: 10 torn frames of 100


def test_speed_can_be_re_measured_into_the_committed_report_without_its_measurements_file() -> None:
    """--speed-only after the full run's pickle is gone: only the speed parts of the report change."""
    committed = (Path(run.REPO_ROOT) / "docs" / "benchmarks.md").read_text()
    speed = [SpeedRow("720p", "floor", [ok_run(2.0)]), SpeedRow("720p", "lips", [ok_run(4.0)]),
             SpeedRow("1080p 60 s", "floor", [ok_run(20.0, 60.0, rss=2**29)]),
             SpeedRow("1080p 60 s", "lips", [ok_run(40.0, 60.0, rss=2**30)])]
    new = run.replace_speed(committed, speed, "today, commit abc, load 0.0")
    assert "| 720p real-time factor (lips, min) | ≤ 1.0 | 0.80 | 0.40 (floor) | pass |" in new
    assert "| peak RSS, 60 s 1080p (lips) | ≤ 1.5 GiB | 1.00 GiB | 0.50 GiB (floor) | pass |" in new
    assert "- **speed re-measured**: today, commit abc, load 0.0" in new
    assert new.count("## Speed") == 1 and new.count("### Milliseconds per output frame") == 1
    # everything outside the speed section and the three speed targets is as it was
    def outside(text: str) -> list[str]:
        lines = text.split("\n")
        a = lines.index("## Speed")
        b = next(i for i in range(a + 1, len(lines)) if lines[i].startswith("## "))
        keep = lines[:a] + lines[b:]
        return [ln for ln in keep if not ln.startswith(("| 720p real-time", "| 720p time ×", "| peak RSS, 60 s",
                                                        "- **speed re-measured**"))]
    assert outside(new) == outside(committed)
    # and doing it twice leaves one machine line, not two
    again = run.replace_speed(new, speed, "later")
    assert again.count("speed re-measured") == 1


def test_speed_is_not_patched_into_a_report_without_the_parts_it_replaces() -> None:
    with pytest.raises(ValueError, match="Speed"):
        run.replace_speed("# Benchmarks\n\nnothing here\n", [], "x")
