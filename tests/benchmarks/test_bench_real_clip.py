"""The benchmark's measuring and input-making code on one small real clip (224x224, 5 s)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmarks.child import RunResult, run_child
from benchmarks.measure import measure_video
from benchmarks.suite import QualityRow

from benchmarks import clips, metrics, report

CLIP = "videos/pcavs_00373.mp4"


@pytest.fixture(scope="module")
def clip(media_dir: Path) -> Path:
    return media_dir / CLIP


@pytest.fixture(scope="module")
def clip_landmarks(clip: Path) -> np.ndarray:
    return measure_video(clip, max_frames=40).landmarks


@pytest.mark.media
def test_a_real_speaking_face_is_found_in_almost_every_frame(clip_landmarks: np.ndarray) -> None:
    present = np.isfinite(clip_landmarks[:, 0, 0])
    assert present.mean() >= 0.9
    iod = metrics.inter_ocular(clip_landmarks[present])
    assert np.all((iod > 20) & (iod < 224))


@pytest.mark.media
def test_a_speaking_mouth_opens_and_closes_in_a_plausible_range(clip_landmarks: np.ndarray) -> None:
    opening = metrics.mouth_opening(clip_landmarks)
    opening = opening[np.isfinite(opening)]
    assert opening.min() < 0.1 < opening.max() < 1.0


@pytest.mark.media
def test_the_split_halves_and_the_baseline_line_up_frame_for_frame(clip: Path, tmp_path: Path) -> None:
    split = clips.split_halves(clip, tmp_path)
    from reperform import media

    first = media.probe(split.video)
    assert first.n_frames == split.half_frame
    # The first half keeps the sound under its pictures, in sync (the engine learns the speaker
    # from it): the same samples as the clip's, not shifted by the re-encode.
    assert first.has_audio
    assert first.audio_duration_s == pytest.approx(split.half_frame / split.fps, abs=0.05)
    own = media.load_audio(split.video).samples
    original = media.load_audio(clip).samples
    a, b = 800, min(len(own), len(original)) - 800  # 50 ms margins at 16 kHz for the shifted reads
    r = {d: np.corrcoef(own[a:b], original[a + d:b + d])[0, 1] for d in (-80, 0, 80)}  # ±5 ms
    assert r[0] > 0.95 and r[0] > max(r[-80], r[80])
    second_s = media.probe(split.audio).audio_duration_s
    total_s = media.probe(clip).duration_s
    assert second_s == pytest.approx(total_s - split.half_frame / split.fps, abs=0.1)
    base = media.probe(clips.make_baseline(split.video, split.audio, tmp_path / "base.mp4"))
    assert base.has_audio
    assert abs(base.n_frames - min(first.n_frames, round(second_s * split.fps))) <= 1


@pytest.mark.media
def test_the_baseline_is_nearly_identical_to_its_input_outside_and_inside_the_face(
    clip: Path, tmp_path: Path, clip_landmarks: np.ndarray
) -> None:
    from benchmarks.measure import iter_rgb

    split = clips.split_halves(clip, tmp_path)
    base = clips.make_baseline(split.video, split.audio, tmp_path / "base.mp4")
    a, b = next(iter_rgb(base)), next(iter_rgb(split.video))
    assert metrics.psnr_outside(a, b, metrics.face_mask(clip_landmarks[0], *a.shape[:2])) > 35


@pytest.mark.media
def test_identity_distance_is_small_for_the_same_face_and_large_for_a_blank(clip: Path) -> None:
    pytest.importorskip("dlib")
    pytest.importorskip("face_recognition_models")
    from benchmarks.measure import IdentityEmbedder, iter_rgb

    lm = measure_video(clip, max_frames=1).landmarks[0]
    frame = next(iter_rgb(clip))
    emb = IdentityEmbedder()
    same = emb.embed(frame, lm)
    shifted = emb.embed(np.clip(frame.astype(int) + 8, 0, 255).astype(np.uint8), lm)
    grey = emb.embed(np.full_like(frame, 128), lm)
    assert same is not None and shifted is not None and grey is not None
    assert np.linalg.norm(same - shifted) < 0.2 < np.linalg.norm(same - grey)


@pytest.mark.media
def test_the_floor_child_reports_time_duration_and_memory(clip: Path, tmp_path: Path) -> None:
    res = run_child({"kind": "floor", "video": str(clip), "output": str(tmp_path / "floor.mp4")}, tmp_path)
    assert res.ok, res.message
    assert res.duration_s == pytest.approx(5.1, abs=0.3)
    assert res.wall_s > 0 and res.peak_rss_bytes > 50 * 2**20


def test_an_unimplemented_mode_is_reported_as_such_not_as_a_crash() -> None:
    base = QualityRow("cross-segment", "clip", "baseline")
    truth = QualityRow("cross-segment", "clip", "truth")
    head = QualityRow("cross-segment", "clip", "head", run=RunResult(error="ModeNotImplemented", message="x"))
    text = report.cross_segment_tables([truth, base, head])
    assert "| clip | head | not implemented |" in text


def test_a_failed_run_is_reported_with_its_error_class() -> None:
    rows = [QualityRow("cross-segment", "clip", "truth"), QualityRow("cross-segment", "clip", "baseline"),
            QualityRow("cross-segment", "clip", "lips", run=RunResult(error="EngineError", message="boom"))]
    assert "failed: EngineError: boom" in report.cross_segment_tables(rows)


@pytest.mark.media
def test_expression_signature_and_pose_are_finite_and_steady_on_a_real_face(clip_landmarks: np.ndarray) -> None:
    present = np.isfinite(clip_landmarks[:, 0, 0])
    for name, values in metrics.expression_signature(clip_landmarks[present]).items():
        assert np.all(np.isfinite(values)), name
        assert np.std(values) < 0.2, name  # a talking face, not a random mesh
    pose = metrics.head_pose_deg(clip_landmarks[present])
    assert np.all(np.abs(np.diff(pose, axis=0)) < 10)  # no frame-to-frame jumps of 10° in an interview


@pytest.mark.media
def test_tracked_pose_reads_one_degree_on_a_real_face_and_nothing_for_a_new_mouth(
    clip: Path, clip_landmarks: np.ndarray
) -> None:
    import cv2
    from benchmarks.measure import iter_rgb

    frame, lm = next(iter_rgb(clip)), clip_landmarks[0]
    h, w = frame.shape[:2]
    turned = cv2.warpAffine(frame, cv2.getRotationMatrix2D((w / 2, h * 0.8), 1.0, 1.0), (w, h),
                            flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    rv = metrics.tracked_pose_change(frame, turned, lm)
    assert np.linalg.norm(rv) == pytest.approx(1.0, abs=0.2)
    assert abs(rv[2]) == pytest.approx(1.0, abs=0.15)  # in-plane: roll
    # A different mouth (another frame's, pasted over the lips and jaw) leaves the head where it was.
    mouth = cv2.convexHull(lm[list(metrics.MOUTH_POINTS + metrics.JAW_LINE), :2].astype(np.float32))
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, np.round(mouth).astype(np.int32), 1)
    other = [f for i, f in zip(range(25), iter_rgb(clip), strict=False)][-1]
    new_mouth = np.where(mask[..., None] == 1, other, frame)
    assert np.linalg.norm(metrics.tracked_pose_change(frame, new_mouth, lm)) < 0.15
