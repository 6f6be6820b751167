"""``/v2/models``, assets, and the signed file URLs (no API key: the signature is the permission)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.responses import Response

from ...protocol.catalog import model_list
from ...protocol.views import asset_json
from ..deps import ApiKeyDep, StateDep
from ..errors import ApiError
from ..uploads import MEDIA_TYPES, sniff_format

router = APIRouter(tags=["models and assets"])

#: Page size of /v2/assets when the client gives none.
DEFAULT_ASSET_PAGE = 20


@router.get("/v2/models", summary="List models")
def list_models(_key: ApiKeyDep) -> JSONResponse:
    return JSONResponse(model_list())


@router.get("/v2/assets", summary="List assets (cursor paging)")
def list_assets(request: Request, state: StateDep, key: ApiKeyDep,
                limit: Annotated[int, Query(ge=1, le=100)] = DEFAULT_ASSET_PAGE,
                cursor: str | None = None, searchQuery: str | None = None,  # noqa: N803 - wire name
                sortBy: str = "dateDesc",  # noqa: N803 - wire name
                types: Annotated[list[str] | None, Query()] = None,
                projectId: str | None = None) -> JSONResponse:  # noqa: N803 - accepted, single project
    try:
        offset = int(cursor) if cursor else 0
    except ValueError:
        raise ApiError(400, "generation_input_validation_failed", "invalid cursor") from None
    kinds = [t.strip() for raw in types or [] for t in raw.split(",") if t.strip()]
    rows, total = state.store.assets.list(key.org_id, limit=limit, offset=offset, types=kinds,
                                          search=searchQuery, sort_by=sortBy)
    signer = state.signer(request)
    page: dict[str, object] = {"items": [asset_json(a, signer) for a in rows], "totalCount": total}
    if offset + len(rows) < total:
        page["nextCursor"] = str(offset + len(rows))
    return JSONResponse(page)


@router.get("/v2/assets/{asset_id}", summary="Get an asset")
def get_asset(asset_id: str, request: Request, state: StateDep, key: ApiKeyDep) -> JSONResponse:
    asset = state.store.assets.get(asset_id, key.org_id)
    if asset is None:
        raise ApiError(404, "asset_not_found", f"asset {asset_id} not found")
    return JSONResponse(asset_json(asset, state.signer(request)))


#: Headers on every stored file. The files are the clients' own bytes on the Studio's origin,
#: where the API key sits in localStorage: a browser must never run them as a page. So: a type
#: from the sniffed media only, no sniffing by the browser, always a download when navigated to,
#: and a CSP that forbids everything (scripts, plugins, frames) if it is rendered anyway.
#: ``<video>``/``<img>`` elements (the Studio's before/after view) ignore the last three.
FILE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}


def _media_type(state: StateDep, key: str) -> str:
    """Outputs are our MP4s and batch results our JSONL; anything else is typed by its first bytes."""
    if key.startswith("outputs/") and key.endswith(".mp4"):
        return "video/mp4"
    if key.startswith("batches/") and key.endswith(".jsonl"):
        return "application/x-ndjson"
    return MEDIA_TYPES.get(sniff_format(state.storage.head(key, 16)) or "", "application/octet-stream")


@router.api_route("/files/{key:path}", methods=["GET", "HEAD"], include_in_schema=False)
def download(key: str, state: StateDep, expires: int = 0, signature: str = "") -> Response:
    if not state.signer_for_files().verify(key, expires, signature):
        raise ApiError(403, "forbidden", "the link is invalid or has expired")
    try:
        exists = state.storage.exists(key)
    except ValueError:
        exists = False
    if not exists:
        raise ApiError(404, "not_found", "file not found")
    media_type = _media_type(state, key)
    filename = key.rsplit("/", 1)[-1]
    local = state.storage.local_path(key)
    if local is not None:
        return FileResponse(local, media_type=media_type, filename=filename, headers=FILE_HEADERS,
                            content_disposition_type="attachment")
    disposition = f"attachment; filename*=utf-8''{quote(filename)}"
    return StreamingResponse(state.storage.iter_bytes(key), media_type=media_type,
                             headers={**FILE_HEADERS, "Content-Disposition": disposition,
                                      "Content-Length": str(state.storage.size(key))})
