"""The file store for uploads and outputs: a local folder by default, any fsspec URL otherwise.

Keys are relative, slash-separated paths (``assets/<id>/video.mp4``). Writes go to a hidden
``.<random>.part`` file beside the key and are renamed into place, so a reader (or a crashed
worker's successor) never sees half a file under its final name; a write that fails removes its
part file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec

log = logging.getLogger(__name__)

#: Chunk size when streaming a stored file out; large enough to keep syscalls few.
STREAM_CHUNK_BYTES = 1024 * 1024
#: Longest name of one path component on the file systems we run on (ext4, xfs, APFS: 255 bytes).
#: Part files are named independently of the key, so a key's last component may use all of it.
MAX_NAME_BYTES = 255


def _is_part(path: str) -> bool:
    """A write in progress (or one a killed process left): not a stored file."""
    name = path.rsplit("/", 1)[-1]
    return name.startswith(".") and name.endswith(".part")


class Storage:
    """A folder of named files behind fsspec (``file``, ``s3``, ``gcs``, ``memory``...)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, root = fsspec.core.url_to_fs(url)
        self.root = root.rstrip("/")
        if self.is_local:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    @property
    def is_local(self) -> bool:
        protocol = self.fs.protocol
        names = protocol if isinstance(protocol, tuple | list) else (protocol,)
        return "file" in names or "local" in names

    def _full(self, key: str) -> str:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) \
                or any(len(p.encode()) > MAX_NAME_BYTES for p in parts):
            raise ValueError(f"invalid storage key: {key[:300]!r}")
        return f"{self.root}/{key}"

    def put_file(self, local: Path, key: str) -> int:
        """Copy ``local`` to ``key`` atomically; returns the size in bytes.

        Nothing is left behind when the copy or the rename fails (a full disk, a key that names a
        folder): the part file is removed and the error re-raised.
        """
        full = self._full(key)
        parent = full.rsplit("/", 1)[0]
        part = f"{parent}/.{uuid.uuid4().hex}.part"
        self.fs.makedirs(parent, exist_ok=True)
        try:
            if self.is_local:
                shutil.copyfile(local, part)
                os.replace(part, full)  # atomic; fails on a folder (fsspec's mv would move *into* it)
            else:
                self.fs.put_file(str(local), part)
                self.fs.mv(part, full)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm(part)
            raise
        return self.size(key)

    def get_file(self, key: str, local: Path) -> None:
        """Copy ``key`` into the local file ``local``."""
        local.parent.mkdir(parents=True, exist_ok=True)
        if self.is_local:
            shutil.copyfile(self._full(key), local)
        else:
            self.fs.get_file(self._full(key), str(local))

    def local_path(self, key: str) -> Path | None:
        """The file's path when the store is a local folder (lets the server use sendfile)."""
        return Path(self._full(key)) if self.is_local else None

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._full(key)))

    def size(self, key: str) -> int:
        return int(self.fs.size(self._full(key)))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._full(key))

    def list(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (a folder key)."""
        full = self._full(prefix)
        if not self.fs.exists(full):
            return []
        return sorted(p[len(self.root) + 1 :] for p in self.fs.find(full) if not _is_part(p))

    def head(self, key: str, n: int) -> bytes:
        """The first ``n`` bytes of a stored file (to sniff its type)."""
        with self.fs.open(self._full(key), "rb") as fh:
            return fh.read(n)

    def iter_bytes(self, key: str) -> Iterator[bytes]:
        with self.fs.open(self._full(key), "rb") as fh:
            while chunk := fh.read(STREAM_CHUNK_BYTES):
                yield chunk
