"""Records to ``.npz`` + JSON and back, exactly: one helper for everything the engine saves.

Why a codec of our own rather than pickle: a saved analysis sits next to an uploaded asset and is
read back by a server, so loading must never run code named by the file (pickle does). Why not
plain JSON: analysis records hold numpy arrays (kept bit for bit in the ``.npz``) and a mix of
Python floats and numpy scalars whose types matter downstream (a float32 scalar rounds
differently from a float) — each value comes back with the type it had, so a plan made from a
loaded analysis is the plan made from the original, byte for byte.

Supported values: ``None``, ``bool``, ``int``, ``float`` (NaN and infinities included), ``str``,
numpy scalars and arrays (not object arrays), ``tuple``, ``list``, ``dict`` (any encodable keys),
:class:`fractions.Fraction`, :class:`pathlib.Path` and the dataclasses registered by the caller
(by class name: a file can only name classes the caller allowed).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

#: Marker keys of encoded values (JSON objects carrying one of these are not plain dicts).
_TAGS = ("$array", "$np", "$tuple", "$dict", "$fraction", "$path", "$record")


class RecordFormatError(ValueError):
    """A value cannot be encoded, or a file does not decode to what the caller allows."""


class Encoder:
    """Turns a value into JSON-able data; arrays are collected in :attr:`arrays` (for ``np.savez``)."""

    def __init__(self, records: Iterable[type]) -> None:
        self._records = {cls.__name__: cls for cls in records}
        self.arrays: dict[str, np.ndarray] = {}

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise RecordFormatError("object arrays cannot be saved")
            key = f"a{len(self.arrays)}"
            self.arrays[key] = value
            return {"$array": key}
        if isinstance(value, np.generic):  # before float/int: np.float64 is a float subclass
            return {"$np": value.dtype.str, "v": value.item()}
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, Fraction):
            return {"$fraction": [value.numerator, value.denominator]}
        if isinstance(value, Path):
            return {"$path": str(value)}
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v) for v in value]}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, dict):
            return {"$dict": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            name = type(value).__name__
            if self._records.get(name) is not type(value):
                raise RecordFormatError(f"{name} is not a registered record type")
            fields = {f.name: self.encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
            return {"$record": name, "fields": fields}
        raise RecordFormatError(f"cannot save a value of type {type(value).__name__}")


class Decoder:
    """The inverse of :class:`Encoder`, reading arrays from a loaded ``.npz``."""

    def __init__(self, records: Iterable[type], arrays: Any) -> None:
        self._records = {cls.__name__: cls for cls in records}
        self._arrays = arrays

    def decode(self, data: Any) -> Any:
        if isinstance(data, list):
            return [self.decode(v) for v in data]
        if not isinstance(data, dict):
            return data
        if "$array" in data:
            return np.asarray(self._arrays[data["$array"]])
        if "$np" in data:
            return np.dtype(data["$np"]).type(data["v"])
        if "$tuple" in data:
            return tuple(self.decode(v) for v in data["$tuple"])
        if "$dict" in data:
            return {self.decode(k): self.decode(v) for k, v in data["$dict"]}
        if "$fraction" in data:
            return Fraction(*data["$fraction"])
        if "$path" in data:
            return Path(data["$path"])
        if "$record" in data:
            cls = self._records.get(data["$record"])
            if cls is None:
                raise RecordFormatError(f"unexpected record type {data['$record']!r}")
            return cls(**{k: self.decode(v) for k, v in data["fields"].items()})
        raise RecordFormatError(f"unexpected object with keys {sorted(data)[:5]} (known tags: {', '.join(_TAGS)})")


def save(directory: Path, stem: str, value: Any, records: Iterable[type]) -> tuple[Path, Path]:
    """Write ``value`` as ``<stem>.json`` + ``<stem>.npz`` in ``directory``; returns both paths.

    Each file is written under a temporary name and renamed, so a reader never sees half a file.
    """
    enc = Encoder(records)
    doc = json.dumps(enc.encode(value), allow_nan=True)
    directory.mkdir(parents=True, exist_ok=True)
    js, npz = directory / f"{stem}.json", directory / f"{stem}.npz"
    tmp_npz = directory / f".{stem}.tmp.npz"
    np.savez(tmp_npz, **enc.arrays)  # uncompressed: mouth crops barely compress, and load stays fast
    tmp_npz.replace(npz)
    tmp_js = directory / f".{stem}.tmp.json"
    tmp_js.write_text(doc)
    tmp_js.replace(js)
    return js, npz


def load(directory: Path, stem: str, records: Iterable[type]) -> Any:
    """Read what :func:`save` wrote (raises FileNotFoundError when either file is missing)."""
    data = json.loads((directory / f"{stem}.json").read_text())
    with np.load(directory / f"{stem}.npz", allow_pickle=False) as arrays:
        return Decoder(records, arrays).decode(data)
