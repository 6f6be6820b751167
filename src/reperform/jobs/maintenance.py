"""Background upkeep shared by the server and the Celery workers.

Two loops: re-sending jobs whose broker message may be lost (expired leases after a worker was
killed, PENDING jobs never picked up), and delivering due webhooks from the outbox (concurrently,
see :class:`reperform.jobs.outbox.WebhookSender`). Running them
in several processes at once is safe: both claim their rows with compare-and-set updates.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from ..settings import Settings
from ..storage import Storage
from .context import JobContext
from .notify import on_terminal
from .outbox import WebhookSender
from .store import JobStore

log = logging.getLogger(__name__)

#: A job's finisher queues its webhook right after the job ends; only later is it presumed lost.
WEBHOOK_RECOVERY_GRACE_S = 30.0
#: How often the (heavier) scan for lost webhooks runs.
WEBHOOK_RECOVERY_INTERVAL_S = 30.0


class Maintenance:
    """Start with :meth:`start`; ``enqueue`` is None in embedded mode (the pool polls the database)."""

    def __init__(self, settings: Settings, store: JobStore, enqueue: Callable[[str], None] | None,
                 enqueue_chunk: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.enqueue = enqueue
        self.enqueue_chunk = enqueue_chunk
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._webhook_loop, name="webhooks", daemon=True)]
        if enqueue is not None:
            self._threads.append(threading.Thread(target=self._requeue_loop, name="requeue", daemon=True))

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            if t.is_alive():
                t.join(timeout=self.settings.webhook_timeout_s + 2)

    def requeue_once(self) -> list[str]:
        """Re-send lost messages; returns the job ids re-sent.

        Chunked jobs first: a job whose chunks are unfinished keeps its lease (it is waiting for
        workers, not dead), and a chunk whose worker stopped renewing is sent again on its own.
        """
        assert self.enqueue is not None
        if self.enqueue_chunk is not None:
            self.store.chunks.keep_jobs_alive(self.settings.lease_s)
            for chunk_id in self.store.chunks.due_for_requeue(self.settings.requeue_pending_after_s):
                log.info("re-sending chunk %s to the queue (lease expired or message stale)", chunk_id)
                self.enqueue_chunk(chunk_id)
        ids = self.store.jobs.due_for_requeue(self.settings.requeue_pending_after_s)
        for job_id in ids:
            log.info("re-sending job %s to the queue (lease expired or message stale)", job_id)
            self.enqueue(job_id)
        return ids

    def _requeue_loop(self) -> None:
        while not self._stop.wait(self.settings.maintenance_interval_s):
            try:
                self.requeue_once()
            except Exception:  # broker or database briefly unavailable: keep the loop alive
                log.exception("requeue pass failed")

    def recover_webhooks_once(self) -> list[str]:
        """Queue webhooks of jobs whose finishing process died between ending the job and queueing it."""
        ids = self.store.webhooks.missing(WEBHOOK_RECOVERY_GRACE_S)
        if ids:
            ctx = JobContext(settings=self.settings, store=self.store, storage=Storage(self.settings.files_url))
            for job_id in ids:
                log.info("job %s ended without its webhook being queued; queueing it", job_id)
                on_terminal(ctx, job_id)
        return ids

    def _webhook_loop(self) -> None:
        """Deliver webhooks on this thread's own event loop (concurrently, each under its deadline)."""
        last_recovery = 0.0

        def recover_if_due() -> None:
            nonlocal last_recovery
            if time.monotonic() - last_recovery > WEBHOOK_RECOVERY_INTERVAL_S:
                last_recovery = time.monotonic()
                self.recover_webhooks_once()

        asyncio.run(WebhookSender(self.store, self.settings).run(self._stop, recover_if_due))
