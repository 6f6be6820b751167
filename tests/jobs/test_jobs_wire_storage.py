"""Request bodies and stored names (issue 13): strict JSON (no NaN/Infinity, no 500s for deep
nesting, huge integers or invalid UTF-8), output names that fit on disk, storage keys without
``.``/``..``, and no part file left by a failed write. Each test failed on bd9a033."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from reperform.protocol.errors import WireError
from reperform.protocol.requests import MAX_OUTPUT_FILE_NAME, parse_generate
from reperform.protocol.strictjson import strict_loads
from reperform.storage import Storage

INPUT = [{"type": "video", "url": "http://example.test/v.mp4"}, {"type": "audio", "url": "http://example.test/a.wav"}]


# --- 5, 6, 7. strict JSON and output names ------------------------------------------------------

@pytest.mark.parametrize("raw", [b'{"a": NaN}', b'{"a": [1, -Infinity]}', b'{"a": 1e999}', b"[" * 40 + b"]" * 40,
                                 b"[" * 100_000, b'{"a": ' + b"1" * 5000 + b"}", b'{"a": "\xc3\x28"}', b"{"])
def test_strict_json_refuses_with_a_wire_error_only(raw: bytes) -> None:
    with pytest.raises(WireError):
        strict_loads(raw)


def test_strict_json_keeps_ordinary_values() -> None:
    assert strict_loads(b'{"t": 0.5, "n": 12345678901234567890, "s": "\xc3\xa9", "l": [[1]]}') == {
        "t": 0.5, "n": 12345678901234567890, "s": "é", "l": [[1]]}


def _with_name(name: str) -> dict:
    return {"model": "react-1", "input": INPUT, "outputFileName": name}


@pytest.mark.parametrize("name", ["abc\n", "a" * (MAX_OUTPUT_FILE_NAME + 1), "a" * 255, "", "a.b", "a/b"])
def test_output_file_names_that_cannot_be_stored_are_refused(name: str) -> None:
    with pytest.raises(WireError):
        parse_generate(_with_name(name))


@pytest.mark.parametrize("where", ["local", "memory"])
def test_the_longest_accepted_output_name_is_storable(tmp_path: Path, where: str) -> None:
    name = "a" * MAX_OUTPUT_FILE_NAME
    assert parse_generate(_with_name(name)).output_file_name == name
    storage = Storage(str(tmp_path / "files") if where == "local" else f"memory://t-{uuid.uuid4().hex}")
    src = tmp_path / "out.mp4"
    src.write_bytes(b"mp4")
    key = f"outputs/{uuid.uuid4()}/{uuid.uuid4().hex[:12]}/{name}.mp4"
    assert storage.put_file(src, key) == 3 and storage.list(key.rsplit("/", 1)[0]) == [key]


@pytest.mark.parametrize("key", ["assets/x/.", "assets/x/..", "assets//x", "assets/x/" + "n" * 256])
def test_storage_refuses_dot_empty_and_overlong_components(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        Storage(str(tmp_path)).exists(key)


def test_a_failed_store_leaves_no_part_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = Storage(str(tmp_path / "files"))
    src = tmp_path / "in.bin"
    src.write_bytes(b"abc")
    (tmp_path / "files" / "outputs" / "j" / "out.mp4").mkdir(parents=True)  # the key names a folder
    with pytest.raises(OSError):
        local.put_file(src, "outputs/j/out.mp4")
    assert not [p for p in (tmp_path / "files").rglob("*") if p.name.endswith(".part")]

    remote = Storage(f"memory://t-{uuid.uuid4().hex}")

    def broken_mv(*_: object, **__: object) -> None:
        raise OSError("the object store went away")

    monkeypatch.setattr(remote.fs, "mv", broken_mv)
    with pytest.raises(OSError):
        remote.put_file(src, "outputs/j/out.mp4")
    assert not [p for p in remote.fs.find(remote.root) if p.endswith(".part")]
