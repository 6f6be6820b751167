"""The ablation's switches turn off exactly the part they name, and restore it afterwards."""

import numpy as np
import pytest

pytest.importorskip("cv2")

from benchmarks.emotion_ablate import COMPONENTS, without  # noqa: E402

from reperform.rendering import expression as ex  # noqa: E402


def _au(**levels: float) -> np.ndarray:
    au = np.zeros((1, len(ex.AUS)), np.float32)
    for name, v in levels.items():
        au[0, ex.AUS.index(name)] = v
    return au


def test_smile_width_switch_zeroes_only_the_width_and_restores():
    before = ex.mouth_target_offsets(_au(AU12=1.0))[0]
    assert before[1] > 0.1
    with without("smile_width"):
        off = ex.mouth_target_offsets(_au(AU12=1.0))[0]
        assert off[1] == pytest.approx(0.0)
        assert off[0] == pytest.approx(before[0])  # the parting stays
    np.testing.assert_allclose(ex.mouth_target_offsets(_au(AU12=1.0))[0], before)


def test_jaw_switches_split_chin_parting_and_narrowing():
    full = ex.mouth_target_offsets(_au(AU26=1.0))[0]
    with without("jaw"):
        assert ex.mouth_target_offsets(_au(AU26=1.0))[0][3] == pytest.approx(0.0)
    with without("jaw_open"):
        assert ex.mouth_target_offsets(_au(AU26=1.0))[0][0] < full[0] - 0.1
    with without("jaw_narrow"):
        assert ex.mouth_target_offsets(_au(AU26=1.0))[0][1] == pytest.approx(0.0)


def test_cheek_switch_removes_the_cheek_lift_from_the_warp_basis():
    template = np.zeros((478, 2))
    rng = np.random.default_rng(0)
    template[:, :] = rng.uniform(-1, 1.5, (478, 2))
    full = ex.au_displacements(template)[ex.AUS.index("AU6")]
    with without("cheek_lift+lower_lid"):
        assert np.abs(ex.au_displacements(template)[ex.AUS.index("AU6")]).max() == 0.0
    np.testing.assert_allclose(ex.au_displacements(template)[ex.AUS.index("AU6")], full)
    assert np.abs(full).max() > 0


def test_every_listed_component_switches():
    for c in COMPONENTS:
        with without(c):
            pass
    with pytest.raises(ValueError), without("no_such_part"):
        pass
