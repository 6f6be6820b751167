"""Background upkeep shared by the server and the Celery workers.

Two loops: re-sending jobs whose broker message may be lost (expired leases after a worker was
killed, PENDING jobs never picked up), and delivering due webhooks from the outbox. Running them
in several processes at once is safe: both claim their rows with compare-and-set updates.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..settings import Settings
from .store import JobStore

log = logging.getLogger(__name__)


class Maintenance:
    """Start with :meth:`start`; ``enqueue`` is None in embedded mode (the pool polls the database)."""

    def __init__(self, settings: Settings, store: JobStore, enqueue: Callable[[str], None] | None) -> None:
        self.settings = settings
        self.store = store
        self.enqueue = enqueue
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
        assert self.enqueue is not None
        ids = self.store.due_for_requeue(self.settings.requeue_pending_after_s)
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

    def _webhook_loop(self) -> None:
        from ..server.webhooks import deliver_due

        while not self._stop.wait(self.settings.maintenance_interval_s):
            try:
                deliver_due(self.store, self.settings)
            except Exception:
                log.exception("webhook pass failed")
