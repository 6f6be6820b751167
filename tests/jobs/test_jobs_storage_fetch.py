"""The file store (local folder and a non-local fsspec backend) and the bounded URL fetcher."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from reperform_harness import FileHost

from reperform.protocol.errors import AudioInaccessible, VideoInaccessible
from reperform.protocol.fetch import fetch
from reperform.storage import Storage


@pytest.fixture
def host() -> Iterator[FileHost]:
    h = FileHost()
    h.files["ten_kb.bin"] = b"x" * 10_000
    yield h
    h.close()


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_the_store_round_trips_lists_and_deletes_files(tmp_path: Path, kind: str) -> None:
    # a fresh in-memory bucket per run (the id is drawn here, not in the test's name: pytest-xdist's
    # workers must collect the same names)
    url = str(tmp_path / "files") if kind == "local" else f"memory://reperform-test-{uuid.uuid4().hex}"
    store = Storage(url)
    src = tmp_path / "in.bin"
    src.write_bytes(b"abc" * 1000)
    assert store.put_file(src, "outputs/j1/a/output.mp4") == 3000
    assert store.list("outputs/j1") == ["outputs/j1/a/output.mp4"]  # no .part file is left behind
    store.get_file("outputs/j1/a/output.mp4", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    assert b"".join(store.iter_bytes("outputs/j1/a/output.mp4")) == src.read_bytes()
    assert (store.local_path("outputs/j1/a/output.mp4") is not None) == (kind == "local")
    store.delete("outputs/j1/a/output.mp4")
    assert not store.exists("outputs/j1/a/output.mp4")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../../b", ""])
def test_keys_cannot_escape_the_store(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        Storage(str(tmp_path)).exists(key)


def test_a_download_within_the_limits_lands_complete(host: FileHost, tmp_path: Path) -> None:
    out = fetch(host.url("ten_kb.bin"), tmp_path / "v", max_bytes=20_000, timeout_s=10, allow_private=True)
    assert out.read_bytes() == b"x" * 10_000


def test_a_download_over_the_size_limit_fails_with_the_inputs_error_code_and_leaves_nothing(
        host: FileHost, tmp_path: Path) -> None:
    with pytest.raises(AudioInaccessible, match="limit"):
        fetch(host.url("ten_kb.bin"), tmp_path / "a", max_bytes=5_000, timeout_s=10, allow_private=True,
              error=AudioInaccessible)
    assert list(tmp_path.iterdir()) == []


def test_missing_and_refused_urls_fail_as_inaccessible(host: FileHost, tmp_path: Path) -> None:
    with pytest.raises(VideoInaccessible, match="404"):
        fetch(host.url("nope.mp4"), tmp_path / "v", max_bytes=1000, timeout_s=10, allow_private=True)
    with pytest.raises(VideoInaccessible, match="non-public"):
        fetch(host.url("ten_kb.bin"), tmp_path / "v", max_bytes=20_000, timeout_s=10, allow_private=False)
