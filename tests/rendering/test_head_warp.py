"""Head mode's warp: the head turns by the planned angles, the rest of the frame stays put."""

from __future__ import annotations

import numpy as np
import pytest

from reperform import landmarks as L
from reperform.rendering import HeadWarper
from reperform.rendering.head import STATIC_RING_H, rotation_matrix

from .conftest import Mesh, make_plan, make_track

STILL = "images/sadtalker_people_0.png"
#: Canvas for the "far from the head" tests: the photo pasted into a larger textured frame.
CANVAS = (1000, 1300)
OFFSET = (420, 260)  # x, y of the photo inside the canvas

pytestmark = pytest.mark.media


def _pose(lm: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Yaw, pitch, roll (deg) of ``lm`` relative to ``ref``: rigid fit on the speech-stable points."""
    p = lm[list(L.STABLE)].astype(np.float64)
    r = ref[list(L.STABLE)].astype(np.float64)
    p, r = p - p.mean(0), r - r.mean(0)
    u, _s, vt = np.linalg.svd(p.T @ r)
    rot = u @ np.diag([1, 1, np.sign(np.linalg.det(u @ vt))]) @ vt
    return np.degrees([np.arcsin(-rot[2, 0]), np.arctan2(rot[2, 1], rot[2, 2]), np.arctan2(rot[1, 0], rot[0, 0])])


@pytest.fixture(scope="module")
def still(clip_loader):
    c = clip_loader(STILL, 1)
    return c.frames[0], c.raw[0]


@pytest.fixture(scope="module")
def canvas(still):
    rgb, lm = still
    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (*CANVAS, 3), dtype=np.uint8)
    x, y = OFFSET
    big[y : y + rgb.shape[0], x : x + rgb.shape[1]] = rgb
    lm2 = lm.copy()
    lm2[:, 0] += x
    lm2[:, 1] += y
    return big, lm2


def _warper(lm: np.ndarray, shape: tuple[int, int], deltas) -> HeadWarper:
    deltas = np.asarray(deltas, np.float32).reshape(-1, 3)
    plan = make_plan(np.zeros(len(deltas), np.int32), np.zeros((len(deltas), 4), np.float32))
    plan.head_delta[:] = deltas
    return HeadWarper(make_track([lm], shape[1], shape[0]), plan)


def test_rotation_matrix_reads_back_as_the_same_euler_angles():
    for yaw, pitch, roll in [(4.0, 0, 0), (0, -3.0, 0), (0, 0, 5.0), (2.0, -1.5, 3.0)]:
        r = rotation_matrix(yaw, pitch, roll)
        got = np.degrees([np.arcsin(-r[2, 0]), np.arctan2(r[2, 1], r[2, 2]), np.arctan2(r[1, 0], r[0, 0])])
        np.testing.assert_allclose(got, [yaw, pitch, roll], atol=1e-9)


def test_zero_delta_and_missing_face_pass_the_frame_through_untouched(still):
    rgb, lm = still
    box = (1, 2, 3, 4)
    out, got_box = _warper(lm, rgb.shape[:2], [0, 0, 0]).apply(0, rgb, box)
    assert out is rgb and got_box == box
    w = _warper(lm, rgb.shape[:2], [3, 3, 3])
    w.track.present[0] = False
    out, got_box = w.apply(0, rgb, None)
    assert out is rgb and got_box is None


def test_the_input_frame_is_never_modified(still):
    rgb, lm = still
    before = rgb.copy()
    out, _ = _warper(lm, rgb.shape[:2], [3, -3, 2]).apply(0, rgb, None)
    np.testing.assert_array_equal(rgb, before)
    assert out is not rgb and np.any(out != rgb)


def test_fields_worked_out_ahead_and_in_place_give_the_same_frames(still):
    """The pipeline's path (fields from :meth:`fields` on another thread, writing into its own
    copy) makes exactly the frames of the plain call."""
    rgb, lm = still
    w = _warper(lm, rgb.shape[:2], [[3, -3, 2], [0, 0, 0], [-2, 1, 0]])
    fields = list(w.fields(rgb.shape[:2]))
    assert len(fields) == 3 and fields[1] is None
    for k, field in enumerate(fields):
        plain, plain_box = w.apply(k, rgb, None)
        mine = rgb.copy()
        fast, fast_box = w.apply(k, mine, None, inplace=True, field=field)
        np.testing.assert_array_equal(fast, plain)
        assert fast_box == plain_box


def test_pixels_far_from_the_head_and_at_the_border_are_unchanged(canvas):
    big, lm = canvas
    out, box = _warper(lm, big.shape[:2], [5, 5, 4]).apply(0, big, None)
    height = float(np.linalg.norm(lm[10, :2] - lm[L.CHIN, :2]))
    centre = lm[list(L.FACE_OVAL), :2].mean(0)
    yy, xx = np.mgrid[: big.shape[0], : big.shape[1]]
    far = np.hypot(xx - centre[0], yy - centre[1]) > STATIC_RING_H * height + 2
    changed = np.any(out != big, axis=2)
    assert changed.any() and not changed[far].any()
    assert box is not None
    x0, y0, x1, y1 = box
    inside = np.zeros_like(changed)
    inside[y0:y1, x0:x1] = True
    assert not changed[~inside].any()  # the edit box bounds every changed pixel


def test_the_frame_border_is_unchanged_even_when_the_head_fills_the_frame(still):
    rgb, lm = still
    out, box = _warper(lm, rgb.shape[:2], [5, -5, 4]).apply(0, rgb, (10, 10, 20, 20))
    changed = np.any(out != rgb, axis=2)
    assert changed.any()
    for edge in (changed[0], changed[-1], changed[:, 0], changed[:, -1]):
        assert not edge.any()
    assert box[0] <= 10 and box[1] <= 10 and box[2] >= 20 and box[3] >= 20  # the renderer's box is kept


def test_the_shoulders_and_chest_stay_put_on_a_nod(canvas):
    big, lm = canvas
    out, _ = _warper(lm, big.shape[:2], [0, 6, 0]).apply(0, big, None)
    height = float(np.linalg.norm(lm[10, :2] - lm[L.CHIN, :2]))
    chest_y = int(lm[L.CHIN, 1] + 0.6 * height)
    assert not np.any(out[chest_y:] != big[chest_y:])


@pytest.mark.parametrize("delta", [(0, 5, 0), (0, -5, 0), (5, 0, 0), (-5, 0, 0), (0, 0, 4)])
def test_mediapipe_sees_the_head_turned_the_planned_way(still, delta):
    rgb, lm = still
    out, _ = _warper(lm, rgb.shape[:2], [delta]).apply(0, rgb, None)
    mesh = Mesh(static=True)
    try:
        ref, got = mesh(rgb), mesh(out)
    finally:
        mesh.close()
    change = _pose(got, ref)
    axis = int(np.argmax(np.abs(delta)))
    planned = float(delta[axis])
    # A 2-D warp shows the rotation's geometry but not its shading, so MediaPipe reads a bit less
    # than planned (about 50-95 % here); the other axes stay near zero.
    assert 0.4 * abs(planned) <= np.sign(planned) * change[axis] <= 1.3 * abs(planned)
    others = [i for i in range(3) if i != axis]
    assert np.all(np.abs(change[others]) < 0.45 * abs(planned))


def test_a_real_clips_head_follows_the_planned_motion(clip_loader):
    clip = clip_loader("videos/videoretalking_4.mp4", 30)
    n = len(clip.frames)
    t = np.arange(n) / 30.0
    deltas = np.stack([3.0 * np.sin(2 * np.pi * t / 1.0), 3.0 * np.cos(2 * np.pi * t / 0.8), 2.0 * np.sin(
        2 * np.pi * t / 0.7)], axis=1).astype(np.float32)
    plan = make_plan(np.arange(n), np.zeros((n, 4), np.float32))
    plan.head_delta[:] = deltas
    warper = HeadWarper(clip.track, plan)
    mesh = Mesh(static=True)
    try:
        change = []
        for k in range(n):
            out, _ = warper.apply(k, clip.frames[k], None)
            change.append(_pose(mesh(out), clip.raw[k]))
    finally:
        mesh.close()
    change = np.array(change)
    for axis in range(3):
        r = np.corrcoef(change[:, axis], deltas[:, axis])[0, 1]
        gain = np.polyfit(deltas[:, axis], change[:, axis], 1)[0]
        assert r > 0.8, (axis, r)
        assert 0.4 < gain < 1.3, (axis, gain)
