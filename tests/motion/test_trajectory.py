"""The learned mouth trajectory: features, fitting, the shipped model, and its place in the plan."""

from __future__ import annotations

import numpy as np
import pytest

from reperform.errors import EngineError
from reperform.motion import load_mouth_model, plan_motion, trajectory
from reperform.motion.visemes import Viseme
from reperform.options import GenerateOptions

from .builders import FPS, profile, speech, timemap


def test_a_phone_shows_in_the_features_at_every_lag_that_reaches_it():
    tl = speech([("AA", 1.00, 1.10)], 2.0)
    x = trajectory.design(tl, np.array([1.05]))
    assert x.shape == (1, trajectory.n_features()) and x[0, -1] == 1.0
    per_lag = x[0, :-1].reshape(len(trajectory.LAGS_S), -1)
    open_col = int(Viseme.OPEN) - 1  # REST is left out of the one-hot
    seen = [lag for lag, row in zip(trajectory.LAGS_S, per_lag, strict=True) if row[open_col] == 1.0]
    # frame at 1.05 s reads the phone while 1.05 + lag is inside [1.00, 1.10)
    assert min(seen) == pytest.approx(-0.04) and max(seen) == pytest.approx(0.04)


def test_times_outside_the_audio_read_nothing():
    tl = speech([("AA", 0.0, 0.3)], 0.3)
    x = trajectory.design(tl, np.array([5.0]))
    assert np.all(x[0, :-1] == 0.0)


def test_fit_recovers_a_known_filter_and_weighs_every_clip_equally():
    rng = np.random.default_rng(1)
    dim = 6
    w_true = rng.normal(size=dim)
    xs = [np.column_stack([rng.normal(size=(n, dim - 1)), np.ones(n)]) for n in (50, 2000)]
    ys = [x @ w_true for x in xs]
    assert np.allclose(trajectory.fit(xs, ys, ridge=1e-6), w_true, atol=1e-4)
    # The same clip twice as long must not change the fit (each clip counts once).
    doubled = [xs[0], np.vstack([xs[1], xs[1]])]
    assert np.allclose(trajectory.fit(doubled, [d @ w_true for d in doubled], 10.0),
                       trajectory.fit(xs, ys, 10.0))


def test_the_shipped_model_opens_for_open_vowels_and_shuts_for_closures():
    model = trajectory.load()
    assert model.info["clips"] and model.info["held_out_mean_r"] > 0.3
    tl = speech([("P", 0.4, 0.5), ("AA", 0.5, 0.75), ("M", 0.75, 0.85), ("IY", 0.85, 1.0)], 1.5)
    z = model.predict(tl, np.array([0.45, 0.62, 0.80, 1.4]))
    closure, vowel, closure2, silence = z
    assert vowel > closure + 0.5 and vowel > closure2 + 0.5
    assert vowel > silence


def test_a_model_file_for_another_feature_layout_is_refused(tmp_path):
    path = tmp_path / "old.npz"
    np.savez(path, weights=np.zeros(5), version=trajectory.FORMAT_VERSION, lags_s=np.array([0.0]), info="{}")
    with pytest.raises(EngineError, match="another feature layout"):
        trajectory.load(str(path))


def test_an_empty_path_plans_by_the_rules_alone():
    assert load_mouth_model("") is None


def _plan(model, tl, n_out):
    return plan_motion(tl, None, None, profile(), timemap(n_out, tl.duration_s), GenerateOptions(),
                       mouth_model=model)


def test_the_learned_share_moves_speaking_frames_only_and_keeps_seals_and_pauses():
    spec = [("HH", 0.30, 0.36), ("AH", 0.36, 0.52), ("L", 0.52, 0.58), ("OW", 0.58, 0.80),
            ("B", 1.60, 1.68), ("AA", 1.68, 1.90), ("T", 1.90, 1.96), ("M", 1.96, 2.06), ("IY", 2.06, 2.30)]
    tl = speech(spec, 3.0)
    n = int(3.0 * FPS)
    rules, learned = _plan(None, tl, n), _plan(trajectory.load(), tl, n)
    assert not np.array_equal(rules.mouth[:, 0], learned.mouth[:, 0])
    changed = ~np.isclose(rules.mouth[:, 0], learned.mouth[:, 0], atol=1e-6)
    assert not changed[~learned.speaking].any()  # pauses stay as the rules plan them
    assert np.array_equal(learned.closure, rules.closure)
    assert np.allclose(learned.mouth[learned.closure, 0], rules.mouth[rules.closure, 0])
