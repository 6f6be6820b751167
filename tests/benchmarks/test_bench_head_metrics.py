"""Head mode's background measure and the pixel-tracked pose change, on hand-built frames.

Each measure is checked both ways: it passes what head mode may legitimately do (move the head,
change the mouth) and it catches what it must not (a hole beside the head, a real 1° rotation).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from benchmarks.quality import PixelScores, pose_scores
from benchmarks.report import band_ok

from benchmarks import metrics as M

H, W = 720, 960


def texture(seed: int = 0, h: int = H, w: int = W) -> np.ndarray:
    """A smooth random RGB texture (trackable everywhere, like skin pores and a busy background)."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (h // 4, w // 4, 3)).astype(np.float32)
    img = cv2.resize(cv2.GaussianBlur(noise, (0, 0), 1.5), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip((img - img.mean()) * 2.5 + 128, 0, 255).astype(np.uint8)


def face_mesh(cx: float = 480.0, cy: float = 330.0, width: float = 160.0, height: float = 200.0) -> np.ndarray:
    """A 478-point mesh on an ellipse (W x H box), with the upper-face points spread over the forehead,
    temples, eyes and nose bridge at plausible depths (nose bridge in front, temples behind)."""
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 2 * math.pi, 478)
    rad = np.sqrt(rng.uniform(0, 1, 478))
    lm = np.stack([cx + 0.5 * width * rad * np.cos(a), cy + 0.5 * height * rad * np.sin(a),
                   40 * rad ** 2], axis=1)
    lm[0] = (cx, cy - height / 2, 40)  # pin the box: top, bottom, left, right
    lm[1] = (cx, cy + height / 2, 40)
    lm[2] = (cx - width / 2, cy, 40)
    lm[3] = (cx + width / 2, cy, 40)
    for i, idx in enumerate(M.UPPER_FACE_POINTS):
        u = (i % 6) / 5 - 0.5
        v = (i // 6) / 4 - 0.45
        lm[idx] = (cx + 0.8 * width * u, cy + 0.5 * height * v, 40 * (2 * abs(u)) ** 2 - 10 * (abs(u) < 0.15))
    iod = 0.45 * width
    for idx, x in zip(M.RIGHT_EYE_CORNERS + M.LEFT_EYE_CORNERS, (-0.75, -0.25, 0.25, 0.75), strict=True):
        lm[idx, :2] = (cx + x * iod, cy - 0.1 * height)
    return lm


def reencode_noise(img: np.ndarray, seed: int = 2) -> np.ndarray:
    """What one lossy re-encode does: a few levels of noise everywhere."""
    rng = np.random.default_rng(seed)
    return np.clip(img.astype(np.int16) + rng.integers(-2, 3, img.shape), 0, 255).astype(np.uint8)


def head_moved(ref: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """An output whose whole head region (head, hair, neck) shifted by 6 px, the rest re-encoded."""
    out = reencode_noise(ref)
    x0, y0, x1, y1 = M.head_box(lm, H, W)
    shifted = np.roll(ref, (6, 4), axis=(0, 1))
    out[y0:y1, x0:x1] = shifted[y0:y1, x0:x1]
    return out


def background_scores(ref: np.ndarray, out: np.ndarray, lm: np.ndarray) -> PixelScores:
    head, band = M.head_regions(lm, H, W)
    share = M.changed_share(out, ref, band)
    return PixelScores(psnr_outside_head_db=M.psnr_outside(out, ref, head), band_changed=share,
                       band_changed_worst=share)


def test_head_region_covers_hair_above_and_neck_below_and_leaves_the_frame_corners() -> None:
    lm = face_mesh()
    head, band = M.head_regions(lm, H, W)
    assert head[int(330 - 100 - 0.5 * 200), 480]  # hair half a face height above the forehead
    assert head[int(330 + 100 + 0.7 * 200), 480]  # neck 0.7 face heights under the chin
    assert head[330, int(480 - 80 - 0.4 * 160)]  # an ear / hair beside the face
    assert not head[5, 5] and not head[H - 5, W - 5]
    assert band[330, int(480 - 80 - 0.5 * 160 - 10)] and not band[330, 480]  # band: just outside, not inside


def test_a_moved_head_passes_the_head_mode_background_check_but_not_the_face_mask_one() -> None:
    ref, lm = texture(), face_mesh()
    out = head_moved(ref, lm)
    scores = background_scores(ref, out, lm)
    assert scores.psnr_outside_head_db >= 40.0
    assert band_ok(scores) is True
    # The same output judged by part 1's face mask: the moved hair and neck count as damage.
    assert M.psnr_outside(out, ref, M.face_mask(lm, H, W)) < 40.0


def test_a_black_hole_beside_the_head_fails_the_band_check() -> None:
    ref, lm = texture(), face_mesh()
    out = head_moved(ref, lm)
    x0, y0, x1, y1 = M.head_box(lm, H, W)
    side = int(0.2 * 160)  # a fifth of the face wide, right against the head region's side
    out[(y0 + y1) // 2 : (y0 + y1) // 2 + side, x1 + 2 : x1 + 2 + side] = 0
    scores = background_scores(ref, out, lm)
    assert scores.band_changed_worst > M.BAND_CHANGED_MAX
    assert band_ok(scores) is False


def test_a_black_hole_far_from_the_head_fails_the_psnr_outside_the_head() -> None:
    ref, lm = texture(), face_mesh()
    out = head_moved(ref, lm)
    out[600:680, 40:120] = 0  # the true background, far from the head
    head, _band = M.head_regions(lm, H, W)
    assert M.psnr_outside(out, ref, head) < 40.0


def test_a_head_filling_the_frame_leaves_no_band_to_judge() -> None:
    lm = face_mesh(cx=112, cy=100, width=130, height=150)
    head, band = M.head_regions(lm, 224, 224)
    assert head.all() and not band.any()
    assert math.isnan(M.changed_share(np.zeros((224, 224, 3), np.uint8), np.zeros((224, 224, 3), np.uint8), band))
    assert band_ok(PixelScores()) is None


def rotate(img: np.ndarray, deg: float, centre: tuple[float, float]) -> np.ndarray:
    m = cv2.getRotationMatrix2D(centre, deg, 1.0)
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("deg", [1.0, -1.0, 3.0])
def test_tracked_pose_reads_a_real_in_plane_rotation(deg: float) -> None:
    ref, lm = texture(), face_mesh()
    out = rotate(ref, deg, (480.0, 500.0))  # about a pivot under the face, as a neck would turn it
    rv = M.tracked_pose_change(ref, out, lm)
    # cv2's positive angle turns the picture counter-clockwise; in image axes (y down) that is -z.
    assert -rv[2] == pytest.approx(deg, abs=0.1)
    assert np.linalg.norm(rv[:2]) < 0.15


def test_tracked_pose_reads_near_zero_for_a_mouth_only_change_and_for_re_encode_noise() -> None:
    ref, lm = texture(), face_mesh()
    out = reencode_noise(ref)
    out[330 + 40 : 330 + 90, 480 - 50 : 480 + 50] = texture(seed=7)[:50, :100]  # a new mouth
    assert np.linalg.norm(M.tracked_pose_change(ref, out, lm)) < 0.1


def test_pose_scores_average_the_rotation_angle_and_correlate_speed_with_the_envelope() -> None:
    n, fps = 120, 25.0
    t = np.arange(n) / fps
    envelope = (np.sin(2 * np.pi * 0.5 * t) > 0).astype(float)  # speech on, pause, on...
    delta = np.zeros((n, 3))
    delta[:, 1] = envelope * 2.0 * np.sin(2 * np.pi * 1.5 * t)  # sways only while the voice is on
    delta[5] = np.nan  # an unread frame is skipped, not zero
    s = pose_scores(delta, envelope, fps)
    assert s["pose_tracked"] == pytest.approx((n - 1) / n)
    assert s["pose_energy_r"] > 0.5
    still = pose_scores(np.zeros((n, 3)), envelope, fps)
    assert still["pose_change_deg"] == 0.0 and still["added_std_deg"] == 0.0


def test_a_head_moving_at_random_times_gets_a_large_p_and_one_moving_with_the_voice_a_small_one() -> None:
    n, fps = 250, 25.0
    t = np.arange(n) / fps
    envelope = ((np.sin(2 * np.pi * 0.4 * t) + 0.3 * np.sin(2 * np.pi * 1.1 * t)) > 0).astype(float)
    with_voice = np.zeros((n, 3))
    with_voice[:, 0] = envelope * 1.5 * np.sin(2 * np.pi * 1.5 * t)
    at_random = np.zeros((n, 3))
    at_random[:, 0] = np.roll(envelope, n // 3) * 1.5 * np.sin(2 * np.pi * 1.5 * t)
    good = pose_scores(with_voice, envelope, fps)
    bad = pose_scores(at_random, envelope, fps)
    assert good["pose_energy_r"] > 0.5 and good["pose_energy_p"] < 0.1
    assert bad["pose_energy_p"] > 0.3
