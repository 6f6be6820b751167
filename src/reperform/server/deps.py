"""Request dependencies as ``Annotated`` aliases: a route's signature lists what it needs."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from ..jobs.db import ApiKey
from ..jobs.store import JobStore
from ..jobs.views import UrlSigner
from ..settings import Settings
from ..storage import Storage
from .errors import ApiError

#: Sliding window of the rate limiter (sync states its limits per minute).
RATE_WINDOW_S = 60.0


class RateLimiter:
    """Per-key sliding-window counter, in memory (one server process; see docs/server.md)."""

    def __init__(self) -> None:
        self._hits: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, key_id: str, bucket: str, limit: int) -> float | None:
        """Record a hit; returns None when allowed, else seconds until a slot frees up."""
        if limit <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._hits[(key_id, bucket)]
            while hits and hits[0] <= now - RATE_WINDOW_S:
                hits.popleft()
            if len(hits) >= limit:
                return hits[0] + RATE_WINDOW_S - now
            hits.append(now)
            return None


@dataclass
class ServerState:
    """Everything the routes share, built by ``create_app`` (no module-level singletons)."""

    settings: Settings
    store: JobStore
    storage: Storage
    url_secret: str
    limiter: RateLimiter = field(default_factory=RateLimiter)
    on_created: Any = None  # callable(job_id): hands a new job to the embedded pool or Celery


    def signer(self, request: Request) -> UrlSigner:
        """URLs in responses point at the address the client used, unless a public URL is configured."""
        base = self.settings.public_url or str(request.base_url)
        return UrlSigner(self.url_secret, base, self.settings.output_url_ttl_s)


    def signer_for_files(self) -> UrlSigner:
        """For checking signatures only: the base URL plays no part in them."""
        return UrlSigner(self.url_secret, "", self.settings.output_url_ttl_s)


def get_state(request: Request) -> ServerState:
    return request.app.state.reperform


StateDep = Annotated[ServerState, Depends(get_state)]


def _rate_limited(retry_s: float, limit: int) -> ApiError:
    return ApiError(429, "rate_limit_exceeded", f"rate limit of {limit} requests per minute exceeded; retry later",
                    headers={"Retry-After": str(max(1, math.ceil(retry_s)))})


def _authenticate(state: ServerState, x_api_key: str | None, bucket: str, limit: int) -> ApiKey:
    """The caller's key (401 when missing or unknown), counted against one rate-limit bucket."""
    if not x_api_key:
        raise ApiError(401, "unauthorized", "missing x-api-key header")
    key = state.store.authenticate(x_api_key)
    if key is None:
        raise ApiError(401, "unauthorized", "invalid API key")
    retry = state.limiter.check(key.id, bucket, limit)
    if retry is not None:
        raise _rate_limited(retry, limit)
    return key


def api_key(state: StateDep, x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
    """The caller's key; 401 when missing or unknown. Also applies the read rate limit."""
    return _authenticate(state, x_api_key, "read", state.settings.rate_limit_read_per_min)


ApiKeyDep = Annotated[ApiKey, Depends(api_key)]


def create_key(state: StateDep, x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
    """Like :func:`api_key`, with the stricter per-key limit on creating generations."""
    return _authenticate(state, x_api_key, "create", state.settings.rate_limit_create_per_min)


CreateKeyDep = Annotated[ApiKey, Depends(create_key)]
