"""The benchmark's offline expression classifier: Keras's arithmetic in numpy, and it reads real faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from benchmarks.measure import FaceMeasurer, iter_rgb

from benchmarks import expression_classifier as ec


def _naive_conv(v: np.ndarray, k: np.ndarray, stride: int, pad: tuple[int, int]) -> np.ndarray:
    """Direct loops: TensorFlow's 'same' puts the odd padding pixel after (bottom/right)."""
    v = np.pad(v, ((0, 0), pad, pad, (0, 0)))
    kh, kw, _, co = k.shape
    oh, ow = (v.shape[1] - kh) // stride + 1, (v.shape[2] - kw) // stride + 1
    out = np.zeros((v.shape[0], oh, ow, co))
    for i in range(oh):
        for j in range(ow):
            win = v[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j] = np.tensordot(win, k, axes=([1, 2, 3], [0, 1, 2]))
    return out


def test_conv_and_pool_match_keras_same_padding():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(2, 6, 6, 3)).astype(np.float32)
    k3 = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(ec.conv2d(v, k3, (1, 1), "same"), _naive_conv(v, k3, 1, (1, 1)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ec.conv2d(v, k3, (1, 1), "valid"), _naive_conv(v, k3, 1, (0, 0)), rtol=1e-5, atol=1e-5)
    k1 = rng.normal(size=(1, 1, 3, 4)).astype(np.float32)
    # 1×1, stride 2 on an even size: no padding, pixels 0, 2, 4.
    np.testing.assert_allclose(ec.conv2d(v, k1, (2, 2), "same"), _naive_conv(v, k1, 2, (0, 0)), rtol=1e-5, atol=1e-5)
    # 3×3 max pool, stride 2, 'same' on 6 px: one padding pixel after, windows start at 0, 2, 4.
    pooled = ec.max_pool(v, (3, 3), (2, 2), "same")
    assert pooled.shape == (2, 3, 3, 3)
    assert np.allclose(pooled[:, 2, 2], v[:, 4:6, 4:6].max(axis=(1, 2)))
    assert np.allclose(pooled[:, 0, 0], v[:, 0:3, 0:3].max(axis=(1, 2)))
    dk = rng.normal(size=(3, 3, 3)).astype(np.float32)
    per_channel = np.stack([_naive_conv(v[..., c:c + 1], dk[..., c, None, None], 1, (1, 1))[..., 0] for c in range(3)], -1)
    np.testing.assert_allclose(ec.depthwise_conv2d(v, dk, "same"), per_channel, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def classifier():
    return ec.ExpressionClassifier()


def _frames(path, indices):
    want = set(indices)
    return {i: f for i, f in enumerate(iter_rgb(path)) if i in want}


@pytest.mark.media
def test_the_network_is_the_shipped_mini_xception(classifier):
    probs = classifier.probs(np.full((1, 64, 64), 128, np.uint8))
    assert probs.shape == (1, 7) and abs(probs.sum() - 1) < 1e-5
    n_params = sum(v.size for layer in classifier.net.params.values() for v in layer.values())
    assert 55_000 < n_params < 62_000  # mini-Xception: ~58 k weights with batch-norm statistics


@pytest.mark.media
def test_an_obvious_smile_reads_happy_and_a_calm_face_neutral(classifier, media_dir):
    # liveportrait_d13: the man talks calmly (frame 0), then grins broadly (frames 225-275).
    frames = _frames(media_dir / "videos" / "liveportrait_d13.mp4", (0, 225, 250, 275))
    with FaceMeasurer() as fm:
        reads = {i: classifier.read(f, fm.landmarks(f)) for i, f in frames.items()}
    assert reads[0].top == "neutral"
    for i in (225, 250, 275):
        assert reads[i].top == "happy" and reads[i]["happy"] > 0.8, (i, reads[i].probs)
    photo = cv2.cvtColor(cv2.imread(str(media_dir / "images" / "sadtalker_people_0.png")), cv2.COLOR_BGR2RGB)
    with FaceMeasurer() as fm:
        assert classifier.read(photo, fm.landmarks(photo)).top == "neutral"  # closed mouth, relaxed face


@pytest.mark.media
def test_the_crop_follows_the_haar_box_fer_would_use(media_dir):
    frames = list(_frames(media_dir / "videos" / "videoretalking_4.mp4", range(0, 150, 15)).values())
    with FaceMeasurer() as fm:
        lms = [fm.landmarks(f) for f in frames]
    cy, side = ec.calibrate_box(frames, lms)
    assert abs(cy - ec.HAAR_CENTRE_Y_IOD) < 0.06 and abs(side - ec.HAAR_SIDE_IOD) < 0.35


def test_a_prompt_is_read_as_top_class_or_by_a_gain_over_the_input():
    from benchmarks.emotion_bench import Row, summary

    def row(emotion, p_in, p_out, clip="videoretalking_2"):
        return Row(clip, emotion, 0.5, np.asarray(p_in, float), np.asarray(p_out, float), 0.0)

    base = [0.30, 0.01, 0.2, 0.01, 0.28, 0.05, 0.15]  # angry, disgust, fear, happy, sad, surprise, neutral
    assert row("angry", base, base).reads  # already the top class
    assert not row("sad", base, base).reads  # second, no gain
    assert row("disgusted", base, [0.28, 0.07, 0.2, 0.01, 0.28, 0.05, 0.11]).reads  # +0.06
    assert not row("disgusted", base, [0.28, 0.055, 0.2, 0.01, 0.28, 0.05, 0.125]).reads  # +0.045: not enough
    text = summary([row("angry", base, base), row("sad", base, base)])
    assert "T=0.5: 1/2 read" in text and "angry 1/1" in text and "sad 0/1" in text


def test_identity_is_allowed_what_a_real_expression_change_costs_fitted_without_the_clip():
    from benchmarks.emotion_bench import IDENTITY_MARGIN, RealPair, Row, expression_cost, identity_allowance

    rng = np.random.default_rng(0)
    pairs = []
    for clip, slope in (("a", 0.2), ("b", 0.2), ("c", 1.0)):  # clip c's own pairs would inflate the slope
        for _ in range(40):
            change = float(rng.uniform(0, 1))
            pairs.append(RealPair(clip, clip, 0.2 + slope * change + float(rng.normal(0, 0.01)), change, True))
    pairs.append(RealPair("a", "b", 0.7, 0.5, False))  # other people never enter the fit
    a, b = expression_cost(pairs, exclude="c")
    assert abs(a - 0.2) < 0.02 and abs(b - 0.2) < 0.03
    p = np.full(7, 1 / 7)
    lips = Row("c", "lips", 0.0, p, p, 0.0, identity=0.2, expr_change=0.1)
    out = Row("c", "happy", 0.5, p, p, 0.0, identity=0.35, expr_change=0.6)
    allowed = identity_allowance(out, lips, pairs)
    assert abs(allowed - (IDENTITY_MARGIN + b * 0.5)) < 1e-9  # clip c judged by a and b's slope only
    assert identity_allowance(lips, lips, pairs) == IDENTITY_MARGIN
    assert identity_allowance(out, lips, []) == IDENTITY_MARGIN  # no calibration: the bound
