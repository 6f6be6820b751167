"""``/v2/generate``, ``/v2/generations`` and ``/v2/analyze/cost``."""

from __future__ import annotations

import asyncio
import math
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ... import api
from ...errors import InvalidOptions, ReperformError
from ...jobs.db import Asset
from ...options import SyncMode
from ...protocol.catalog import price_per_s_usd
from ...protocol.errors import VideoInaccessible, WireError
from ...protocol.fetch import fetch_async
from ...protocol.requests import (
    DEPRECATED_SPANS,
    UPLOAD_FIELDS,
    GenerateBody,
    GenerateForm,
    GenerateRequest,
    parse_generate,
    request_segments,
    to_generate_options,
)
from ...protocol.strictjson import loads_maybe
from ...protocol.views import TERMINAL, generation_json
from ..bodies import Form, FormFile, read_form, read_json
from ..deps import ApiKeyDep, CreateKeyDep, ServerState, StateDep
from ..errors import ApiError
from ..openapi import request_body
from ..uploads import discard_asset, save_upload

router = APIRouter(prefix="/v2", tags=["generations"])

#: Long-poll bounds of GET /v2/generate/{id}?wait=true (sync documents 1–10 s, default 5).
WAIT_MIN_S, WAIT_MAX_S, WAIT_DEFAULT_S = 1, 10, 5
#: How often a long-poll re-reads the job row.
WAIT_POLL_S = 0.25
#: Frame rate assumed for stills and for text-only audio in cost estimates (sync's default is 30).
DEFAULT_FPS = 25.0
#: Speaking rate used to estimate the length of a TTS script, characters per second.
TTS_CHARS_PER_S = 14.0

#: Prefix of an upload field holding an audio input with a refId (``audio:a``, ``audio:b``): how a
#: multipart create gives each segment its own uploaded audio (a reperform extension: sync's
#: multipart form has one ``audio`` field, so its clients send segment audios as URLs).
REF_AUDIO_FIELD = "audio:"
#: ``audio:<refId>`` uploads one create may carry.
MAX_REF_AUDIOS = 8
#: Files one create may upload: video, image and audio, plus the refId'd audios of segments.
MAX_CREATE_FILES = len(UPLOAD_FIELDS) + MAX_REF_AUDIOS
#: Form fields copied into the body as they are: the JSON body's fields but ``input``, which
#: gathers the repeated input fields and the uploads.
FORM_FIELDS = tuple(name for name in GenerateBody.model_fields if name != "input")
#: The request body the document shows for creates and estimates (the route validates with the same models).
CREATE_BODY = request_body(json=GenerateBody, form=GenerateForm)


@dataclass
class CreateBody:
    """A create request's body shaped like the JSON one; uploads stand in as placeholder assetIds."""

    body: dict[str, Any]
    uploads: dict[str, FormFile] = field(default_factory=dict)  # placeholder assetId → its file
    form: Form | None = None

    def close(self) -> None:
        if self.form is not None:
            self.form.close()


async def _read_body(request: Request, state: ServerState) -> CreateBody:
    """JSON or multipart → one dict shaped like the JSON body. Nothing is stored here: uploads stay
    temporary files until the request has been validated (a refused create keeps nothing)."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        parsed = await read_json(request, max_bytes=state.settings.max_json_bytes)
        if not isinstance(parsed, dict):
            raise WireError("the request body must be a JSON object")
        return CreateBody(parsed)
    form = await read_form(request, tmp_dir=state.settings.work_dir / "uploads",
                           max_file_bytes=state.settings.max_upload_bytes, max_files=MAX_CREATE_FILES)
    out = CreateBody({}, form=form)
    try:
        out.body = {k: v for k in FORM_FIELDS if (v := form.text(k)) not in (None, "")}
        items: list[Any] = []
        for raw in form.texts("input"):
            value = loads_maybe(raw, "input")
            items.extend(value if isinstance(value, list) else [value])
        marker = uuid.uuid4().hex
        for name, kind in UPLOAD_FIELDS.items():
            upload = form.file(name)
            if upload is not None:
                placeholder = f"upload:{marker}:{name}"
                out.uploads[placeholder] = upload
                items.append({"type": kind, "assetId": placeholder})
            elif form.text(name):
                raise WireError(f"{name} must be a file upload (use input with a url for links)")
        for ref, upload in _ref_audio_uploads(form):
            placeholder = f"upload:{marker}:{upload.field}"
            out.uploads[placeholder] = upload
            items.append({"type": "audio", "assetId": placeholder, "refId": ref})
        out.body["input"] = items if items or "input" in form else None
    except BaseException:
        out.close()
        raise
    return out


def _ref_audio_uploads(form: Form) -> list[tuple[str, FormFile]]:
    """The ``audio:<refId>`` uploads with their refIds, in the order sent; each refId once."""
    found: dict[str, FormFile] = {}
    for upload in form.files:
        if not upload.field.startswith(REF_AUDIO_FIELD):
            continue
        ref = upload.field[len(REF_AUDIO_FIELD):]
        if not ref.strip():
            raise WireError(f"the upload field {upload.field!r} needs a refId after the colon, e.g. audio:a")
        if ref in found:
            raise WireError(f"the upload field {upload.field!r} is sent more than once")
        found[ref] = upload
    return list(found.items())


async def _store_uploads(state: ServerState, org_id: str, body: CreateBody,
                         items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Asset]]:
    """Store the uploads as assets; ``items`` with their placeholders replaced by the assets' ids."""
    stored: list[Asset] = []
    try:
        ids: dict[str, str] = {}
        for placeholder, upload in body.uploads.items():
            asset = await save_upload(state, org_id, upload)
            stored.append(asset)
            ids[placeholder] = asset.id
    except BaseException:
        await run_in_threadpool(lambda: [discard_asset(state, a) for a in stored])
        raise
    return [{**i, "assetId": ids[i["assetId"]]} if i.get("assetId") in ids else i for i in items], stored


