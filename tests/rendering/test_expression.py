"""Expression warp: AU displacements move the right features, the warp stays on the face, pose stays."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from benchmarks.emotion_eval import flow_pose_change

from reperform import landmarks as L
from reperform.options import Emotion, GenerateOptions, ModelMode
from reperform.rendering import Renderer
from reperform.rendering import expression as R
from reperform.rendering.geometry import apply, build_template, to_norm

from .conftest import Mesh, make_plan

STILL = "images/sadtalker_people_0.png"
CLIP = "videos/videoretalking_2.mp4"
N_CLIP_FRAMES = 16
A = {name: i for i, name in enumerate(R.AUS)}
PROTOTYPES = {  # AU levels of a prompt at temperature 0.5 (what the motion stage plans)
    Emotion.happy: {"AU6": 0.6, "AU12": 0.65},
    Emotion.sad: {"AU1": 0.65, "AU4": 0.4, "AU15": 0.65},
    Emotion.surprised: {"AU1": 0.65, "AU2": 0.65, "AU5": 0.6, "AU26": 0.5},
}


def _au(levels: dict[str, float], n: int = 1) -> np.ndarray:
    v = np.zeros((n, len(R.AUS)), np.float32)
    for name, x in levels.items():
        v[:, A[name]] = x
    return v


def _norm(lm: np.ndarray) -> np.ndarray:
    """Landmarks in the eye frame (origin between the eyes, unit = inter-ocular distance)."""
    xy = lm[:, :2].astype(np.float64)
    r, left = xy[list(L.RIGHT_EYE)].mean(0), xy[list(L.LEFT_EYE)].mean(0)
    d = left - r
    iod = np.hypot(*d)
    c, s = d / iod
    p = xy - (r + left) / 2
    return np.stack([p[:, 0] * c + p[:, 1] * s, -p[:, 0] * s + p[:, 1] * c], 1) / iod


def _signature(lm: np.ndarray) -> dict[str, float]:
    n = _norm(lm)
    y = n[:, 1]
    return {
        "corner_lift": (y[13] + y[14]) / 2 - y[list(L.MOUTH_CORNERS)].mean(),
        "inner_brow": -y[[107, 66, 55, 65, 336, 296, 285, 295]].mean(),
        "brow_height": -y[[70, 63, 105, 66, 107, 300, 293, 334, 296, 336]].mean(),
        "eye_open": float(np.mean([np.linalg.norm(n[a] - n[b]) for a, b in ((159, 145), (386, 374))])),
        "jaw": float(np.linalg.norm(n[L.NOSE_TIP] - n[L.CHIN])),
    }


@pytest.fixture(scope="module")
def still(clip_loader):
    c = clip_loader(STILL, 1)
    lm = c.raw[0]
    template = build_template(lm[None, :, :2].astype(np.float64))
    m = to_norm(lm[:, :2].astype(np.float64), template)
    return c.frames[0], lm, template, m, apply(m, lm[:, :2])


def _warp_still(still, levels: dict[str, float], blink: float = 0.0):
    frame, _lm, template, m, n = still
    warp = R.ExpressionWarp(template, _au(levels), np.array([blink], np.float32))
    return warp.apply(0, frame, n, m, None)


@pytest.mark.media
@pytest.mark.parametrize(("au", "points", "axis", "sign"), [
    ("AU1", (107, 336), 1, -1), ("AU2", (70, 300), 1, -1), ("AU4", (107, 336), 1, +1),
    ("AU6", (118, 347), 1, -1), ("AU7", (145, 374), 1, -1),
    ("AU9", (129, 358), 1, -1), ("AU10", (0,), 1, -1), ("AU12", (61, 291), 1, -1), ("AU15", (61, 291), 1, +1),
])
def test_each_action_unit_moves_its_feature_the_facs_way(still, au, points, axis, sign):
    basis = R.au_displacements(still[2])[A[au]]
    assert np.all(sign * basis[list(points), axis] > 0.01)
    assert np.abs(basis).max() <= R.MAX_SHIFT_IOD


@pytest.mark.media
def test_brow_lowerer_draws_the_brows_together(still):
    basis = R.au_displacements(still[2])[A["AU4"]]
    assert basis[107, 0] > 0.01 and basis[336, 0] < -0.01  # subject's right brow moves to +x, left to -x


@pytest.mark.media
def test_no_action_units_leave_the_frame_untouched(still):
    frame = still[0]
    out, box = _warp_still(still, {})
    assert out is frame and box is None


@pytest.mark.media
@pytest.mark.parametrize(("levels", "name", "sign"), [
    ({"AU6": 0.6, "AU12": 0.65}, "corner_lift", +1),
    ({"AU15": 0.8}, "corner_lift", -1),
    ({"AU1": 0.8}, "inner_brow", +1),
    ({"AU1": 0.7, "AU2": 0.7}, "brow_height", +1),
    ({"AU4": 0.8}, "brow_height", -1),
    ({"AU5": 0.8}, "eye_open", +1),
])
def test_the_warped_photo_shows_the_expression_to_mediapipe(still, levels, name, sign):
    frame, lm = still[0], still[1]
    out, box = _warp_still(still, levels)
    mesh = Mesh(static=True)
    try:
        after = mesh(out)
    finally:
        mesh.close()
    change = _signature(after)[name] - _signature(lm)[name]
    assert sign * change > 0.005
    # Everything outside the edit box is the input, bit for bit.
    x0, y0, x1, y1 = box
    mask = np.ones(frame.shape[:2], bool)
    mask[y0:y1, x0:x1] = False
    assert np.array_equal(out[mask], frame[mask])


@pytest.mark.media
def test_an_added_blink_closes_both_eyes(still):
    out, _ = _warp_still(still, {}, blink=1.0)
    mesh = Mesh(static=True)
    try:
        after = mesh(out)
    finally:
        mesh.close()
    assert _signature(after)["eye_open"] < 0.5 * _signature(still[1])["eye_open"]


@pytest.mark.media
def test_the_warp_stays_inside_the_face(still):
    lm = still[1]
    out, box = _warp_still(still, {"AU1": 1, "AU2": 1, "AU5": 1, "AU12": 1, "AU6": 1})
    face_w = lm[:, 0].max() - lm[:, 0].min()
    face_h = lm[:, 1].max() - lm[:, 1].min()
    assert box[2] - box[0] < 1.4 * face_w and box[3] - box[1] < 1.4 * face_h


def test_mouth_targets_get_the_jaw_drop_and_smile_width_but_closures_stay_sealed():
    targets = np.tile(np.array([0.1, 0.9, 0.25, 1.1], np.float32), (3, 1))
    au = _au({"AU26": 1.0, "AU12": 1.0}, 3)
    out = R.adjust_targets(targets, au, np.array([False, True, False]))
    assert out[0, 0] > targets[0, 0] and out[0, 3] > targets[0, 3] and out[0, 1] > targets[0, 1]
    assert out[1, 0] == 0.0
    assert R.adjust_targets(targets, np.zeros_like(au), np.zeros(3, bool)) is targets


def _clip_renders(clip, options: GenerateOptions | None, au: np.ndarray | None):
    n = len(clip.frames)
    plan = make_plan(np.arange(n), clip.track.mouth)
    if au is not None:
        plan = dataclasses.replace(plan, au=au)
    r = Renderer(clip.track, clip.bank, plan, None, options)
    return [r.render(k, clip.frames[k]) for k in range(n)]


@pytest.mark.media
def test_lips_mode_renders_exactly_as_without_expression(clip_loader):
    clip = clip_loader(CLIP, N_CLIP_FRAMES)
    plain = _clip_renders(clip, None, None)
    lips = _clip_renders(clip, GenerateOptions(mode=ModelMode.lips, emotion=Emotion.happy), None)
    for (a, box_a), (b, box_b) in zip(plain, lips, strict=True):
        assert box_a == box_b
        assert np.array_equal(a, b)


@pytest.mark.media
@pytest.mark.parametrize(("emotion", "expect"), [
    (Emotion.happy, {"corner_lift": +1}),
    (Emotion.sad, {"inner_brow": +1, "corner_lift": -1}),
    (Emotion.surprised, {"brow_height": +1, "eye_open": +1, "jaw": +1}),
])
def test_face_mode_moves_the_real_clips_signature_and_keeps_its_pose(clip_loader, emotion, expect):
    clip = clip_loader(CLIP, N_CLIP_FRAMES)
    n = len(clip.frames)
    base = _clip_renders(clip, GenerateOptions(mode=ModelMode.lips), None)
    face = _clip_renders(clip, GenerateOptions(mode=ModelMode.face, emotion=emotion), _au(PROTOTYPES[emotion], n))
    mesh = Mesh(static=False)
    try:
        before = np.array([mesh(f) for f, _ in base])
    finally:
        mesh.close()
    mesh = Mesh(static=False)
    try:
        after = np.array([mesh(f) for f, _ in face])
    finally:
        mesh.close()
    for name, sign in expect.items():
        change = np.mean([_signature(b)[name] - _signature(a)[name] for a, b in zip(before, after, strict=True)])
        assert sign * change > 0.004, (name, change)
    # The head stays: the pixels at the eye corners and the nose tip do not move (optical flow,
    # lips-mode frame → face-mode frame), so the 2-D pose from those points is unchanged. The mesh
    # is not the judge here: MediaPipe refits its whole mesh to a new expression, so pose from the
    # *re-detected* landmarks reads 1.7° of yaw for the parted smile and 1.1° for the knit sad brow
    # on this clip while the same points' pixels moved 0.08° / 0.01° — a refit, not a head turn.
    flow = flow_pose_change([f for f, _ in base], [f for f, _ in face], before)
    assert flow <= 0.5, flow


@pytest.mark.media
@pytest.mark.parametrize("levels", [
    {"AU6": 1.0, "AU12": 1.0}, {"AU1": 1.0, "AU4": 0.6, "AU15": 1.0}, {"AU4": 1.0, "AU5": 0.5, "AU7": 0.8, "AU23": 0.8},
    {"AU1": 1.0, "AU2": 1.0, "AU5": 0.9, "AU26": 0.8}, {"AU9": 1.0, "AU10": 1.0, "AU15": 0.5},
])
def test_the_warp_never_moves_the_points_that_carry_head_pose(still, levels):
    _frame, _lm, template, _m, n = still
    warp = R.ExpressionWarp(template, _au(levels), np.zeros(1, np.float32))
    rigid = [33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1]
    moved = np.linalg.norm(warp.field_at(0, n, n[rigid]), axis=1)
    assert moved.max() < 0.004  # inter-ocular units: < 0.5 px at a 120 px face
