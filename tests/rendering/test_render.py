"""Behaviour of the renderer on real frames: where it edits, what mouths it produces."""

from __future__ import annotations

import numpy as np
import pytest

from reperform import landmarks as L
from reperform import rendering
from reperform.rendering.exemplars import CLOSED_OPEN

from .conftest import make_plan, make_track, measure_mouth

CLIP = "videos/videoretalking_4.mp4"
N_FRAMES = 40  # frames 13–16 of this clip are closed, the rest open (0.14–0.31 inter-ocular)
STILL = "images/sadtalker_people_0.png"

pytestmark = pytest.mark.media


def _render_all(renderer: rendering.Renderer, frames: list[np.ndarray], src: np.ndarray):
    return [renderer.render(k, frames[int(s)]) for k, s in enumerate(src)]


def test_pixels_outside_the_edit_box_are_identical_to_the_source(clip_loader):
    clip = clip_loader(CLIP, N_FRAMES)
    src = np.arange(0, 30, 3)
    targets = clip.track.mouth[src[::-1]]  # someone else's mouth shapes, in reverse
    renderer = rendering.Renderer(clip.track, clip.bank, make_plan(src, targets))
    for (out, box), s in zip(_render_all(renderer, clip.frames, src), src, strict=True):
        frame = clip.frames[int(s)]
        assert box is not None
        x0, y0, x1, y1 = box
        outside = np.ones(frame.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(out[outside], frame[outside])
        # The box is the lower face: it starts below the eyes and contains the mouth.
        lm = clip.track.landmarks[s]
        assert y0 > lm[list(L.RIGHT_EYE + L.LEFT_EYE), 1].max()
        mx, my = lm[list(L.MOUTH_CORNERS), :2].mean(0)
        assert x0 < mx < x1 and y0 < my < y1


def test_closure_frames_seal_an_open_mouth(clip_loader):
    clip = clip_loader(CLIP, N_FRAMES)
    src = np.arange(0, 12)
    assert (clip.track.mouth[src, 0] > 0.14).all()
    targets = clip.track.mouth[src].copy()
    targets[:, 0] = 0.0
    renderer = rendering.Renderer(clip.track, clip.bank, make_plan(src, targets, closure=np.ones(len(src), bool)))
    outs = [o for o, _ in _render_all(renderer, clip.frames, src)]
    measured = measure_mouth(outs)[:, 0]
    assert np.isfinite(measured).all()
    assert measured.max() < CLOSED_OPEN, measured


def test_open_targets_open_a_closed_mouth(clip_loader):
    clip = clip_loader(CLIP, N_FRAMES)
    src = np.arange(13, 17)
    assert (clip.track.mouth[src, 0] < 0.03).all()
    targets = clip.track.mouth[src].copy()
    targets[:, 0] = 0.25
    renderer = rendering.Renderer(clip.track, clip.bank, make_plan(src, targets))
    outs = [o for o, _ in _render_all(renderer, clip.frames, src)]
    measured = measure_mouth(outs)[:, 0]
    assert np.isfinite(measured).all()
    assert measured.min() > 0.18, measured


def test_rendered_opening_follows_the_planned_opening(clip_loader):
    clip = clip_loader(CLIP, N_FRAMES)
    src = np.arange(0, 40, 2)
    rng = np.random.default_rng(0)
    targets = clip.track.mouth[rng.permutation(src)]
    renderer = rendering.Renderer(clip.track, clip.bank, make_plan(src, targets))
    outs = [o for o, _ in _render_all(renderer, clip.frames, src)]
    measured = measure_mouth(outs)[:, 0]
    assert np.corrcoef(measured, targets[:, 0])[0, 1] > 0.9


def test_frames_without_a_face_pass_through_unchanged(clip_loader):
    clip = clip_loader(CLIP, N_FRAMES)
    lms = [None if i % 2 else clip.track.landmarks[i] for i in range(N_FRAMES)]
    track = make_track(lms, clip.track.width, clip.track.height)
    src = np.arange(0, 8)
    renderer = rendering.Renderer(track, clip.bank, make_plan(src, clip.track.mouth[src[::-1]]))
    for k, s in enumerate(src):
        out, box = renderer.render(k, clip.frames[s])
        if s % 2:
            assert box is None
            assert np.array_equal(out, clip.frames[s])
        else:
            assert box is not None


def test_a_still_image_gets_a_synthesised_open_mouth_with_dark_interior(clip_loader):
    still = clip_loader(STILL, 1)
    rest = still.track.mouth[0]
    targets = np.tile(rest, (3, 1))
    targets[1, 0], targets[1, 3] = 0.25, rest[3] + 0.12
    renderer = rendering.Renderer(still.track, still.bank, make_plan(np.zeros(3), targets, closure=[True, False, False]))
    assert any("synthesised" in w for w in renderer.warnings)
    outs = [renderer.render(k, still.frames[0]) for k in range(3)]
    measured = measure_mouth([o for o, _ in outs])[:, 0]
    assert measured[0] < CLOSED_OPEN
    assert measured[1] > 0.18
    # The mouth centre of the opened frame is now dark (cavity), unlike the lips it replaced.
    lm = still.track.landmarks[0]
    cx, cy = lm[list(L.MOUTH_CORNERS), :2].mean(0)
    iod = float(L.interocular(lm))
    below = int(cy + 0.1 * iod)  # inside the new opening, under the upper teeth
    patch = outs[1][0][below - 2:below + 3, int(cx) - 2:int(cx) + 3].astype(float)
    assert patch.mean() < 0.5 * still.frames[0][below - 2:below + 3, int(cx) - 2:int(cx) + 3].mean()


def test_lips_parted_by_a_few_pixels_show_a_shadowed_slit_not_a_row_of_teeth(clip_loader):
    still = clip_loader(STILL, 1)
    rest = still.track.mouth[0]
    targets = np.tile(rest, (2, 1))
    targets[:, 0] = (0.05, 0.2)  # a slit (the procedural interior takes over a closed mouth), then open
    renderer = rendering.Renderer(still.track, still.bank, make_plan(np.zeros(2), targets))
    lm = still.track.landmarks[0]
    cx, cy = lm[list(L.MOUTH_CORNERS), :2].mean(0)
    iod = float(L.interocular(lm))
    rows = slice(int(cy - 0.06 * iod), int(cy + 0.06 * iod))
    cols = slice(int(cx - 0.1 * iod), int(cx + 0.1 * iod))
    slit, opened = (renderer.render(k, still.frames[0])[0][rows, cols].astype(float).mean(2) for k in (0, 1))
    # Teeth are the brightest thing in an open mouth; in a slit only the shadow between the lips shows.
    assert opened.max() > 180
    assert slit.max() < 0.8 * opened.max()


def test_an_occluder_in_front_of_the_chin_stays_in_front(clip_loader):
    clip = clip_loader(CLIP, N_FRAMES)
    s = 14  # a closed mouth, opened by the plan
    lm = clip.track.landmarks[s]
    iod = float(L.interocular(lm))
    frame = clip.frames[s].copy()
    # A flat grey "microphone" over the chin, below the lips, inside the jaw line.
    cx, cy = lm[L.CHIN, :2]
    x0, x1 = int(cx - 0.25 * iod), int(cx + 0.25 * iod)
    y0, y1 = int(cy - 0.45 * iod), int(cy - 0.1 * iod)
    frame[y0:y1, x0:x1] = (90, 90, 95)
    frames = {s: frame}
    targets = clip.track.mouth[[s]].copy()
    targets[:, 0] = 0.25
    renderer = rendering.Renderer(clip.track, clip.bank, make_plan(np.array([s]), targets))
    out, box = renderer.render(0, frames[s])
    assert box is not None
    core = (slice(y0 + 3, y1 - 3), slice(x0 + 3, x1 - 3))
    changed = np.abs(out[core].astype(int) - frame[core].astype(int)).max(axis=2)
    assert np.mean(changed > 12) < 0.1


def test_planning_the_frames_own_mouth_leaves_the_frame_almost_untouched(clip_loader):
    clip = clip_loader(CLIP, N_FRAMES)
    src = np.arange(0, 40, 5)
    renderer = rendering.Renderer(clip.track, clip.bank, make_plan(src, clip.track.mouth[src]))
    for k, s in enumerate(src):
        out, box = renderer.render(k, clip.frames[s])
        if box is None:
            continue
        x0, y0, x1, y1 = box
        diff = np.abs(out[y0:y1, x0:x1].astype(int) - clip.frames[s][y0:y1, x0:x1].astype(int))
        assert diff.mean() < 1.0, (k, diff.mean())  # the identity exemplar reproduces the frame
