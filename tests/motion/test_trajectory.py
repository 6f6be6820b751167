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


def _acoustic_timeline(n: int = 150):
    """1.5 s: speech features switched on between 0.5 and 1.0 s, a /p/ at 0.70-0.75 s."""
    import dataclasses

    from reperform.speech.acoustic import N_FEATURES

    tl = speech([("P", 0.70, 0.75)], n * 0.01)
    energy = np.zeros(n, np.float32)
    energy[50:100] = 1.0
    feats = np.zeros((n, N_FEATURES), np.float32)
    feats[50:100] = np.arange(1, N_FEATURES + 1)
    return dataclasses.replace(tl, energy=energy, openness=energy * 0.5, features=feats, method="recognized")


def test_the_acoustic_design_reads_the_sound_and_bilabials_but_no_other_phone():
    tl = _acoustic_timeline()
    x = trajectory.acoustic_design(tl, np.array([0.72, 0.3]))
    assert x.shape == (2, trajectory.n_acoustic_features()) and np.all(x[:, -1] == 1.0)
    per_lag = x[:, :-1].reshape(2, len(trajectory.ACOUSTIC_LAGS_S), trajectory.N_ACOUSTIC_TRACKS)
    zero_lag = trajectory.ACOUSTIC_LAGS_S.index(0.0)
    assert per_lag[0, zero_lag, 0] == 1.0 and per_lag[0, zero_lag, 1] == 0.5
    assert list(per_lag[0, zero_lag, 2:-1]) == list(range(1, per_lag.shape[2] - 2))
    assert per_lag[0, zero_lag, -1] == 1.0  # the /p/
    assert np.all(per_lag[1, zero_lag] == 0.0)  # silence at 0.3 s
    # Another phone label in place of the /p/ changes nothing but the bilabial column.
    import dataclasses

    other = dataclasses.replace(tl, phones=tuple(dataclasses.replace(p, label="AA") for p in tl.phones))
    y = trajectory.acoustic_design(other, np.array([0.72]))[0, :-1].reshape(len(trajectory.ACOUSTIC_LAGS_S), -1)
    assert np.array_equal(y[:, :-1], per_lag[0, :, :-1]) and y[zero_lag, -1] == 0.0


def test_a_timeline_without_features_reads_zeros_for_them():
    import dataclasses

    tl = dataclasses.replace(_acoustic_timeline(), features=np.zeros((0, 0), np.float32))
    per_lag = trajectory.acoustic_design(tl, np.array([0.6]))[0, :-1].reshape(len(trajectory.ACOUSTIC_LAGS_S), -1)
    assert np.all(per_lag[:, 2:-1] == 0.0) and per_lag[trajectory.ACOUSTIC_LAGS_S.index(0.0), 0] == 1.0


def test_the_acoustic_model_drives_unaligned_speech_and_round_trips_through_its_file(tmp_path):
    import dataclasses

    rng = np.random.default_rng(0)
    model = trajectory.MouthModel(weights=rng.normal(size=trajectory.n_features()), info={"clips": ["x"]},
                                  acoustic_weights=rng.normal(size=trajectory.n_acoustic_features()))
    loaded = trajectory.load(str(model.save(tmp_path / "m.npz")))
    assert np.array_equal(loaded.acoustic_weights, model.acoustic_weights)
    tl = _acoustic_timeline()
    times = np.array([0.6, 0.8])
    loudness = dataclasses.replace(tl, method="acoustic")
    assert np.allclose(loaded.predict(loudness, times), trajectory.acoustic_design(tl, times) @ model.acoustic_weights)
    for method in ("aligned", "recognized"):  # phones: the phone model (acoustic_methods says where)
        other = dataclasses.replace(tl, method=method)
        assert np.allclose(loaded.predict(other, times), trajectory.design(other, times) @ model.weights)
    both = dataclasses.replace(loaded, acoustic_methods=("recognized", "acoustic"))
    assert np.allclose(both.predict(tl, times), trajectory.acoustic_design(tl, times) @ model.acoustic_weights)


def test_a_phone_only_model_file_of_version_1_still_reads_and_drives_recognised_speech_by_phones(tmp_path):
    w = np.random.default_rng(2).normal(size=trajectory.n_features())
    path = tmp_path / "v1.npz"
    np.savez(path, weights=w, version=1, lags_s=np.asarray(trajectory.LAGS_S), info="{}")
    model = trajectory.load(str(path))
    assert model.acoustic_weights is None
    tl = _acoustic_timeline()
    assert np.allclose(model.predict(tl, np.array([0.6])), trajectory.design(tl, np.array([0.6])) @ w)
    np.savez(path, weights=w, version=99, lags_s=np.asarray(trajectory.LAGS_S), info="{}")
    trajectory.load.cache_clear()
    with pytest.raises(EngineError, match="another feature layout"):
        trajectory.load(str(path))


def test_loudness_only_speech_gets_the_acoustic_model_only_when_the_model_has_one():
    import dataclasses

    from reperform.speech.acoustic import N_FEATURES

    n_grid = 300
    op = np.zeros(n_grid, np.float32)
    for a in (30, 90, 160, 220):  # four syllables of sound
        op[a:a + 40] = np.hanning(40) * 0.8
    tl = speech([], 3.0, method="acoustic", openness=op)
    feats = np.zeros((n_grid, N_FEATURES), np.float32)
    feats[:, 0] = np.roll(op, 5)  # an "F1" that differs from the loudness
    tl = dataclasses.replace(tl, features=feats, pauses=((0.0, 0.3), (1.3, 1.6), (2.6, 3.0)))
    n = int(3.0 * FPS)
    phone_only = trajectory.MouthModel(weights=np.ones(trajectory.n_features()), info={})
    w = np.zeros(trajectory.n_acoustic_features())
    w[2 + trajectory.ACOUSTIC_LAGS_S.index(0.0) * trajectory.N_ACOUSTIC_TRACKS] = 1.0  # F1 at lag 0
    with_acoustic = dataclasses.replace(phone_only, acoustic_weights=w)
    rules = _plan(None, tl, n).mouth[:, 0]
    assert np.array_equal(_plan(phone_only, tl, n).mouth[:, 0], rules)
    mixed = plan_motion(tl, None, None, profile(), timemap(n, 3.0), GenerateOptions(), mouth_model=with_acoustic,
                        learned_shares=(0.5,))
    assert not np.allclose(mixed.mouth[:, 0], rules)
    assert np.allclose(mixed.mouth[~mixed.speaking, 0], rules[~mixed.speaking])
