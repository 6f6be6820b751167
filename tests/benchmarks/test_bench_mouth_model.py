"""benchmarks.mouth_model on synthetic clips: both models fitted, each clip scored by models that never saw it."""

from __future__ import annotations

import numpy as np

from benchmarks import mouth_model
from reperform.motion import trajectory


def _clip(name: str, seed: int, acoustic_signal: bool) -> mouth_model.ClipData:
    rng = np.random.default_rng(seed)
    n = 400
    design = rng.normal(size=(n, trajectory.n_features()))
    acoustic = rng.normal(size=(n, trajectory.n_acoustic_features()))
    design[:, -1] = acoustic[:, -1] = 1.0
    # the mouth follows one acoustic column (and no phone column) in every clip
    target = acoustic[:, 3] if acoustic_signal else rng.normal(size=n)
    return mouth_model.ClipData(name, design, (target - target.mean()) / target.std(), np.ones(n, bool), 25.0, acoustic)


def test_train_fits_the_acoustic_model_beside_the_phone_model_and_held_out_scores_both():
    data = [_clip(f"c{i}", i, True) for i in range(3)]
    model = mouth_model.train(data)
    assert model.weights.shape == (trajectory.n_features(),)
    assert model.acoustic_weights.shape == (trajectory.n_acoustic_features(),)
    assert {"ridge", "acoustic_ridge"} <= set(model.info)
    scores = mouth_model.held_out(data)
    for _ridge, phone_r, _a_ridge, acoustic_r in scores.values():
        assert acoustic_r > 0.8 and abs(phone_r) < 0.3  # the signal is in the sound, not in the phones


def test_data_without_recognised_route_features_trains_the_phone_model_alone():
    """The benchmark's leave-one-speaker-out fit builds its data from analyses, with no acoustic
    features: training must give the phone model (and no acoustic one), not fail."""
    from dataclasses import replace

    data = [replace(_clip(f"c{i}", i, True), acoustic=None) for i in range(3)]
    model = mouth_model.train(data)
    assert model.weights.shape == (trajectory.n_features(),)
    assert model.acoustic_weights is None and "acoustic_ridge" not in model.info
