"""Expression texture and wide eyes: creases darken where FACS puts them, eyes widen by uncovering eyeball."""

from __future__ import annotations

import numpy as np
import pytest

from reperform.motion import expression as X
from reperform.rendering import eyes, wrinkles
from reperform.rendering.geometry import apply, build_template, invert, to_norm

STILL = "images/sadtalker_people_0.png"
A = {name: i for i, name in enumerate(wrinkles.AUS)}


def _au(**levels: float) -> np.ndarray:
    v = np.zeros(len(wrinkles.AUS))
    for name, x in levels.items():
        v[A[name]] = x
    return v


@pytest.fixture(scope="module")
def still(clip_loader):
    c = clip_loader(STILL, 1)
    lm = c.raw[0]
    template = build_template(lm[None, :, :2].astype(np.float64))
    m = to_norm(lm[:, :2].astype(np.float64), template)
    return c.frames[0], lm, m, apply(m, lm[:, :2])


def _grey(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64).mean(-1)


def test_the_au_columns_agree_with_the_motion_stage():
    assert wrinkles.AUS == X.AUS


@pytest.mark.media
def test_no_action_units_draw_no_crease(still):
    _frame, _lm, _m, n = still
    assert wrinkles.lines_for(n, _au()) == []
    # A brow flick on a stressed syllable (AU1+2 below CREASE_FROM) leaves the forehead smooth.
    assert wrinkles.lines_for(n, _au(AU1=0.9 * wrinkles.CREASE_FROM, AU2=0.9 * wrinkles.CREASE_FROM)) == []


@pytest.mark.media
@pytest.mark.parametrize(("levels", "where"), [
    ({"AU4": 0.8}, "glabella"),  # anger: vertical lines between the brows
    ({"AU1": 0.8, "AU2": 0.8}, "forehead"),  # surprise: horizontal forehead lines
    ({"AU12": 0.8, "AU6": 0.8}, "fold"),  # smile: nasolabial fold
    ({"AU9": 0.8}, "nose"),  # disgust: wrinkled nose
])
def test_each_crease_darkens_the_skin_where_facs_puts_it(still, levels, where):
    frame, lm, m, n = still
    out, box = wrinkles.shade(frame, n, _au(**levels), m)
    assert box is not None
    # Probe points in the normalised face frame (origin between the eyes, unit inter-ocular).
    mid_brows = (n[55] + n[285]) / 2
    probes = {
        "glabella": np.array([[mid_brows[0] + s * 0.08, mid_brows[1] + dy] for s in (-1, 1) for dy in (-0.04, 0.0, 0.04)]),
        "forehead": np.array([[x, n[[107, 336], 1].mean() - y] for x in (-0.2, 0.0, 0.2) for y in (0.1, 0.2, 0.28)]),
        "fold": np.array([(n[129] + n[61]) / 2 + [-0.05, 0], (n[358] + n[291]) / 2 + [0.05, 0]]),
        "nose": n[[6]] + np.array([[s * 0.09, dy] for s in (-1, 1) for dy in (0.0, 0.05)]),
    }[where]
    img = apply(invert(m), probes)
    h, w = frame.shape[:2]
    darker = []
    for x, y in img:
        x0, y0 = int(round(x)) - 3, int(round(y)) - 3
        patch = (slice(max(y0, 0), min(y0 + 7, h)), slice(max(x0, 0), min(x0 + 7, w)))
        darker.append(_grey(frame[patch]).mean() - _grey(out[patch]).mean())
    assert max(darker) > 4.0, darker  # grey levels: a visible crease somewhere along the probes
    # Outside the returned box the frame is untouched, bit for bit.
    x0, y0, x1, y1 = box
    mask = np.ones(frame.shape[:2], bool)
    mask[y0:y1, x0:x1] = False
    assert np.array_equal(out[mask], frame[mask])


