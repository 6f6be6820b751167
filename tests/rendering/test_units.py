"""Pure parts of the render stage: mouth shaping, exemplar search, bank memory policy."""

from __future__ import annotations

import numpy as np
import pytest

from reperform import landmarks as L
from reperform import rendering
from reperform.rendering.exemplars import CLOSED_OPEN, Exemplar, choose_exemplars
from reperform.rendering.geometry import MouthShaper, WarpMesh, apply, build_template, to_norm
from reperform.rendering.warp import backward_map

STILL = "images/sadtalker_people_0.png"


@pytest.fixture(scope="module")
def face(clip_loader):
    still = clip_loader(STILL, 1)
    return still.frames[0], still.raw[0]


@pytest.mark.media
@pytest.mark.parametrize("target", [(0.0, 0.85, 0.3, 1.07), (0.3, 0.8, 0.28, 1.2), (0.12, 0.7, 0.35, 1.12),
                                    (0.2, 1.0, 0.25, 1.15)])
def test_shaped_landmarks_measure_exactly_the_target_params(face, target):
    _, lm = face
    template = build_template(lm[None, :, :2].astype(np.float64))
    norm = apply(to_norm(lm[:, :2], template), lm)
    shaped = MouthShaper(template).shape(norm, np.array(target))
    got = L.mouth_params(shaped)
    np.testing.assert_allclose(got, np.array(target), atol=0.006)


@pytest.mark.media
def test_shaping_leaves_the_upper_face_where_it_was(face):
    _, lm = face
    template = build_template(lm[None, :, :2].astype(np.float64))
    norm = apply(to_norm(lm[:, :2], template), lm)
    shaped = MouthShaper(template).shape(norm, np.array([0.3, 0.75, 0.3, 1.25]))
    upper = norm[:, 1] < norm[L.NOSE_TIP, 1]
    assert np.abs(shaped[upper] - norm[upper][:, :2]).max() < 0.002  # < 0.5 px even for a 4K close-up


@pytest.mark.media
def test_warp_with_identical_geometry_is_the_rigid_map(face):
    _, lm = face
    template = build_template(lm[None, :, :2].astype(np.float64))
    mesh = WarpMesh(template, MouthShaper(template))
    interior = np.zeros((mesh.n_interior, 2)) + template[list(L.MOUTH_CORNERS)].mean(0)
    pts = mesh.control_points(template[mesh.indices], interior, mesh.anchors) * 50 + 100
    rigid = np.array([[1.0, 0, 50], [0, 1.0, 50]])  # the exemplar is the ROI shifted by (50, 50)
    mx, my, valid = backward_map((300, 300), pts, pts + 50, mesh.triangles, rigid, iod_px=50, src_shape=(400, 400))
    gy, gx = np.mgrid[0:300, 0:300] + 50
    assert np.abs(mx - gx).max() < 0.05 and np.abs(my - gy).max() < 0.05
    assert valid.min() == 1.0  # every sample lands inside the 400×400 exemplar


def test_lips_closed_over_an_open_exemplar_sample_lip_on_both_sides_of_the_seam_never_the_gap():
    # Two lips meet along y = 50 in the output; in the exemplar the upper lip ends at y = 40 and
    # the lower lip starts at y = 60, the dark gap between them. Upsampled from the map grid, the
    # rows next to the seam sample inside the gap (a stair-stepped crack along real mouths); the
    # exact map around the seam never does.
    dst = np.array([[0, 0], [100, 0], [100, 50], [0, 50], [0, 100], [100, 100]], np.float64)
    src = np.array([[0, 0], [100, 0], [100, 40], [0, 40], [0, 100], [100, 100]], np.float64)
    src = np.vstack([src, [[0, 60], [100, 60]]])
    dst = np.vstack([dst, [[0, 50], [100, 50]]])  # the lower lip's top edge: the same seam in the output
    tris = np.array([[0, 1, 2], [0, 2, 3], [6, 7, 5], [6, 5, 4], [3, 2, 7], [3, 7, 6]])  # last two: the hole
    rigid = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    _, my, _ = backward_map((100, 100), dst, src, tris, rigid, iod_px=200)  # grid step 4
    in_gap = (my > 41) & (my < 59)
    assert in_gap[:, 10:90].any()  # the defect the exact map is for
    _, my, _ = backward_map((100, 100), dst, src, tris, rigid, iod_px=200, exact_box=(0, 40, 100, 60))
    assert not ((my > 41) & (my < 59))[:, 10:90].any()
    np.testing.assert_allclose(my[45, 10:90], 36.0, atol=1e-4)  # 5 px above the seam: upper lip, scaled 0.8
    np.testing.assert_allclose(my[55, 10:90], 64.0, atol=1e-4)  # 5 px below: lower lip, scaled 0.8
    # Lips a fraction of a pixel apart: the hole's triangles are valid but thinner than a row; the
    # rows they touch still sample lip, not a point stretched far outside the gap.
    for upper, lower in ((50.4, 50.45), (50.3, 50.32), (49.6, 49.62), (50.0, 50.5)):
        near = dst.copy()
        near[[2, 3], 1] = upper
        near[[6, 7], 1] = lower
        _, my, _ = backward_map((100, 100), near, src, tris, rigid, iod_px=200, exact_box=(0, 40, 100, 60))
        assert np.all((my[45:56, 10:90] > 34) & (my[45:56, 10:90] < 66)), (upper, lower)


