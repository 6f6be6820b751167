"""The smile's mouth and the person's own smile, brows raised as a block, glasses left unbent."""

from __future__ import annotations

import numpy as np
import pytest

from reperform.rendering import brows, smile
from reperform.rendering import expression as R
from reperform.rendering.geometry import INNER_LOWER, INNER_UPPER, apply, build_template, invert, to_norm

STILL = "images/sadtalker_people_0.png"
GLASSES = "videos/liveportrait_d13.mp4"
#: liveportrait_d13 grins at frames 21-27 and 72-102 (FER reads happy > 0.8 there).
GLASSES_FRAMES = 105
A = {name: i for i, name in enumerate(R.AUS)}


@pytest.fixture(scope="module")
def still(clip_loader):
    c = clip_loader(STILL, 1)
    lm = c.raw[0]
    template = build_template(lm[None, :, :2].astype(np.float64))
    m = to_norm(lm[:, :2].astype(np.float64), template)
    return c.frames[0], lm, template, m, apply(m, lm[:, :2])


def _grey(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64).mean(-1)


def _opened(n: np.ndarray, gap: float) -> np.ndarray:
    """Normalised landmarks with the lower inner lip (and the lower lip) moved down by ``gap``."""
    out = n.copy()
    lower = list(INNER_LOWER) + [17, 84, 181, 91, 146, 314, 405, 321, 375, 14, 87, 178, 88, 95, 317, 402, 318, 324]
    out[lower, 1] += gap
    return out