@router.post("/generate", status_code=201, summary="Create a generation (JSON or multipart)",
             openapi_extra=CREATE_BODY)
async def create_generation(request: Request, state: StateDep, key: CreateKeyDep) -> JSONResponse:
    body = await _read_body(request, state)
    try:
        req = parse_generate(body.body)  # a refused request stops here, before anything is stored
        await _check_uploaded_video(body, req)
        fields = req.job_fields()
        fields["input"], stored = await _store_uploads(state, key.org_id, body, req.input)
        try:
            job = await run_in_threadpool(lambda: state.store.jobs.create(
                org_id=key.org_id, api_key_id=key.id, max_active=state.settings.max_active_jobs_per_org or None,
                **fields))
        except BaseException:  # a foreign asset in input, or the organisation's queue is full
            await run_in_threadpool(lambda: [discard_asset(state, a) for a in stored])
            raise
    finally:
        body.close()
    if state.on_created is not None:
        await run_in_threadpool(state.on_created, job.id)
    view = await run_in_threadpool(generation_json, job, state.store.assets.get, state.signer(request))
    return JSONResponse(view, status_code=201)


async def _check_uploaded_video(body: CreateBody, req: GenerateRequest) -> None:
    """Options an uploaded video refutes (a speaker point on no face, the request's or a segment's,
    a frame past its end, not one box per frame) are a 400 now, not a failed job later. Videos given by URL or asset are checked
    when the job reads them."""
    video = next((i for i in req.input if i.get("type") in ("video", "image")), None)
    upload = body.uploads.get(str(video.get("assetId"))) if video is not None else None
    if upload is None:
        return
    # Segments too: each may point at its own speaker (``optionsOverride.active_speaker_detection``).
    segments = request_segments(req.model, req.input, req.segments, fps=None)
    options = to_generate_options(req.model, req.options, text=None, segments=segments)
    try:
        await run_in_threadpool(api.check_video_options, upload.path, options)
    except InvalidOptions as exc:
        raise WireError(exc.message) from None
    except ReperformError:
        return  # an unreadable video: the job reports it as it always has


@router.get("/generate/{generation_id}", summary="Get a generation")
async def get_generation(generation_id: str, request: Request, state: StateDep, key: ApiKeyDep,
                         wait: bool = False, timeout: Annotated[int | None, Query()] = None) -> JSONResponse:
    if timeout is not None and not WAIT_MIN_S <= timeout <= WAIT_MAX_S:
        raise WireError(f"timeout must be between {WAIT_MIN_S} and {WAIT_MAX_S} seconds")
    job = await run_in_threadpool(state.store.jobs.get, generation_id, key.org_id)
    if job is None:
        raise ApiError(404, "generation_not_found", f"generation {generation_id} not found")
    headers = {}
    if wait:
        deadline = asyncio.get_running_loop().time() + (timeout or WAIT_DEFAULT_S)
        while job is not None and job.status not in TERMINAL and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(WAIT_POLL_S)
            job = await run_in_threadpool(state.store.jobs.get, generation_id, key.org_id)
        headers["Retry-After"] = "2"
    assert job is not None
    view = await run_in_threadpool(generation_json, job, state.store.assets.get, state.signer(request))
    return JSONResponse(view, headers=headers)


