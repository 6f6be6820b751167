"""Uploaded files → assets. The bytes decide the type (the SDK sends everything as octet-stream)."""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool

from .. import api
from ..errors import MediaUnreadable
from ..jobs.db import Asset
from ..jobs.store import new_id
from .bodies import FormFile
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


#: The media type a stored file is served as, from its sniffed format (never from its name).
MEDIA_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm", "avi": "video/x-msvideo",
               "wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg",
               "png": "image/png", "jpg": "image/jpeg"}


def stored_name(filename: str | None) -> str:
    """A safe last path component from a client's file name: ``.``, ``..`` and hidden names cannot result."""
    name = SAFE_NAME_RE.sub("_", filename or "")[:100].lstrip(".")
    return name or "upload"


def _store_upload(state: ServerState, org_id: str, upload: FormFile) -> Asset:
    """Probe the uploaded file and keep it as an asset (runs in a worker thread: probing reads the file)."""
    try:
        info = api.probe(upload.path)
    except MediaUnreadable as exc:
        raise ApiError(400, "generation_unsupported_media",
                       f"the uploaded {upload.field} is not readable media: {exc.message}") from None
    with upload.path.open("rb") as fh:
        fmt = sniff_format(fh.read(16))
    asset_id = new_id()
    name = stored_name(upload.filename)
    key = f"assets/{asset_id}/{name}"
    size = state.storage.put_file(upload.path, key)
    kind = {"video": "VIDEO", "image": "IMAGE", "audio": "AUDIO"}[info.kind]
    duration = info.duration_s if info.kind == "video" else (info.audio_duration_s or info.duration_s)
    try:
        return state.store.assets.create(Asset(
            id=asset_id, org_id=org_id, name=name, key=key, size=size, format=fmt, type=kind, input_type="UPLOAD",
            duration_s=round(duration, 3) if duration else None, fps=float(info.fps) if info.fps else None,
            width=info.width or None, height=info.height or None,
        ))
    except BaseException:
        state.storage.delete(key)
        raise


async def save_upload(state: ServerState, org_id: str, upload: FormFile) -> Asset:
    """Probe and store one uploaded file (its size was enforced while it streamed in)."""
    if upload.size == 0:
        raise ApiError(400, "generation_unsupported_media", f"the uploaded {upload.field} is empty")
    return await run_in_threadpool(_store_upload, state, org_id, upload)


def discard_asset(state: ServerState, asset: Asset) -> None:
    """Remove an asset stored by a create that was then refused: its file, then its row."""
    state.storage.delete(asset.key)
    state.store.assets.delete(asset.id, asset.org_id)
