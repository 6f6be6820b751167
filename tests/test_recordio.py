"""The one helper that saves records (``.npz`` + JSON): values come back with their exact types."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from reperform import recordio


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    tags: tuple[str, ...] = ()


def test_values_come_back_with_their_types_and_bits(tmp_path):
    value = {
        "none": None, "flag": True, "n": 3, "x": 0.1 + 0.2, "nan": float("nan"), "s": "ü",
        "f32": np.float32(1 / 3), "f64": np.float64(2 / 3), "i64": np.int64(-5), "b": np.bool_(True),
        "arr": np.arange(6, dtype=np.float32).reshape(2, 3), "mask": np.array([True, False]),
        "tup": (1, (2.5, "a")), "lst": [1, [2]], "frac": Fraction(30000, 1001), "path": Path("/a/b.mp4"),
        7: "int key", "rec": Point(1.5, ("p", "q")),
    }
    recordio.save(tmp_path, "thing", value, [Point])
    back = recordio.load(tmp_path, "thing", [Point])
    assert set(back) == set(value)
    for key in ("none", "flag", "n", "x", "s", "tup", "lst", "frac", "path", 7, "rec"):
        assert back[key] == value[key] and type(back[key]) is type(value[key]), key
    assert np.isnan(back["nan"])
    for key in ("f32", "f64", "i64", "b"):
        assert type(back[key]) is type(value[key]) and back[key] == value[key], key
    assert back["arr"].dtype == np.float32 and np.array_equal(back["arr"], value["arr"])
    assert back["mask"].dtype == bool and np.array_equal(back["mask"], value["mask"])


def test_a_file_cannot_name_a_record_type_the_caller_did_not_allow(tmp_path):
    recordio.save(tmp_path, "thing", Point(1.0), [Point])
    with pytest.raises(recordio.RecordFormatError, match="unexpected record type"):
        recordio.load(tmp_path, "thing", [])
    doc = json.loads((tmp_path / "thing.json").read_text())
    doc["$record"] = "Popen"
    (tmp_path / "thing.json").write_text(json.dumps(doc))
    with pytest.raises(recordio.RecordFormatError):
        recordio.load(tmp_path, "thing", [Point])


def test_unsupported_values_are_refused_when_saving(tmp_path):
    with pytest.raises(recordio.RecordFormatError, match="object arrays"):
        recordio.save(tmp_path, "a", np.array([object()]), [])
    with pytest.raises(recordio.RecordFormatError, match="not a registered record"):
        recordio.save(tmp_path, "b", Point(1.0), [])
    with pytest.raises(recordio.RecordFormatError, match="cannot save"):
        recordio.save(tmp_path, "c", {1, 2}, [])
    assert not list(tmp_path.glob("*.json"))
