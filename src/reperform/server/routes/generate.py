"""``/v2/generate``, ``/v2/generations`` and ``/v2/analyze/cost``."""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ... import api
from ...errors import ReperformError
from ...jobs.store import TERMINAL
from ...jobs.views import generation_json
from ...options import Emotion, ModelMode, SyncMode
from ..deps import ApiKeyDep, CreateKeyDep, ServerState, StateDep
from ..errors import ApiError
from ..fetch import VideoInaccessible, fetch
from ..uploads import save_upload
from ..wire import MODELS, PRICE_PER_S_USD, WireError, loads_maybe, parse_generate

router = APIRouter(prefix="/v2", tags=["generations"])

#: Long-poll bounds of GET /v2/generate/{id}?wait=true (sync documents 1–10 s, default 5).
WAIT_MIN_S, WAIT_MAX_S, WAIT_DEFAULT_S = 1, 10, 5
#: How often a long-poll re-reads the job row.
WAIT_POLL_S = 0.25
#: Frame rate assumed for stills and for text-only audio in cost estimates (sync's default is 30).
DEFAULT_FPS = 25.0
#: Speaking rate used to estimate the length of a TTS script, characters per second.
TTS_CHARS_PER_S = 14.0


def _input_schema() -> dict[str, Any]:
    media = {"type": "object", "required": ["type"], "properties": {
        "type": {"enum": ["video", "audio"]}, "url": {"type": "string", "format": "uri"}, "assetId": {"type": "string"}}}
    text = {"type": "object", "required": ["type", "provider"], "properties": {
        "type": {"const": "text"}, "provider": {"type": "object", "required": ["script"], "properties": {
            "name": {"type": "string"}, "script": {"type": "string", "maxLength": 4999},
            "voiceId": {"type": "string", "description": "an espeak-ng voice, e.g. en-us (default)"}}}}}
    return {"type": "array", "items": {"oneOf": [media, text]}}


#: OpenAPI description of the create body; the route parses it by hand to accept both encodings.
GENERATE_BODY = {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "required": ["model", "input"], "properties": {
        "model": {"enum": list(MODELS)}, "input": _input_schema(),
        "options": {"type": "object", "properties": {
            "model_mode": {"enum": [m.value for m in ModelMode]}, "prompt": {"enum": [e.value for e in Emotion]},
            "temperature": {"type": "number", "minimum": 0, "maximum": 1},
            "sync_mode": {"enum": [m.value for m in SyncMode]}}},
        "webhookUrl": {"type": "string", "format": "uri"},
        "outputFileName": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,255}$"}}}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["model"], "properties": {
        "model": {"type": "string"}, "video": {"type": "string", "format": "binary"},
        "audio": {"type": "string", "format": "binary"},
        "input": {"type": "string", "description": "JSON array (or repeated JSON objects) of URL inputs"},
        "options": {"type": "string", "description": "JSON object"}, "webhookUrl": {"type": "string"}}}},
}}


