"""Rendering under head pose: exemplars chosen and aligned in 3-D, the face outline left whole."""

from __future__ import annotations

import numpy as np
import pytest

from reperform import landmarks as L
from reperform import rendering
from reperform.rendering import pose3d
from reperform.rendering.exemplars import choose_exemplars
from reperform.rendering.head import rotation_matrix

from .conftest import make_plan

PROFILE_CLIP = "videos/pcavs_00373.mp4"  # a 3/4 view with hair and an ear beside the jaw
N_FRAMES = 60


def _mesh(still) -> np.ndarray:
    return still.raw[0].astype(np.float64)


def _rotate(lm3: np.ndarray, yaw: float, pitch: float = 0.0, scale: float = 1.0, shift=(0.0, 0.0, 0.0)) -> np.ndarray:
    centre = lm3.mean(0)
    return (lm3 - centre) @ rotation_matrix(yaw, pitch, 0.0).T * scale + centre + np.asarray(shift)


@pytest.mark.media
def test_an_exemplar_from_a_turned_head_is_seen_from_the_frames_pose(clip_loader):
    face = _mesh(clip_loader("images/sadtalker_people_0.png", 1))
    turned = _rotate(face, 25.0, -8.0, 0.8, (40.0, -15.0, 3.0))
    posed = pose3d.pose_into(turned[:, :2], turned, face)
    iod = float(L.interocular(face))
    # Every point, the jaw's included, lands where the frame's own mesh has it (exact rotation).
    assert np.abs(posed - face[:, :2]).max() < 1e-6 * iod
    # A 2-D similarity on the same stable points leaves the jaw far off: what a 3-D warp is for.
    m = L.similarity_transform(turned[list(L.STABLE), :2], face[list(L.STABLE), :2])
    flat = turned[:, :2] @ m[:, :2].T + m[:, 2]
    assert np.abs(flat - face[:, :2])[list(L.JAW_LINE)].max() > 0.1 * iod


@pytest.mark.media
def test_face_coordinates_do_not_depend_on_head_pose(clip_loader):
    face = _mesh(clip_loader("images/sadtalker_people_0.png", 1))
    a = pose3d.local_coords(face)
    b = pose3d.local_coords(_rotate(face, 30.0, 10.0, 1.7))
    np.testing.assert_allclose(a, b, atol=1e-9)


@pytest.mark.media
def test_the_jaws_sides_stay_with_the_frame_and_the_mouth_and_chin_move(clip_loader):
    face = _mesh(clip_loader("images/sadtalker_people_0.png", 1))
    t3 = pose3d.local_coords(face)
    sides = list(L.JAW_LINE[:3] + L.JAW_LINE[-3:])  # below the ears
    moving = list(L.LIPS_OUTER) + [L.CHIN]
    assert pose3d.side_weight(t3, np.array(sides)).max() == 0.0
    assert pose3d.side_weight(t3, np.array(moving)).min() == 1.0


def test_exemplar_search_prefers_the_frames_head_pose_at_equal_shape():
    n = 6
    params = np.tile(np.array([0.2, 0.9, 0.3, 1.3], np.float32), (n, 1))
    feats = {
        "order": np.arange(n), "params": params, "pose": np.zeros((n, 2), np.float32),
        "context": np.zeros((n, 54), np.float32), "thumb": np.zeros((n, 384), np.float32),
        "quality": np.zeros(n, np.float32),
    }
    # Source frames 0-5 turned 0, 10, 20, 30, 40, 50 degrees; frames 6-8 are edited (turned 30, 0, 50).
    pose = np.zeros((9, 3), np.float32)
    pose[:6, 0] = np.arange(6) * 10.0
    pose[6:, 0] = (30.0, 0.0, 50.0)
    src = np.array([6, 7, 8])
    for k, s in enumerate(src):
        choice = choose_exemplars(feats, params[:1], np.zeros(1, bool), src[k:k + 1], np.ones(1, bool),
                                  pose_deg=pose)
        assert pose[choice[0], 0] == pose[s, 0]


