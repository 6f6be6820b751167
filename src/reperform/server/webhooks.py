"""Signed webhook delivery with retries, driven by the ``webhook_deliveries`` outbox table.

A terminal job writes an outbox row in the same process that finished it; a maintenance loop
(in the server and in every Celery worker) sends due rows, concurrently, each attempt under a
hard deadline. Rows survive restarts, each attempt is logged on the row, and failures back off
exponentially until ``webhook_max_attempts``.

Signature (Stripe-style, as sync documents it): ``Sync-Signature: t=<unix>,v1=<hex>`` where the
hex is HMAC-SHA256 over ``"<t>.<raw body>"`` keyed with the organisation's ``whsec_`` secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable

import httpx

from ..jobs.db import WebhookDelivery
from ..jobs.store import JobStore
from ..settings import Settings
from .fetch import UrlNotAllowed, describe, open_url

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Sync-Signature"
#: Deliveries in flight at once per process (each holds a socket and a task, nothing more).
MAX_IN_FLIGHT = 32


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Sync-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: float = 300.0) -> bool:
    """Check a ``Sync-Signature`` header (for receivers, and for our own tests)."""
    fields = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - t) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, body, t), header)


async def send_async(url: str, body: bytes, secret: str, *, timeout_s: float,
                     allow_private: bool) -> tuple[bool, int | None, str | None]:
    """One delivery attempt, over within ``timeout_s`` whatever the receiver does: ``(ok, status, error)``.

    2xx counts as delivered. The response body is never read: its status is all we need, and a
    receiver cannot make us download anything.
    """
    headers = {"Content-Type": "application/json", "User-Agent": "reperform-webhooks/1",
               SIGNATURE_HEADER: signature(secret, body, int(time.time()))}
    try:
        async with asyncio.timeout(timeout_s):
            async with open_url("POST", url, allow_private=allow_private, timeout_s=timeout_s,
                                headers=headers, content=body) as resp:
                status = resp.status_code
    except TimeoutError:
        return False, None, f"no answer within {timeout_s:g} s"
    except UrlNotAllowed as exc:
        return False, None, exc.message
    except httpx.HTTPError as exc:
        return False, None, describe(exc)
    ok = 200 <= status < 300
    return ok, status, None if ok else f"HTTP {status}"


class WebhookSender:
    """Delivers due outbox rows concurrently, each attempt a task with its own deadline.

    A slow or silent receiver therefore holds one of ``max_in_flight`` slots for at most
    ``webhook_timeout_s``; everyone else's deliveries keep going out. Rows are claimed (held for
    twice the deadline) only when a slot is free, so several processes can send from one outbox.
    """

    def __init__(self, store: JobStore, settings: Settings, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.store, self.settings, self.max_in_flight = store, settings, max_in_flight
        self._tasks: set[asyncio.Task[None]] = set()

    async def tick(self) -> int:
        """Start a delivery for every due row there is a free slot for; returns how many started."""
        free = self.max_in_flight - len(self._tasks)
        if free <= 0:
            return 0
        rows = await asyncio.to_thread(self.store.claim_due_webhooks, self.settings.webhook_timeout_s * 2, free)
        for row in rows:
            task = asyncio.create_task(self._deliver(row), name=f"webhook-{row.id[:8]}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(rows)

    async def _deliver(self, row: WebhookDelivery) -> None:
        try:
            org = await asyncio.to_thread(self.store.org, row.org_id)
            ok, status, error = await send_async(
                row.url, row.payload.encode(), org.webhook_secret if org else "",
                timeout_s=self.settings.webhook_timeout_s, allow_private=self.settings.allow_private_urls)
            log.info("webhook %s for %s attempt %d: %s", row.id, row.job_id or row.batch_id, row.attempts + 1,
                     "delivered" if ok else error)
            await asyncio.to_thread(self.store.record_webhook_attempt, row.id, ok=ok, status_code=status,
                                    error=error, max_attempts=self.settings.webhook_max_attempts,
                                    backoff_s=self.settings.webhook_backoff_s)
        except Exception:  # the database may be briefly unavailable: the row is retried after its hold
            log.exception("webhook %s: delivery bookkeeping failed", row.id)

    async def drain(self) -> None:
        """Let running deliveries finish (each is bounded by its deadline)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.settings.webhook_timeout_s + 1)

    async def run(self, stop: threading.Event, before_tick: Callable[[], object] | None = None) -> None:
        """Poll the outbox every ``maintenance_interval_s`` until ``stop`` is set.

        ``before_tick`` (blocking, run on a thread) is other upkeep that shares this loop.
        """
        while not stop.is_set():
            try:
                if before_tick is not None:
                    await asyncio.to_thread(before_tick)
                await self.tick()
            except Exception:
                log.exception("webhook pass failed")
            await asyncio.sleep(self.settings.maintenance_interval_s)
        await self.drain()