def _dark_mouth(frame: np.ndarray, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The frame with the inside of the opened lips painted as a dark mouth interior."""
    import cv2

    img = frame.copy()
    poly = apply(invert(m), np.concatenate([n[[78, *INNER_UPPER, 308]], n[[78, *INNER_LOWER, 308]][::-1]]))
    cv2.fillPoly(img, [np.round(poly).astype(np.int32)], (40, 20, 22))
    return img


@pytest.mark.media
def test_the_smile_shows_upper_teeth_in_a_dark_mouth_and_leaves_real_teeth_alone(still):
    frame, _lm, _t, m, n = still
    opened = _opened(n, 0.12)
    dark = _dark_mouth(frame, opened, m)
    out, box = smile.upper_teeth(dark, opened, m, 1.0, None, seed=0)
    assert box is not None
    img_from_norm = invert(m)
    up, lo = opened[list(INNER_UPPER)][3:6], opened[list(INNER_LOWER)][3:6]
    under_lip = apply(img_from_norm, up + 0.2 * (lo - up)).round().astype(int)
    above_lower = apply(img_from_norm, up + 0.9 * (lo - up)).round().astype(int)
    # A bright row hangs from the upper lip; the bottom of the gap stays dark (it is a mouth).
    assert np.mean([_grey(out[y, x][None])[0] for x, y in under_lip]) > 120
    assert np.mean([_grey(out[y, x][None])[0] for x, y in above_lower]) < 80
    # Teeth already showing (the band is bright): nothing is painted.
    again, box2 = smile.upper_teeth(out, opened, m, 1.0, None, seed=0)
    assert box2 is None and again is out
    # Lips too close to part: nothing either.
    assert smile.upper_teeth(dark, _opened(n, 0.0), m, 1.0, None, seed=0)[1] is None


def test_the_smile_parts_the_lips_and_surprise_drops_a_rounded_jaw():
    au = np.zeros((3, len(R.AUS)), np.float32)
    au[1, A["AU12"]] = 0.6
    au[2, A["AU26"]] = 0.8
    off = R.mouth_target_offsets(au)
    assert np.all(off[0] == 0)
    assert off[1, 0] >= R.SMILE_OPEN_IOD - 1e-6 and off[1, 1] > 0.05  # parted at a clear smile, wider
    assert off[2, 0] >= R.JAW_OPEN_IOD - 1e-6 and off[2, 1] < 0 and off[2, 3] > 0.1  # open, narrower, chin down


@pytest.mark.media
def test_a_drooping_mouth_gets_more_lift_from_the_same_smile(still):
    _frame, _lm, template, _m, n = still
    au = np.zeros((1, len(R.AUS)), np.float32)
    au[0, A["AU12"]] = 0.6
    warp = R.ExpressionWarp(template, au, np.zeros(1, np.float32))
    level = warp.displacements(0, n)
    droopy = n.copy()
    droopy[[61, 291, 78, 308], 1] += 0.05  # corners 0.05 lower
    lifted = warp.displacements(0, droopy)
    corners = [61, 291]
    assert np.all(-lifted[corners, 1] > -level[corners, 1] + 0.03)
    # Corners already where the smile wants them (a real smiling exemplar): no more lift than the fold's.
    high = n.copy()
    high[[61, 291, 78, 308], 1] -= 0.2
    assert np.all(-warp.displacements(0, high)[corners, 1] < 0.03)


@pytest.mark.media
def test_neutral_lifts_a_knit_brow_and_lowers_a_raised_inner_brow(still):
    _frame, _lm, template, _m, n = still
    warp = R.ExpressionWarp(template, np.zeros((1, len(R.AUS)), np.float32), np.zeros(1, np.float32), calm=1.0)
    inner = [107, 66, 55, 65, 336, 296, 285, 295]
    outer = [70, 63, 105, 300, 293, 334]

    def with_slope(slope: float) -> np.ndarray:  # inner brows this far above the outer ones
        b = n.copy()
        b[inner, 1] = b[outer, 1].mean() - slope
        return b

    assert np.mean(warp._calm_brows(with_slope(-0.07))[inner, 1]) < -0.01  # a resting frown lifts
    assert np.mean(warp._calm_brows(with_slope(0.08))[inner, 1]) > 0.01  # the oblique sad brow comes down
    assert not np.any(warp._calm_brows(with_slope(0.0)))  # a level brow is calm already


@pytest.mark.media
def test_a_raised_brow_moves_as_a_block_and_the_eye_below_stays(still):
    frame, _lm, _t, m, n = still
    rise = 0.08
    out, box = frame, None
    for side in (0, 1):
        out, box = brows.lift(out, n, np.full(len(brows.BROW_TOP[side]), rise), m, side, box)
    assert box is not None
    img_from_norm = invert(m)
    px = float(np.sqrt(abs(np.linalg.det(img_from_norm[:, :2]))))
    for side in (0, 1):
        top, bottom = n[list(brows.BROW_TOP[side])], n[list(brows.BROW_BOTTOM[side])]
        mid = (top[2] + bottom[2]) / 2
        # The middle of the brow now sits `rise` higher: the pixel there is the old brow's.
        new = apply(img_from_norm, (mid - [0, rise])[None])[0].round().astype(int)
        old = apply(img_from_norm, mid[None])[0].round().astype(int)
        assert np.abs(out[new[1], new[0]].astype(int) - frame[old[1], old[0]].astype(int)).max() <= 12
        # The brow keeps its height (no smear): its lower edge moved as far as its upper edge.
        col = apply(img_from_norm, np.array([[mid[0], y] for y in np.linspace(top[2, 1] - 0.15, bottom[2, 1] + 0.02, 60)]))
        prof_before = np.array([_grey(frame[int(round(y)), int(round(x))][None])[0] for x, y in col])
        prof_after = np.array([_grey(out[int(round(y)), int(round(x))][None])[0] for x, y in col])
        dark_before = (prof_before < prof_before.min() + 0.5 * np.ptp(prof_before)).sum()
        dark_after = (prof_after < prof_before.min() + 0.5 * np.ptp(prof_before)).sum()
        per_sample = float(np.linalg.norm(col[1] - col[0])) / px  # inter-ocular units per sample
        assert dark_after <= dark_before + 0.02 / per_sample, (dark_before, dark_after)
    # Nothing below the lid crease moves: the eye is the input's, bit for bit.
    for iris in (468, 473):
        x, y = apply(img_from_norm, n[[iris]])[0].round().astype(int)
        assert np.array_equal(out[y - 2:y + 3, x - 3:x + 4], frame[y - 2:y + 3, x - 3:x + 4])


@pytest.fixture(scope="module")
def d13(clip_loader):
    return clip_loader(GLASSES, GLASSES_FRAMES)


def _template(clip) -> np.ndarray:
    present = np.nonzero(clip.track.present)[0]
    return build_template(clip.track.landmarks[present, :, :2].astype(np.float64))


@pytest.mark.media
def test_glasses_are_seen_on_the_bridge_of_the_nose(still, d13):
    frame, _lm, _t, m, n = still
    assert brows.glasses_score(frame, n, m) < brows.GLASSES_EDGE_RATIO
    t = _template(d13)
    lm = d13.track.landmarks[0, :, :2].astype(np.float64)
    md = to_norm(lm, t)
    assert brows.glasses_score(d13.frames[0], apply(md, lm), md) > brows.GLASSES_EDGE_RATIO


@pytest.mark.media
def test_under_glasses_the_brows_do_not_move_but_the_mouth_still_smiles(d13):
    t = _template(d13)
    lm = d13.track.landmarks[0, :, :2].astype(np.float64)
    m = to_norm(lm, t)
    n = apply(m, lm)
    au = np.zeros((1, len(R.AUS)), np.float32)
    au[0, [A["AU1"], A["AU2"], A["AU12"]]] = 1.0
    warp = R.ExpressionWarp(t, au, np.zeros(1, np.float32))
    out, _ = warp.apply(0, d13.frames[0], n, m, None)
    img_from_norm = invert(m)
    rim = apply(img_from_norm, n[[168, 33, 263]] + [0, -0.12])  # the frame's bridge and upper rims
    for x, y in rim.round().astype(int):
        assert np.array_equal(out[y - 2:y + 3, x - 3:x + 4], d13.frames[0][y - 2:y + 3, x - 3:x + 4])
    corner = apply(img_from_norm, n[[61]])[0].round().astype(int)
    assert not np.array_equal(out[corner[1] - 3:corner[1] + 4, corner[0] - 3:corner[0] + 4],
                              d13.frames[0][corner[1] - 3:corner[1] + 4, corner[0] - 3:corner[0] + 4])


@pytest.mark.media
def test_the_persons_own_smile_is_retrieved_only_where_the_source_smiles(clip_loader, d13):
    own = smile.SmileBank.build(d13.bank, _template(d13))
    assert own is not None
    assert 21 <= own.frames[0] <= 104  # a frame of one of his grins
    # Darker folds and lighter cheeks, never beyond the clamp, nothing on the middle of the face.
    lr = own.log_ratio[..., 0]
    assert lr.min() < -0.1 and lr.max() > 0.05
    assert lr.min() >= np.log(smile.RATIO_RANGE[0]) - 1e-6 and lr.max() <= np.log(smile.RATIO_RANGE[1]) + 1e-6
    cx = int(round((0.5 * (own.landmarks[61, 0] + own.landmarks[291, 0]) - own.origin[0]) / own.step))
    assert np.abs(lr[:, cx - 3:cx + 4]).max() < 1e-3
    talking = clip_loader("videos/videoretalking_2.mp4", 16)
    assert smile.SmileBank.build(talking.bank, _template(talking)) is None
    # The person's own teeth colour: bright and far less saturated than skin.
    teeth = smile.teeth_colour(d13.bank)
    assert teeth is not None and teeth.mean() > 120 and np.ptp(teeth) < 60


@pytest.mark.media
def test_a_downcast_eye_is_not_widened_into_a_dark_hole(still):
    from reperform.rendering import eyes

    frame, _lm, _t, m, n = still
    hooded = n.copy()
    for side in (0, 1):
        lower = n[list(eyes.LOWER_LID[side]), 1].mean()
        iris_d = 2 * float(np.mean(np.linalg.norm(n[list(eyes.IRIS[side][1:])] - n[eyes.IRIS[side][0]], axis=1)))
        up = list(eyes.UPPER_LID[side])
        hooded[up, 1] = np.maximum(n[up, 1], lower - 0.25 * iris_d)  # the lid hides most of the iris
    for side in (0, 1):
        out, box = eyes.widen(frame, hooded, m, 1.0, side, None)
        assert box is None and out is frame
        assert eyes.widen(frame, n, m, 1.0, side, None)[1] is not None  # the open eye does widen


@pytest.mark.media
def test_a_full_surprise_raises_the_brows_no_further_than_the_cap_and_keeps_their_arch(still, monkeypatch):
    """The brow-to-eye distance carries identity: the block lift is capped, scaled as a whole."""
    frame, _lm, t, m, n = still
    au = np.zeros((1, len(R.AUS)))
    au[0, A["AU1"]] = au[0, A["AU2"]] = 1.0
    warp = R.ExpressionWarp(t, au, np.zeros(1))
    uncapped = warp._brow_rise(0)
    assert -uncapped.min() > R.BROW_MAX_RISE_IOD  # the cap is what limits a full surprise
    assert R.SURPRISE_BROW_MAX_RISE_IOD < R.BROW_MAX_RISE_IOD
    drawn: dict[int, np.ndarray] = {}

    def lift(frame, face, rise, m_cur, side, box, inplace):
        drawn[side] = np.asarray(rise, np.float64)
        return frame, box

    monkeypatch.setattr(brows, "lift", lift)
    warp.apply(0, frame, n, m, None)
    assert set(drawn) == {0, 1}
    for side in (0, 1):
        want = -uncapped[list(brows.BROW_TOP[side])]
        got = drawn[side]
        assert got.max() <= R.SURPRISE_BROW_MAX_RISE_IOD + 1e-9
        assert got.max() > 0.5 * R.SURPRISE_BROW_MAX_RISE_IOD
        # Scaled, not clipped: inner and outer ends keep their ratio (the arch).
        np.testing.assert_allclose(got / got.max(), want / want.max(), atol=1e-9)


def test_only_a_surprise_raise_gets_the_lower_brow_cap():
    """Sad's oblique brow (AU1 alone) and a stressed syllable's brow flick (AU1+2 below the
    surprise's level) keep BROW_MAX_RISE_IOD; the surprise's full raise gets the lower cap."""
    t = np.random.default_rng(1).uniform(-1, 1.5, (478, 2))
    au = np.zeros((3, len(R.AUS)))
    au[0, A["AU1"]] = 1.0  # sad
    au[1, A["AU1"]] = au[1, A["AU2"]] = 0.3  # emphasis flick
    au[2, A["AU1"]] = au[2, A["AU2"]] = 0.8  # surprise
    warp = R.ExpressionWarp(t, au, np.zeros(3))
    assert warp.brow_cap(0) == R.BROW_MAX_RISE_IOD
    assert warp.brow_cap(1) == R.BROW_MAX_RISE_IOD
    assert warp.brow_cap(2) == R.SURPRISE_BROW_MAX_RISE_IOD
    assert warp.brow_cap(5) == R.BROW_MAX_RISE_IOD  # past the plan: nothing planned