def _profile_case(clip_loader):
    """Frames of the 3/4 view driven far from their own mouths: wide open where the source is
    nearly closed and the other way round, the jaw dropping and lifting with it."""
    clip = clip_loader(PROFILE_CLIP, N_FRAMES)
    src = np.nonzero(clip.track.present)[0][::3]
    own = clip.track.mouth[src]
    targets = own.copy()
    wide = own[:, 0] < np.median(own[:, 0])
    targets[:, 0] = np.where(wide, 0.35, 0.0)
    targets[:, 3] = own[:, 3] + np.where(wide, 0.12, -0.08)
    return clip, src, targets


def _outside_jaw_sides(lm: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels just outside the face as seen (3 px and more), beside the ears and along the jaw's sides
    (hair, ear, background; on a 3/4 view the far cheek's outline)."""
    import cv2

    pts = lm[:, :2].astype(np.float64)
    iod = float(L.interocular(pts))
    face = np.zeros(shape, np.uint8)  # the face as seen: the hull of its mesh, whatever the pose
    cv2.fillConvexPoly(face, np.round(cv2.convexHull(pts[:468].astype(np.float32))[:, 0]).astype(np.int32), 1)
    # The warp's map is evaluated on a grid of 2-4 px and interpolated: allow it that much bleed.
    face = cv2.dilate(face, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    near = np.zeros(shape, np.uint8)
    centre = pts[list(L.FACE_OVAL)].mean(0)
    for i in L.JAW_LINE[:4] + L.JAW_LINE[-4:]:
        d = pts[i] - centre
        c = pts[i] + 0.12 * iod * d / np.linalg.norm(d)
        cv2.circle(near, (int(round(c[0])), int(round(c[1]))), int(round(0.12 * iod)), 1, -1)
    return (near > 0) & (face == 0)


@pytest.mark.media
def test_a_turned_head_keeps_hair_ear_and_background_beside_its_jaw_untouched(clip_loader):
    """The judge's tear: lips mode cut the lower face of a turned head and shifted it against the
    cheek line beside the ear. Outside the jaw's sides nothing may change, bit for bit."""
    clip, src, targets = _profile_case(clip_loader)
    renderer = rendering.Renderer(clip.track, clip.bank, make_plan(src, targets))
    edited = 0
    for k, s in enumerate(src):
        out, box = renderer.render(k, clip.frames[s])
        if box is None:
            continue
        edited += 1
        beside = _outside_jaw_sides(clip.track.landmarks[s], out.shape[:2])
        assert beside.any()
        changed = np.abs(out.astype(int) - clip.frames[s].astype(int)).max(axis=2) > 0
        assert not (changed & beside).any(), (k, int((changed & beside).sum()))
    assert edited >= len(src) - 1


@pytest.mark.media
def test_an_exemplar_far_from_the_frames_pose_is_not_pasted(clip_loader):
    """When the bank holds no mouth near the frame's pose, the frame's own mouth is re-shaped (edit
    less) rather than a mouth seen from elsewhere pasted in."""
    clip = clip_loader(PROFILE_CLIP, N_FRAMES)
    s = 30
    track = clip.track
    pose = np.zeros((track.n, 3), np.float32)
    pose[:, 0] = 40.0  # every other frame "turned" 40 degrees away from frame s
    pose[s, 0] = 0.0
    turned = type(track)(present=track.present, landmarks=track.landmarks, bbox=track.bbox, pose=pose,
                         scale=track.scale, mouth=track.mouth, width=track.width, height=track.height)
    bank = rendering.MouthBank()
    for i in range(track.n):
        if track.present[i] and i != s:
            bank.offer(i, clip.frames[i], clip.raw[i])
    target = track.mouth[[s]].copy()
    target[:, 0] += 0.15
    renderer = rendering.Renderer(turned, bank, make_plan(np.array([s]), target))
    assert renderer._coverage(int(renderer.choice[0]), s) == 0.0
    out, box = renderer.render(0, clip.frames[s])
    assert box is not None  # the mouth is still re-performed, from the frame's own pixels
