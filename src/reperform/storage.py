"""The file store for uploads and outputs: a local folder by default, any fsspec URL otherwise.

Keys are relative, slash-separated paths (``assets/<id>/video.mp4``). Writes go to
``<key>.part`` and are renamed into place, so a reader (or a crashed worker's successor) never
sees half a file under its final name.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec

log = logging.getLogger(__name__)

#: Chunk size when streaming a stored file out; large enough to keep syscalls few.
STREAM_CHUNK_BYTES = 1024 * 1024


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
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid storage key: {key!r}")
        return f"{self.root}/{key}"

    def put_file(self, local: Path, key: str) -> int:
        """Copy ``local`` to ``key`` atomically; returns the size in bytes."""
        full = self._full(key)
        part = f"{full}.{uuid.uuid4().hex}.part"
        parent = full.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        if self.is_local:
            shutil.copyfile(local, part)
        else:
            self.fs.put_file(str(local), part)
        self.fs.mv(part, full)
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
        return sorted(p[len(self.root) + 1 :] for p in self.fs.find(full))

    def iter_bytes(self, key: str) -> Iterator[bytes]:
        with self.fs.open(self._full(key), "rb") as fh:
            while chunk := fh.read(STREAM_CHUNK_BYTES):
                yield chunk