def _feats(opens: np.ndarray) -> dict[str, np.ndarray]:
    n = len(opens)
    params = np.stack([opens, np.full(n, 0.9), np.full(n, 0.3), 1.2 + 0.5 * opens], 1).astype(np.float32)
    return {
        "order": np.arange(n), "params": params, "pose": np.zeros((n, 2), np.float32),
        "context": np.zeros((n, 54), np.float32), "thumb": (opens[:, None] * 400 * np.ones((1, 384))).astype(np.float32),
        "quality": np.zeros(n, np.float32),
    }


def test_exemplar_search_plays_source_frames_consecutively_when_they_fit():
    opens = (0.15 + 0.12 * np.sin(np.arange(200) / 5.0)).clip(0)
    feats = _feats(opens)
    targets = feats["params"][100:160] + 0.002  # a stretch the bank holds, slightly off
    n = len(targets)
    src = np.arange(n) + 20
    choice = choose_exemplars(feats, targets, np.zeros(n, bool), src, np.ones(n, bool))
    jumps = int((np.diff(choice) != 1).sum())
    assert jumps <= 2
    assert np.abs(feats["params"][choice, 0] - targets[:, 0]).max() < 0.02


def test_exemplar_search_gives_closure_frames_a_closed_exemplar():
    opens = np.array([0.2, 0.25, 0.3, 0.06, 0.18, 0.01, 0.22, 0.28])
    feats = _feats(opens)
    targets = np.tile(feats["params"][2], (6, 1))
    targets[:, 0] = 0.05  # the plan's shape says "nearly closed", the closure flag says "sealed"
    closure = np.array([False, False, True, True, False, False])
    choice = choose_exemplars(feats, targets, closure, np.arange(6), np.ones(6, bool))
    assert (opens[choice[closure]] < CLOSED_OPEN).all()


def test_exemplar_search_skips_frames_without_a_face():
    feats = _feats(np.linspace(0, 0.3, 20))
    valid = np.array([True, True, False, True])
    choice = choose_exemplars(feats, feats["params"][:4], np.zeros(4, bool), np.arange(4), valid)
    assert choice[2] == -1 and (choice[valid] >= 0).all()


@pytest.mark.media
def test_bank_memory_stays_within_its_budget_and_keeps_the_shape_range(face):
    rgb, lm = face
    probe = rendering.MouthBank()
    probe.offer(0, rgb, lm)
    one = probe.nbytes
    budget = 12 * one
    bank = rendering.MouthBank(max_bytes=budget)
    rng = np.random.default_rng(1)
    offered = []
    for i in range(300):
        moved = lm.copy()
        drop = rng.uniform(0, 0.3) * float(L.interocular(lm))
        lower = [14, 87, 178, 88, 95, 317, 402, 318, 324]
        moved[lower, 1] += drop
        offered.append(L.mouth_params(moved)[0])
        bank.offer(i, rgb, moved)
        assert bank.nbytes <= budget
    assert 8 <= len(bank) <= 12
    kept = np.array([e.params[0] for e in bank.exemplars.values()])
    assert kept.min() < min(offered) + 0.05 and kept.max() > max(offered) - 0.05
    assert len(bank.frames) == 300  # every frame keeps its small descriptor


def test_exemplar_record_counts_its_memory():
    crop = np.zeros((100, 80, 3), np.uint8)
    ex = Exemplar(0, crop, np.zeros((478, 2), np.float32), np.zeros(4, np.float32), np.zeros(2, np.float32),
                  np.zeros(54, np.float32), np.zeros(384, np.float32), 0.0)
    assert ex.nbytes >= crop.nbytes


@pytest.mark.media
def test_bank_state_round_trip_keeps_every_exemplar_and_frame_descriptor(face):
    """A saved analysis carries its mouth bank as flat arrays: the bank built back from them must
    offer the search the same exemplars (same pixels, landmarks, features) and the same per-frame
    descriptors, and keep evicting by the same shape bins."""
    rgb, lm = face
    bank = rendering.MouthBank()
    for i in (0, 3, 7):  # gaps: frames without a face have no descriptor
        moved = lm.copy()
        moved[[14, 87, 317], 1] += 2.0 * i
        bank.offer(i, rgb[: rgb.shape[0] - i], moved)  # crops of different sizes
    back = rendering.MouthBank.from_state(bank.state())
    assert sorted(back.exemplars) == sorted(bank.exemplars) == [0, 3, 7]
    for i, ex in bank.exemplars.items():
        got = back.exemplars[i]
        assert np.array_equal(got.crop, ex.crop) and got.crop.dtype == np.uint8
        for name in ("landmarks", "params", "pose", "context", "thumb", "origin"):
            assert np.array_equal(getattr(got, name), getattr(ex, name)), name
            assert getattr(got, name).dtype == getattr(ex, name).dtype, name
        assert (got.quality, got.scale) == (ex.quality, ex.scale)
    for key, value in bank.arrays().items():
        assert np.array_equal(back.arrays()[key], value), key
    assert back.nbytes == bank.nbytes and back._bins == bank._bins
    assert len(back.frames) == 3 and back.frames.pose_of(5) is None
    assert np.array_equal(back.frames.pose_of(3), bank.frames.pose_of(3))
    assert np.array_equal(back.frames.context_of(7), bank.frames.context_of(7))
