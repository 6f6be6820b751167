"""The embedded worker pool: jobs run in worker processes beside the server when there is no Redis.

Workers (``python -m reperform.jobs.child``) are kept between jobs so the engine loads once per
worker: the engine's CPU work never competes with the API for the GIL, an engine crash cannot
take the server down, and a worker whose server died (``kill -9``) exits at once; its job's lease
then expires and the restarted server runs the job again. Each worker runs
:func:`reperform.jobs.execution.execute`, as a Celery task does.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings
from .execution import owner_prefix
from .store import JobStore

log = logging.getLogger(__name__)


#: What a worker answers on its protocol channel after each job: ``done JOB_ID``.
WORKER_DONE = "done"
#: A worker process is replaced after this many jobs: bounds whatever a long-lived process might
#: accumulate (fragmented heap, caches) at the price of one start-up in this many jobs.
MAX_JOBS_PER_WORKER = 50


@dataclass(eq=False)
class _Worker:
    """One embedded worker process and the job it is running (None: idle)."""

    proc: subprocess.Popen[str]
    job: str | None = None
    jobs_started: int = 0


class EmbeddedPool:
    """Runs jobs in worker processes beside the server, ``settings.workers`` at a time.

    The database is the queue: the pool claims nothing itself, it hands each claimable job id to
    an idle worker and the worker claims it. Several servers sharing one database therefore
    cooperate safely. Workers are kept between jobs (see :mod:`reperform.jobs.child`), started on
    demand and replaced after :data:`MAX_JOBS_PER_WORKER` jobs.
    """

    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings = settings
        self.store = store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._thread = threading.Thread(target=self._loop, name="embedded-pool", daemon=True)

    def start(self) -> None:
        if self.settings.workers > 0:
            self._thread.start()

    def wake(self) -> None:
        """Called after a create so a new job starts without waiting for the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Stop dispatching; running workers are stopped and their jobs handed back as PENDING.

        (After a crash nobody hands them back: their leases expire and they are re-run then.)
        """
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        with self._lock:
            workers = list(self._workers)
            self._workers.clear()
        for w in workers:
            w.proc.terminate()
        for w in workers:
            try:
                w.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait(timeout=10)
            if w.job is not None and self.store.jobs.release(w.job, owner_prefix(w.proc.pid)):
                log.info("job %s handed back as PENDING (server stopping)", w.job)

    def _spawn(self) -> _Worker:
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])  # run the same checkout even when not installed
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        proc = subprocess.Popen([sys.executable, "-m", "reperform.jobs.child", str(os.getpid())],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, bufsize=1)
        assert proc.stdin is not None
        proc.stdin.write(self.settings.model_dump_json() + "\n")
        proc.stdin.flush()
        worker = _Worker(proc)
        threading.Thread(target=self._listen, args=(worker,), name=f"worker-{proc.pid}", daemon=True).start()
        return worker

    def _listen(self, worker: _Worker) -> None:
        """Read a worker's answers: ``done JOB_ID`` makes it idle again."""
        assert worker.proc.stdout is not None
        for line in worker.proc.stdout:
            word, _, job_id = line.strip().partition(" ")
            if word == WORKER_DONE:
                with self._lock:
                    if worker.job == job_id:
                        worker.job = None
                self._wake.set()
        self._wake.set()  # it exited: let the loop reap it now

    def _send(self, worker: _Worker, job_id: str) -> bool:
        assert worker.proc.stdin is not None
        try:
            worker.proc.stdin.write(job_id + "\n")
            worker.proc.stdin.flush()
        except (BrokenPipeError, OSError):  # it died since the last look: reaped next round
            return False
        worker.job = job_id
        worker.jobs_started += 1
        return True

    def _reap(self) -> None:
        """Forget workers that exited; retire idle ones that have run their share of jobs."""
        with self._lock:
            for w in list(self._workers):
                if w.proc.poll() is not None:
                    self._workers.remove(w)
                    # SIGTERM is a polite stop (a service manager or a terminal stopping the whole
                    # process group, often before this dispatcher hears of it): hand the job back
                    # now, uncounted, as stop() would. Other deaths wait for the lease to expire.
                    if (w.job is not None and w.proc.returncode == -signal.SIGTERM
                            and self.store.jobs.release(w.job, owner_prefix(w.proc.pid))):
                        log.info("job %s handed back as PENDING (its process was terminated)", w.job)
                elif w.job is None and w.jobs_started >= MAX_JOBS_PER_WORKER:
                    self._workers.remove(w)
                    assert w.proc.stdin is not None
                    w.proc.stdin.close()  # it finishes and exits; nothing is running in it

    def _dispatch(self) -> None:
        with self._lock:
            running = {w.job for w in self._workers if w.job is not None}
        free = self.settings.workers - len(running)
        if free <= 0:
            return
        try:
            candidates = self.store.jobs.claimable(free + len(running))
        except Exception:  # the database may be briefly locked; try again next round
            log.exception("embedded pool: listing jobs failed")
            return
        for job_id in candidates:
            if job_id in running or free <= 0:
                continue
            with self._lock:
                idle = next((w for w in self._workers if w.job is None), None)
                if idle is None and len(self._workers) < self.settings.workers:
                    idle = self._spawn()
                    self._workers.append(idle)
                if idle is None or not self._send(idle, job_id):
                    return
            log.info("embedded pool: job %s → worker %d", job_id, idle.proc.pid)
            running.add(job_id)
            free -= 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._reap()
            self._dispatch()
            self._wake.wait(self.settings.maintenance_interval_s)
            self._wake.clear()
