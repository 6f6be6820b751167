"""The report writer: every section renders, and each target line gets the right verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
