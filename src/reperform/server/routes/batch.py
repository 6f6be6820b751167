"""``/v2/batch``: a JSONL file of generate requests becomes one batch of jobs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ...jobs.views import batch_json, batch_status
from ..deps import ApiKeyDep, CreateKeyDep, ServerState, StateDep
from ..errors import ApiError
from ..wire import WireError, parse_generate

router = APIRouter(prefix="/v2", tags=["batch"])

#: Batch limits: sync allows 20–500 lines; we also accept small batches (useful for testing).
MAX_BATCH_LINES = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024


def _parse_lines(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    problems: list[str] = []
    out: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    lines = [ln for ln in data.decode("utf-8", errors="replace").splitlines() if ln.strip()]
    if not lines:
        raise WireError("the batch file has no requests")
    if len(lines) > MAX_BATCH_LINES:
        raise WireError(f"a batch holds at most {MAX_BATCH_LINES} requests; got {len(lines)}")
    for n, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise WireError("each line must be a JSON object")
            rid = entry.get("request_id")
            if not isinstance(rid, str) or not rid:
                raise WireError("request_id is required")
            if rid in seen:
                raise WireError(f"request_id {rid!r} is repeated")
            seen.add(rid)
            if entry.get("endpoint", "/v2/generate") != "/v2/generate":
                raise WireError("endpoint must be /v2/generate")
            out.append((rid, parse_generate(entry.get("payload")).job_fields()))
        except json.JSONDecodeError as exc:
            problems.append(f"line {n}: not JSON ({exc.msg})")
        except WireError as exc:
            problems.extend(f"line {n}: {m}" for m in exc.messages)
    if problems:
        raise WireError("; ".join(problems[:20]), messages=problems)
    return out


def _view(state: ServerState, request: Request, batch_id: str, org_id: str) -> dict[str, Any]:
    batch = state.store.get_batch(batch_id, org_id)
    if batch is None:
        raise ApiError(404, "batch_not_found", f"batch {batch_id} not found")
    return batch_json(batch, state.store.batch_jobs(batch.id), state.signer(request))


@router.post("/batch", status_code=201, summary="Create a batch from a JSONL file")
async def create_batch(request: Request, state: StateDep, key: CreateKeyDep) -> JSONResponse:
    form = await request.form()
    upload = form.get("input")
    if not isinstance(upload, UploadFile):
        raise WireError("input must be a JSONL file upload")
    data = await upload.read(MAX_BATCH_BYTES + 1)
    if len(data) > MAX_BATCH_BYTES:
        raise ApiError(413, "file_size_exceeds_plan_limit", f"the batch file is over {MAX_BATCH_BYTES} bytes")
    requests = _parse_lines(data)
    if str(form.get("dry_run", "false")).lower() == "true":
        return JSONResponse({"status": "VALIDATED"}, status_code=200)
    webhook = form.get("webhook_url") or None
    if webhook is not None and not str(webhook).startswith(("http://", "https://")):
        raise WireError("webhook_url must be an http(s) URL")
    batch, job_ids = await run_in_threadpool(lambda: state.store.create_batch(
        org_id=key.org_id, api_key_id=key.id, webhook_url=str(webhook) if webhook else None, requests=requests))
    if state.on_created is not None:
        for job_id in job_ids:
            await run_in_threadpool(state.on_created, job_id)
    return JSONResponse(await run_in_threadpool(_view, state, request, batch.id, key.org_id), status_code=201)


@router.get("/batch/{batch_id}", summary="Get a batch")
def get_batch(batch_id: str, request: Request, state: StateDep, key: ApiKeyDep) -> JSONResponse:
    return JSONResponse(_view(state, request, batch_id, key.org_id))


@router.get("/batch", summary="List batches, newest first")
def list_batches(request: Request, state: StateDep, key: ApiKeyDep,
                 status: Annotated[list[str] | None, Query()] = None,
                 created_after: datetime | None = None, created_before: datetime | None = None) -> JSONResponse:
    wanted = {s.strip().upper() for raw in status or [] for s in raw.split(",") if s.strip()}
    signer = state.signer(request)
    out = []
    for batch in state.store.list_batches(key.org_id, created_after=created_after, created_before=created_before):
        jobs = state.store.batch_jobs(batch.id)
        if wanted and batch_status(jobs)[0] not in wanted:
            continue
        out.append(batch_json(batch, jobs, signer))
    return JSONResponse(out)