@pytest.mark.media
def test_neutral_irons_the_glabella_without_touching_the_eyes(still):
    frame, lm, m, n = still
    # The person's own frown lines: two thin vertical creases between the brows (what ironing is
    # for; the relief a prompt draws is broader and is not ironed by neutral, it is not drawn).
    import cv2

    creased = frame.astype(np.float32)
    img_from_norm = invert(m)
    mid = (n[55] + n[285]) / 2
    lines = np.zeros(frame.shape[:2], np.float32)
    for s in (-0.05, 0.05):
        a, b = apply(img_from_norm, np.array([[mid[0] + s, mid[1] - 0.1], [mid[0] + s, mid[1] + 0.02]]))
        cv2.line(lines, tuple(int(v) for v in a.round()), tuple(int(v) for v in b.round()), 1.0, 1)
    lines = cv2.GaussianBlur(lines, (0, 0), 0.8)
    lines /= lines.max()
    creased = np.clip(creased * (1 - 0.3 * lines[..., None]), 0, 255).astype(np.uint8)
    ironed, box = wrinkles.smooth_creases(creased, n, m, 1.0)
    on_line = lines > 0.5
    assert on_line.sum() > 10
    depth_before = (_grey(frame) - _grey(creased))[on_line].mean()
    depth_after = (_grey(frame) - _grey(ironed))[on_line].mean()
    assert depth_after < 0.6 * depth_before, (depth_before, depth_after)
    eye = apply(invert(m), n[[468]])[0].astype(int)  # iris centre: far outside the ironed blobs
    assert np.array_equal(ironed[eye[1] - 2:eye[1] + 3, eye[0] - 2:eye[0] + 3],
                          creased[eye[1] - 2:eye[1] + 3, eye[0] - 2:eye[0] + 3])


@pytest.mark.media
def test_wide_eyes_show_white_above_the_iris_and_leave_the_iris_round(still):
    frame, lm, m, n = still
    out, box = frame, None
    for side in (0, 1):
        out, box = eyes.widen(out, n, m, 1.0, side, box)
    assert box is not None
    img_from_norm = invert(m)
    for iris in ((468, 469, 470, 471, 472), (473, 474, 475, 476, 477)):
        c = n[iris[0]]
        r = float(np.mean(np.linalg.norm(n[list(iris[1:])] - c, axis=1)))
        lid = n[[159, 386]][0 if iris[0] == 468 else 1]
        # The strip just above the old lid line, over the iris's side: brighter (sclera or iris
        # uncovered instead of lashes) after widening.
        strip = apply(img_from_norm, np.array([[c[0] + dx, lid[1] - 0.008] for dx in (-1.3 * r, 1.3 * r)]))
        before = np.mean([_grey(frame[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2]).mean() for x, y in strip])
        after = np.mean([_grey(out[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2]).mean() for x, y in strip])
        assert after > before + 10, (before, after)
        # The lower half of the iris is not stretched: its pixels are the input's.
        low = apply(img_from_norm, (c + [0.0, 0.5 * r])[None])[0].astype(int)
        assert np.array_equal(out[low[1], low[0]], frame[low[1], low[0]])


def test_articulation_follows_the_prompt_and_keeps_closures_sealed():
    from reperform.options import Emotion, GenerateOptions, ModelMode

    mouth = np.tile(np.array([0.2, 0.9, 0.25, 1.2], np.float32), (4, 1))
    mouth[1, 0] = 0.0
    closure = np.array([False, True, False, False])
    closed, neutral = np.array([0.0, 0.9, 0.25, 1.1]), np.array([0.02, 0.9, 0.25, 1.1])
    angry = X.articulate(mouth, closure, closed, neutral, GenerateOptions(mode=ModelMode.face, emotion=Emotion.angry))
    sad = X.articulate(mouth, closure, closed, neutral, GenerateOptions(mode=ModelMode.face, emotion=Emotion.sad))
    assert angry[0, 0] > mouth[0, 0] > sad[0, 0] and angry[0, 3] > mouth[0, 3] > sad[0, 3]
    assert angry[1, 0] == sad[1, 0] == 0.0
    for opts in (GenerateOptions(mode=ModelMode.lips, emotion=Emotion.angry), GenerateOptions(mode=ModelMode.face)):
        assert X.articulate(mouth, closure, closed, neutral, opts) is mouth
