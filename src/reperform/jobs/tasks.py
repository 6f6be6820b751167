"""Celery wiring: the app factory and the ``run_job`` task (a job id is the whole message).

Reliability settings follow Celery's task guide: ``acks_late`` with ``task_reject_on_worker_lost``
so a killed pool process puts its message back, prefetch 1 so a long job does not hold others
hostage, and a Redis visibility timeout above the longest job. Duplicated messages are harmless —
:func:`reperform.jobs.execution.execute` claims the job row, and a COMPLETED job is a no-op. A message
runs the fairest claimable job across organisations (:func:`~reperform.jobs.execution.execute_fairly`),
not necessarily the one it names.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from ..settings import Settings
from .store import Claim

log = logging.getLogger(__name__)

RUN_JOB = "reperform.run_job"
#: One chunk of a long job's render (its id is the whole message; see :mod:`.chunkjobs`).
RENDER_CHUNK = "reperform.render_chunk"
#: Floor for the retry delay when another attempt still holds a job's lease.
BUSY_RETRY_MIN_S = 1.0


def make_celery(settings: Settings) -> Celery:
    """A Celery app bound to ``settings`` (broker = ``settings.redis_url``; no result backend)."""
    app = Celery("reperform", broker=settings.redis_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.celery_visibility_timeout_s},
        worker_hijack_root_logger=False,
    )
    contexts: dict[int, Any] = {}

    @worker_process_init.connect(weak=False)
    def _warm_up(**_: Any) -> None:
        # Each pool process loads the engine once, right after it starts, on a thread: Celery
        # gives a starting process only a few seconds to report in, and the first task simply
        # waits for the imports it needs.
        from .. import api

        threading.Thread(target=api.warm_up, args=(settings.engine_config(),), name="warm-up", daemon=True).start()

    def context() -> Any:
        # One store per process: a database connection must not cross the prefork fork.
        from .context import JobContext

        pid = os.getpid()
        if pid not in contexts:
            contexts[pid] = JobContext.build(settings)
            contexts[pid].enqueue_chunk = chunk_sender(app)
        return contexts[pid]

    @app.task(name=RUN_JOB, bind=True, max_retries=None)
    def run_job(self: Any, job_id: str) -> str:
        from .execution import execute_fairly

        outcome = execute_fairly(context(), job_id)
        if outcome is Claim.BUSY:
            raise self.retry(countdown=max(BUSY_RETRY_MIN_S, settings.lease_s / 2))
        return outcome.value

    @app.task(name=RENDER_CHUNK, max_retries=None)
    def render_chunk(chunk_id: str) -> bool:
        from .chunkjobs import render_chunk as run_chunk

        return run_chunk(context(), chunk_id)

    return app


def job_sender(app: Celery) -> Callable[[str], None]:
    """Sends a job id to the workers (a ``run_job`` message)."""
    return lambda job_id: app.send_task(RUN_JOB, args=[job_id])


def chunk_sender(app: Celery) -> Callable[[str], None]:
    """Sends a chunk id to the workers (a ``render_chunk`` message)."""
    return lambda chunk_id: app.send_task(RENDER_CHUNK, args=[chunk_id])
