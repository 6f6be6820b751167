"""One place that turns every failure into sync's JSON error body.

``{"statusCode": 400, "message": [...], "error": "Bad Request", "errorCode": "..."}`` — the SDK
reads ``statusCode``/``message``; newer clients read ``errorCode``. No request ever gets an HTML
page or a bare 500 for bad input.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from ..errors import ReperformError
from ..protocol.errors import WireError

log = logging.getLogger(__name__)

#: errorCode for plain HTTP failures that have no sync-specific code.
HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
              413: "file_size_exceeds_plan_limit", 429: "rate_limit_exceeded"}


class ApiError(Exception):
    """An HTTP error with a stable code, raised by routes and dependencies."""

    def __init__(self, status: int, code: str, message: str | list[str],
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, code, message, headers)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def body(status: int, code: str, message: str | list[str]) -> dict[str, Any]:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    return {"statusCode": status, "message": message, "error": reason, "errorCode": code}


def respond(status: int, code: str, message: str | list[str], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body(status, code, message), status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return respond(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(WireError)
    async def _wire_error(_: Request, exc: WireError) -> JSONResponse:
        return respond(exc.http_status, exc.code, exc.messages)

    @app.exception_handler(ReperformError)
    async def _reperform_error(_: Request, exc: ReperformError) -> JSONResponse:
        status = exc.http_status if exc.is_input_error else 500
        return respond(status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        messages = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return respond(400, "generation_input_validation_failed", messages)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return respond(exc.status_code, HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail),
                       getattr(exc, "headers", None))

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, _: ClientDisconnect) -> Response:
        # Not a fault of ours: the client hung up mid-body (a cancelled upload). One line, no
        # traceback; the answer goes nowhere.
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return respond(500, "internal_error", "internal server error")
