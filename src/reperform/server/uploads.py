"""Uploaded files → assets. The bytes decide the type (the SDK sends everything as octet-stream)."""

from __future__ import annotations

import re
import shutil
import tempfile
import uuid
from pathlib import Path

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from .. import api
from ..errors import MediaUnreadable
from ..jobs.db import Asset
from ..jobs.store import new_id
from .deps import ServerState
from .errors import ApiError

#: Leading bytes that name a container, checked in order (format shown on the Asset).
MAGIC = [
    (b"\x1a\x45\xdf\xa3", "webm"), (b"RIFF", "wav"), (b"fLaC", "flac"), (b"OggS", "ogg"), (b"ID3", "mp3"),
    (b"\xff\xfb", "mp3"), (b"\xff\xf3", "mp3"), (b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpg"),
]
SAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def sniff_format(head: bytes) -> str | None:
    """The container format from the first bytes of a file (None if unknown)."""
    if head[4:8] == b"ftyp":
        return "mov" if head[8:10] == b"qt" else "mp4"
    for magic, fmt in MAGIC:
        if head.startswith(magic):
            if fmt == "wav" and head[8:12] == b"AVI ":
                return "avi"
            return fmt
    return None


def _store_upload(state: ServerState, org_id: str, src: Path, filename: str | None, field: str) -> Asset:
    """Probe ``src`` and keep it as an asset (runs in a worker thread: probing reads the file)."""
    try:
        info = api.probe(src)
    except MediaUnreadable as exc:
        raise ApiError(400, "generation_unsupported_media",
                       f"the uploaded {field} is not readable media: {exc.message}") from None
    with src.open("rb") as fh:
        fmt = sniff_format(fh.read(16))
    asset_id = new_id()
    name = SAFE_NAME_RE.sub("_", filename or "upload")[:100] or "upload"
    key = f"assets/{asset_id}/{name}"
    size = state.storage.put_file(src, key)
    kind = {"video": "VIDEO", "image": "IMAGE", "audio": "AUDIO"}[info.kind]
    duration = info.duration_s if info.kind == "video" else (info.audio_duration_s or info.duration_s)
    return state.store.create_asset(Asset(
        id=asset_id, org_id=org_id, name=name, key=key, size=size, format=fmt, type=kind, input_type="UPLOAD",
        duration_s=round(duration, 3) if duration else None, fps=float(info.fps) if info.fps else None,
        width=info.width or None, height=info.height or None,
    ))


async def save_upload(state: ServerState, org_id: str, upload: UploadFile, field: str) -> Asset:
    """Size-check, spool to disk, probe and store one uploaded file; 413 over the configured limit."""
    limit = state.settings.max_upload_bytes
    if upload.size is not None and upload.size > limit:
        raise ApiError(413, "file_size_exceeds_plan_limit", f"{field} is larger than {limit} bytes")
    tmp_dir = state.settings.work_dir / "uploads"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkstemp(dir=tmp_dir, prefix=uuid.uuid4().hex[:8])[1])
    try:
        def copy() -> None:
            upload.file.seek(0)
            with tmp.open("wb") as out:
                shutil.copyfileobj(upload.file, out)
        await run_in_threadpool(copy)
        if tmp.stat().st_size > limit:
            raise ApiError(413, "file_size_exceeds_plan_limit", f"{field} is larger than {limit} bytes")
        if tmp.stat().st_size == 0:
            raise ApiError(400, "generation_unsupported_media", f"the uploaded {field} is empty")
        return await run_in_threadpool(_store_upload, state, org_id, tmp, upload.filename, field)
    finally:
        tmp.unlink(missing_ok=True)
