"""Delivering the webhook outbox: due rows sent concurrently, each attempt under a hard deadline.

A terminal job writes an outbox row in the same process that finished it (:mod:`.notify`); a
maintenance loop (in the server and in every Celery worker) sends due rows. Rows survive
restarts, each attempt is logged on the row, and failures back off exponentially until
``webhook_max_attempts``. Signing and the HTTP request itself are the protocol's
(:mod:`reperform.protocol.webhooks`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from ..protocol.webhooks import send_async
from ..settings import Settings
from .db import WebhookDelivery
from .store import JobStore

log = logging.getLogger(__name__)

#: Deliveries in flight at once per process (each holds a socket and a task, nothing more).
MAX_IN_FLIGHT = 32


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
        rows = await asyncio.to_thread(self.store.webhooks.claim_due, self.settings.webhook_timeout_s * 2, free)
        for row in rows:
            task = asyncio.create_task(self._deliver(row), name=f"webhook-{row.id[:8]}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(rows)

    async def _deliver(self, row: WebhookDelivery) -> None:
        try:
            org = await asyncio.to_thread(self.store.orgs.get, row.org_id)
            ok, status, error = await send_async(
                row.url, row.payload.encode(), org.webhook_secret if org else "",
                timeout_s=self.settings.webhook_timeout_s, allow_private=self.settings.allow_private_urls)
            log.info("webhook %s for %s attempt %d: %s", row.id, row.job_id or row.batch_id, row.attempts + 1,
                     "delivered" if ok else error)
            await asyncio.to_thread(self.store.webhooks.record_attempt, row.id, ok=ok, status_code=status,
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
