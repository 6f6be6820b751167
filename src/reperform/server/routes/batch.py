"""``/v2/batch``: a JSONL file of generate requests becomes one batch of jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ...jobs.store import UnknownAsset
from ...protocol.errors import WireError
from ...protocol.requests import MAX_BATCH_BYTES, parse_batch
from ...protocol.views import batch_json, batch_status
from ..bodies import read_form
from ..deps import ApiKeyDep, ServerState, StateDep, UnchargedKeyDep
from ..errors import ApiError

router = APIRouter(prefix="/v2", tags=["batch"])

def _view(state: ServerState, request: Request, batch_id: str, org_id: str) -> dict[str, Any]:
    batch = state.store.batches.get(batch_id, org_id)
    if batch is None:
        raise ApiError(404, "batch_not_found", f"batch {batch_id} not found")
    return batch_json(batch, state.store.jobs.of_batch(batch.id), state.signer(request))


def _check_assets(state: ServerState, org_id: str, requests: list[tuple[str, dict[str, Any]]]) -> None:
    """Every line's assets must be the caller's (the store checks again when it creates the jobs)."""
    problems = []
    for n, (_, fields) in enumerate(requests, 1):
        for item in fields["input"]:
            if item.get("assetId") and state.store.assets.get(str(item["assetId"]), org_id) is None:
                problems.append(f"line {n}: asset {item['assetId']} does not exist")
    if problems:
        raise WireError("; ".join(problems[:20]), messages=problems)


@router.post("/batch", status_code=201, summary="Create a batch from a JSONL file")
async def create_batch(request: Request, state: StateDep, key: UnchargedKeyDep) -> JSONResponse:
    """Every line is a create: the batch costs one create per line against the key's rate limit
    (a dry run or a refused file costs one), and its jobs count towards the organisation's cap."""
    form = await read_form(request, tmp_dir=state.settings.work_dir / "uploads",
                           max_file_bytes=MAX_BATCH_BYTES, max_files=1)
    try:
        upload = form.file("input")
        if upload is None:
            raise WireError("input must be a JSONL file upload")
        data = await run_in_threadpool(upload.path.read_bytes)
        dry_run = str(form.text("dry_run") or "false").lower() == "true"
        webhook = form.text("webhook_url") or None
    finally:
        form.close()
    try:
        requests = parse_batch(data)
        await run_in_threadpool(_check_assets, state, key.org_id, requests)
        if webhook is not None and not webhook.startswith(("http://", "https://")):
            raise WireError("webhook_url must be an http(s) URL")
    except WireError:
        state.charge_creates(key, 1)
        raise
    state.charge_creates(key, 1 if dry_run else len(requests))
    if dry_run:
        return JSONResponse({"status": "VALIDATED"}, status_code=200)
    try:
        batch, job_ids = await run_in_threadpool(lambda: state.store.batches.create(
            org_id=key.org_id, api_key_id=key.id, webhook_url=webhook, requests=requests,
            max_active=state.settings.max_active_jobs_per_org or None))
    except UnknownAsset as exc:  # an asset was deleted between the check and the insert
        raise WireError(exc.message) from None
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
    for batch in state.store.batches.list(key.org_id, created_after=created_after, created_before=created_before):
        jobs = state.store.jobs.of_batch(batch.id)
        if wanted and batch_status(jobs)[0] not in wanted:
            continue
        out.append(batch_json(batch, jobs, signer))
    return JSONResponse(out)