async def _read_body(request: Request, state: ServerState, org_id: str) -> dict[str, Any]:
    """JSON or multipart → one dict shaped like the JSON body (uploads become assetId inputs)."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data") or ctype.startswith("application/x-www-form-urlencoded"):
        limit = state.settings.max_upload_bytes
        if int(request.headers.get("content-length") or 0) > 3 * limit + 1024 * 1024:
            raise ApiError(413, "file_size_exceeds_plan_limit", f"request is larger than the upload limit ({limit} bytes per file)")
        form = await request.form()
        body: dict[str, Any] = {k: form.get(k) for k in ("model", "options", "segments", "webhookUrl",
                                                          "outputFileName") if form.get(k) not in (None, "")}
        items: list[Any] = []
        for raw in form.getlist("input"):
            value = loads_maybe(raw, "input")
            items.extend(value if isinstance(value, list) else [value])
        for field, kind in (("video", "video"), ("image", "video"), ("audio", "audio")):
            upload = form.get(field)
            if isinstance(upload, UploadFile):
                asset = await save_upload(state, org_id, upload, field)
                items.append({"type": kind, "assetId": asset.id})
            elif isinstance(upload, str) and upload:
                raise WireError(f"{field} must be a file upload (use input with a url for links)")
        body["input"] = items if items or "input" in form else None
        return body
    raw = await request.body()
    try:
        parsed = json.loads(raw or b"null")
    except json.JSONDecodeError as exc:
        raise WireError(f"the body is not valid JSON: {exc.msg}") from None
    if not isinstance(parsed, dict):
        raise WireError("the request body must be a JSON object")
    return parsed


def _check_assets(state: ServerState, org_id: str, items: list[dict[str, Any]]) -> None:
    for item in items:
        if item.get("assetId") and state.store.get_asset(item["assetId"], org_id) is None:
            raise WireError(f"asset {item['assetId']} does not exist")


@router.post("/generate", status_code=201, summary="Create a generation (JSON or multipart)",
             openapi_extra={"requestBody": GENERATE_BODY})
async def create_generation(request: Request, state: StateDep, key: CreateKeyDep) -> JSONResponse:
    body = await _read_body(request, state, key.org_id)
    req = parse_generate(body)
    await run_in_threadpool(_check_assets, state, key.org_id, req.input)
    job = await run_in_threadpool(lambda: state.store.create_job(org_id=key.org_id, api_key_id=key.id,
                                                                  **req.job_fields()))
    if state.on_created is not None:
        await run_in_threadpool(state.on_created, job.id)
    view = await run_in_threadpool(generation_json, job, state.store, state.signer(request))
    return JSONResponse(view, status_code=201)


@router.get("/generate/{generation_id}", summary="Get a generation")
async def get_generation(generation_id: str, request: Request, state: StateDep, key: ApiKeyDep,
                         wait: bool = False, timeout: Annotated[int | None, Query()] = None) -> JSONResponse:
    if timeout is not None and not WAIT_MIN_S <= timeout <= WAIT_MAX_S:
        raise WireError(f"timeout must be between {WAIT_MIN_S} and {WAIT_MAX_S} seconds")
    job = await run_in_threadpool(state.store.get_job, generation_id, key.org_id)
    if job is None:
        raise ApiError(404, "generation_not_found", f"generation {generation_id} not found")
    headers = {}
    if wait:
        deadline = asyncio.get_running_loop().time() + (timeout or WAIT_DEFAULT_S)
        while job is not None and job.status not in TERMINAL and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(WAIT_POLL_S)
            job = await run_in_threadpool(state.store.get_job, generation_id, key.org_id)
        headers["Retry-After"] = "2"
    assert job is not None
    view = await run_in_threadpool(generation_json, job, state.store, state.signer(request))
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
    jobs = state.store.list_jobs(key.org_id, statuses=statuses, ids=_multi(ids), limit=limit, cursor=cursor)
    s = state.signer(request)
    return JSONResponse([generation_json(j, state.store, s) for j in jobs])


def _duration_and_fps(state: ServerState, org_id: str, item: dict[str, Any], work: Path) -> tuple[float, float]:
    if item.get("type") == "text":
        return len((item.get("provider") or {}).get("script", "")) / TTS_CHARS_PER_S, DEFAULT_FPS
    if item.get("assetId"):
        asset = state.store.get_asset(item["assetId"], org_id)
        if asset is None:
            raise WireError(f"asset {item['assetId']} does not exist")
        if asset.type == "IMAGE":
            return 0.0, DEFAULT_FPS
        return asset.duration_s or 0.0, asset.fps or DEFAULT_FPS
    s = state.settings
    path = fetch(item["url"], work / "media", max_bytes=s.max_fetch_bytes, timeout_s=s.fetch_timeout_s,
                 allow_private=s.allow_private_urls, error=VideoInaccessible)
    info = api.probe(path)
    if info.kind == "image":
        return 0.0, DEFAULT_FPS
    duration = info.duration_s if info.kind == "video" else info.audio_duration_s or info.duration_s
    return duration, float(info.fps) if info.kind == "video" else DEFAULT_FPS


def _estimate(state: ServerState, org_id: str, body: dict[str, Any]) -> dict[str, float]:
    req = parse_generate(body)
    video = next(i for i in req.input if i.get("type") in ("video", "image"))
    audio = next(i for i in req.input if i.get("type") in ("audio", "text"))
    with tempfile.TemporaryDirectory(dir=state.settings.work_dir) as tmp:
        try:
            v_s, fps = _duration_and_fps(state, org_id, video, Path(tmp) / "v")
            a_s, _ = _duration_and_fps(state, org_id, audio, Path(tmp) / "a")
        except (ReperformError, OSError) as exc:
            message = exc.message if isinstance(exc, ReperformError) else str(exc)
            raise ApiError(422, "cost_estimate_unavailable", f"cannot measure the inputs: {message}") from None
    mode = (req.options or {}).get("sync_mode", SyncMode.cut_off.value)
    if v_s <= 0:  # a still image: the output is as long as the audio
        out_s = a_s
    elif mode == SyncMode.cut_off.value:
        out_s = min(v_s, a_s)
    elif mode == SyncMode.silence.value:
        out_s = max(v_s, a_s)
    else:
        out_s = a_s
    frames = float(math.ceil(out_s * fps))
    return {"estimatedFrameCount": frames,
            "estimatedGenerationCost": round(out_s * PRICE_PER_S_USD.get(req.model, 0.05), 4)}


@router.post("/analyze/cost", summary="Estimate the cost of a generation",
             openapi_extra={"requestBody": GENERATE_BODY})
async def estimate_cost(request: Request, state: StateDep, key: ApiKeyDep) -> JSONResponse:
    body = await _read_body(request, state, key.org_id)
    state.settings.work_dir.mkdir(parents=True, exist_ok=True)
    return JSONResponse([await run_in_threadpool(_estimate, state, key.org_id, body)])