def _multi(values: list[str] | None) -> list[str]:
    """Repeated (SDK) or comma-separated (docs) query values."""
    return [v.strip() for raw in values or [] for v in raw.split(",") if v.strip()]


@router.get("/generations", summary="List generations")
def list_generations(request: Request, state: StateDep, key: ApiKeyDep,
                     status: Annotated[list[str] | None, Query()] = None,
                     ids: Annotated[list[str] | None, Query()] = None,
                     limit: Annotated[int | None, Query(ge=1, le=100)] = None,
                     cursor: str | None = None) -> JSONResponse:
    statuses = [s.upper() for s in _multi(status)]
    jobs = state.store.jobs.list(key.org_id, statuses=statuses, ids=_multi(ids), limit=limit, cursor=cursor)
    s = state.signer(request)
    return JSONResponse([generation_json(j, state.store.assets.get, s) for j in jobs])


async def _duration_and_fps(state: ServerState, org_id: str, item: dict[str, Any], uploads: dict[str, FormFile],
                           work: Path) -> tuple[float, float]:
    if item.get("type") == "text":
        return len((item.get("provider") or {}).get("script", "")) / TTS_CHARS_PER_S, DEFAULT_FPS
    if item.get("assetId") in uploads:
        path = uploads[item["assetId"]].path
    elif item.get("assetId"):
        asset = await run_in_threadpool(state.store.assets.get, str(item["assetId"]), org_id)
        if asset is None:
            raise WireError(f"asset {item['assetId']} does not exist")
        if asset.type == "IMAGE":
            return 0.0, DEFAULT_FPS
        return asset.duration_s or 0.0, asset.fps or DEFAULT_FPS
    else:
        # Downloaded on the event loop under the fetch deadline: a slow host holds no request thread.
        s = state.settings
        path = await fetch_async(item["url"], work / "media", max_bytes=s.max_fetch_bytes, timeout_s=s.fetch_timeout_s,
                                 allow_private=s.allow_private_urls, error=VideoInaccessible)
    info = await run_in_threadpool(api.probe, path)
    if info.kind == "image":
        return 0.0, DEFAULT_FPS
    duration = info.duration_s if info.kind == "video" else info.audio_duration_s or info.duration_s
    return duration, float(info.fps) if info.kind == "video" else DEFAULT_FPS


async def _estimate(state: ServerState, org_id: str, body: CreateBody) -> dict[str, float]:
    req = parse_generate(body.body)
    video = next(i for i in req.input if i.get("type") in ("video", "image"))
    audio = next(i for i in req.input if i.get("type") in ("audio", "text"))
    with tempfile.TemporaryDirectory(dir=state.settings.work_dir) as tmp:
        try:
            v_s, fps = await _duration_and_fps(state, org_id, video, body.uploads, Path(tmp) / "v")
            a_s, _ = await _duration_and_fps(state, org_id, audio, body.uploads, Path(tmp) / "a")
        except (ReperformError, OSError) as exc:
            message = exc.message if isinstance(exc, ReperformError) else str(exc)
            raise ApiError(422, "cost_estimate_unavailable", f"cannot measure the inputs: {message}") from None
    mode = to_generate_options(req.model, req.options, text=None).sync_mode
    video_item = next(i for i in req.input if i.get("type") in ("video", "image"))
    if req.segments or any(video_item.get(k) for k in DEPRECATED_SPANS):
        out_s = v_s  # segments keep the video's own length
    elif v_s <= 0:  # a still image: the output is as long as the audio
        out_s = a_s
    elif mode is SyncMode.cut_off:
        out_s = min(v_s, a_s)
    elif mode is SyncMode.silence:
        out_s = max(v_s, a_s)
    else:
        out_s = a_s
    frames = float(math.ceil(out_s * fps))
    return {"estimatedFrameCount": frames,
            "estimatedGenerationCost": round(out_s * price_per_s_usd(req.model), 4)}


@router.post("/analyze/cost", summary="Estimate the cost of a generation",
             openapi_extra=CREATE_BODY)
async def estimate_cost(request: Request, state: StateDep, key: ApiKeyDep) -> JSONResponse:
    """Uploads are measured and dropped (an estimate stores nothing); URLs are fetched without a
    request thread, and each organisation may have only a few estimates in flight."""
    async with state.estimates.slot(key.org_id):
        body = await _read_body(request, state)
        try:
            state.settings.work_dir.mkdir(parents=True, exist_ok=True)
            return JSONResponse([await _estimate(state, key.org_id, body)])
        finally:
            body.close()
