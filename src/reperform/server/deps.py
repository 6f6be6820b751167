"""Request dependencies as ``Annotated`` aliases: a route's signature lists what it needs."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from ..jobs.db import ApiKey
from ..jobs.store import JobStore
from ..protocol.views import UrlSigner
from ..settings import Settings
from ..storage import Storage
from .errors import ApiError

#: Sliding window of the rate limiter (sync states its limits per minute).
RATE_WINDOW_S = 60.0


class RateLimiter:
    """Per-key sliding-window log, in memory (one server process; see docs/server.md).

    A request may cost more than one hit (a batch costs one per line). It is admitted when the
    window has room for at least one; the hits that do not fit are booked into the following
    windows, ``limit`` per window. So a 500-line batch against 60/min is accepted, and the key's
    next create waits about 8 minutes: over time no key gets more than ``limit`` a minute, and
    no batch is too big to ever be accepted.
    """

    def __init__(self) -> None:
        self._hits: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, key_id: str, bucket: str, limit: int, cost: int = 1) -> float | None:
        """Record ``cost`` hits; returns None when allowed, else seconds until a slot frees up."""
        if limit <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._hits[(key_id, bucket)]
            while hits and hits[0] <= now - RATE_WINDOW_S:
                hits.popleft()
            if len(hits) >= limit:  # hits stay sorted: future bookings exist only while this is true
                return hits[len(hits) - limit] + RATE_WINDOW_S - now
            free = limit - len(hits)
            for i in range(cost):
                hits.append(now if i < free else now + RATE_WINDOW_S * ((i - free) // limit + 1))
            return None


class InFlightLimiter:
    """At most ``limit`` requests of one kind in flight per organisation (0: no limit).

    Used from async routes only, so every change happens on the event loop's thread: no lock.
    """

    def __init__(self, limit: int, what: str) -> None:
        self.limit, self.what = limit, what
        self._in_flight: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def slot(self, org_id: str) -> AsyncIterator[None]:
        if self.limit and self._in_flight[org_id] >= self.limit:
            raise ApiError(429, "concurrency_limit_reached",
                           f"at most {self.limit} {self.what} may run at once per organisation; retry later",
                           headers={"Retry-After": "5"})
        self._in_flight[org_id] += 1
        try:
            yield
        finally:
            self._in_flight[org_id] -= 1
            if self._in_flight[org_id] <= 0:
                del self._in_flight[org_id]


@dataclass
class ServerState:
    """Everything the routes share, built by ``create_app`` (no module-level singletons)."""

    settings: Settings
    store: JobStore
    storage: Storage
    url_secret: str
    limiter: RateLimiter = field(default_factory=RateLimiter)
    on_created: Any = None  # callable(job_id): hands a new job to the embedded pool or Celery
    estimates: InFlightLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.estimates = InFlightLimiter(self.settings.max_estimates_per_org, "cost estimates")

    def charge_creates(self, key: ApiKey, cost: int) -> None:
        """Count ``cost`` creates against the key's create limit (429 when it has no room)."""
        limit = self.settings.rate_limit_create_per_min
        retry = self.limiter.check(key.id, "create", limit, cost)
        if retry is not None:
            raise _rate_limited(retry, limit)

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


def _authenticate(state: ServerState, x_api_key: str | None, bucket: str | None, limit: int) -> ApiKey:
    """The caller's key (401 when missing or unknown), counted against one rate-limit bucket."""
    if not x_api_key:
        raise ApiError(401, "unauthorized", "missing x-api-key header")
    key = state.store.keys.authenticate(x_api_key)
    if key is None:
        raise ApiError(401, "unauthorized", "invalid API key")
    if bucket is not None:
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


def uncharged_key(state: StateDep, x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
    """The caller's key, not yet counted: for routes whose cost is known only from the body (batch)."""
    return _authenticate(state, x_api_key, None, 0)


UnchargedKeyDep = Annotated[ApiKey, Depends(uncharged_key)]
