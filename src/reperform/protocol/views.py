"""Response objects of the sync v2 API — Generation, Asset, Batch — and the signed file URLs in them.

The server answers with them and the workers send them as webhook payloads, so they are rendered
here, from any object with the fields they read (the job side's rows satisfy the protocols
below; nothing here knows a database). Stored files are handed out as signed, expiring URLs
(``/files/<key>?expires=..&signature=..``) that work without the API key, as sync's do.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

#: A generation's lifecycle (sync's values): PENDING → PROCESSING → COMPLETED | FAILED | REJECTED.
PENDING, PROCESSING, COMPLETED, FAILED, REJECTED = "PENDING", "PROCESSING", "COMPLETED", "FAILED", "REJECTED"
TERMINAL = frozenset({COMPLETED, FAILED, REJECTED})
#: A batch that has jobs but none of them started yet.
JOBS_CREATED = "JOBS_CREATED"


class GenerationRecord(Protocol):
    """What a Generation is rendered from (the job side's ``Job`` row)."""

    id: str
    org_id: str
    created_at: datetime
    status: str
    model: str
    input: list[Any]
    options: dict[str, Any] | None
    segments: list[Any] | None
    webhook_url: str | None
    output_key: str | None
    output_duration_s: float | None
    output_file_name: str | None
    error: str | None
    error_code: str | None
    progress: float
    warnings: list[Any] | None


class AssetRecord(Protocol):
    """What an Asset is rendered from (the job side's ``Asset`` row)."""

    id: str
    key: str
    name: str
    created_at: datetime
    updated_at: datetime
    size: int
    format: str | None
    type: str
    input_type: str
    duration_s: float | None
    width: int | None
    height: int | None


class BatchRecord(Protocol):
    """What a BatchResponse is rendered from (the job side's ``Batch`` row)."""

    id: str
    created_at: datetime
    webhook_url: str | None


#: ``(asset_id, org_id) → asset or None``: how a view finds the assets a generation's input names.
#: It takes the organisation so a view can only ever resolve the job's own organisation's assets.
AssetLookup = Callable[[str, str], AssetRecord | None]


def iso(dt: datetime | None) -> str | None:
    """ISO-8601 in UTC with milliseconds and a ``Z``, the form sync's API uses."""
    if dt is None:
        return None
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class UrlSigner:
    """Signs and checks file URLs with the deployment's shared secret (HMAC-SHA256)."""

    def __init__(self, secret: str, base_url: str, ttl_s: int) -> None:
        self._secret = secret.encode()
        self.base_url = base_url.rstrip("/")
        self.ttl_s = ttl_s

    def _mac(self, key: str, expires: int) -> str:
        return hmac.new(self._secret, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, key: str, *, now: float | None = None) -> str:
        # Round expiry up to the hour so repeated polls return the same URL (clients can cache it).
        t = int(now if now is not None else time.time()) + self.ttl_s
        expires = t - t % 3600 + 3600
        return f"{self.base_url}/files/{quote(key)}?expires={expires}&signature={self._mac(key, expires)}"

    def verify(self, key: str, expires: int, signature: str, *, now: float | None = None) -> bool:
        if expires < (now if now is not None else time.time()):
            return False
        return hmac.compare_digest(self._mac(key, expires), signature)


def _echo_input(job: GenerationRecord, assets: AssetLookup, signer: UrlSigner) -> list[dict[str, Any]]:
    """The job's inputs with signed URLs for its assets — only assets of the job's own organisation."""
    out = []
    for item in job.input:
        item = dict(item)
        if item.get("assetId") and not item.get("url"):
            asset = assets(str(item["assetId"]), job.org_id)
            if asset is not None:
                item["url"] = signer.url(asset.key)
        out.append(item)
    return out


def generation_json(job: GenerationRecord, assets: AssetLookup, signer: UrlSigner) -> dict[str, Any]:
    """The Generation object: camelCase at the top, options echoed as sent, both error-code spellings.

    ``warnings`` (a reperform extension; ``[]`` until the job completes) carries the engine's notes
    on a finished job — e.g. that auto speaker selection had no sound to go by and edited the most
    prominent face. It is a new top-level field because syncsdk's ``Generation`` model keeps
    unknown fields (pydantic ``extra="allow"``): the official client reads the response unchanged
    and exposes it as ``generation.warnings``. Inside ``options`` it would not be an echo of the
    request any more.
    """
    output_url = signer.url(job.output_key) if job.status == COMPLETED and job.output_key else None
    return {
        "id": job.id,
        "createdAt": iso(job.created_at),
        "status": job.status,
        "model": job.model,
        "input": _echo_input(job, assets, signer),
        "options": job.options,
        "webhookUrl": job.webhook_url,
        "outputUrl": output_url,
        "outputDuration": job.output_duration_s if job.status == COMPLETED else None,
        "segments": job.segments,
        "segmentOutputUrl": None,
        "error": job.error,
        "error_code": job.error_code,
        "errorCode": job.error_code,
        "outputFileName": job.output_file_name,
        "progress_percent": round(100.0 * (job.progress or 0.0), 1),
        "warnings": list(job.warnings or []) if job.status == COMPLETED else [],
    }


def asset_json(asset: AssetRecord, signer: UrlSigner) -> dict[str, Any]:
    return {
        "id": asset.id,
        "createdAt": iso(asset.created_at),
        "updatedAt": iso(asset.updated_at),
        "name": asset.name,
        "url": signer.url(asset.key),
        "size": asset.size,
        "format": asset.format,
        "type": asset.type,
        "inputType": asset.input_type,
        "durationSeconds": asset.duration_s,
        "thumbnailUrl": None,
        "visibility": "ORGANIZATION",
        "width": asset.width,
        "height": asset.height,
    }


def batch_results_key(batch_id: str) -> str:
    """Where a finished batch's JSONL results file is stored (its ``outputUrl``)."""
    return f"batches/{batch_id}/results.jsonl"


def batch_status(jobs: Sequence[GenerationRecord]) -> tuple[str, dict[str, int]]:
    """A batch's status and metrics, derived from its jobs (the jobs are the truth)."""
    done = sum(j.status == COMPLETED for j in jobs)
    failed = sum(j.status in TERMINAL and j.status != COMPLETED for j in jobs)
    pending = len(jobs) - done - failed
    metrics = {"total_generations": len(jobs), "success_count": done, "failed_count": failed,
               "pending_count": pending}
    if pending:
        status = PROCESSING if any(j.status != PENDING for j in jobs) else JOBS_CREATED
    elif jobs and failed == len(jobs):
        status = FAILED
    else:
        status = COMPLETED
    return status, metrics


def batch_json(batch: BatchRecord, jobs: Sequence[GenerationRecord], signer: UrlSigner) -> dict[str, Any]:
    status, metrics = batch_status(jobs)
    output = None
    if status in (COMPLETED, FAILED):
        output = signer.url(batch_results_key(batch.id))
    return {"id": batch.id, "created_at": iso(batch.created_at), "status": status, "metrics": metrics,
            "webhookUrl": batch.webhook_url, "outputUrl": output}
