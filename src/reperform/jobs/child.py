"""Entry point of an embedded worker process: ``python -m reperform.jobs.child PARENT_PID``.

Protocol on the pipes (one line each): the server writes the :class:`Settings` as JSON (the child
must not re-read the environment and disagree), then one job id per job; the worker loads the
engine, answers ``done JOB_ID`` after each job, and exits when its stdin closes. One worker runs many jobs, so the engine's imports and models (~1 s of CPU on the
2-core target) are paid once per worker instead of once per job.

A watchdog ends the worker as soon as its server is gone, so a ``kill -9`` of the server leaves
no orphan working on a job that the next server will re-run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading

from .. import api
from ..settings import Settings
from .context import JobContext
from .execution import execute
from .pool import WORKER_DONE

log = logging.getLogger(__name__)

#: How often the worker checks that the server that started it is still alive.
WATCHDOG_INTERVAL_S = 0.5
#: Jobs run at lower CPU priority than the API beside them, so polling stays fast while the engine works.
JOB_NICENESS = 10


def _watchdog(parent_pid: int) -> None:
    stop = threading.Event()
    while not stop.wait(WATCHDOG_INTERVAL_S):
        if os.getppid() != parent_pid:
            os._exit(3)  # parent died: stop at once, the lease will expire and the job re-run


def _protocol_channel():  # noqa: ANN202 - a text file
    """The original stdout, kept for protocol lines; fd 1 then points at stderr, so whatever a
    library prints (Python or C) cannot be mistaken for an answer."""
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def main(argv: list[str]) -> int:
    parent_pid = int(argv[0])
    channel = _protocol_channel()
    settings = Settings.model_validate_json(sys.stdin.readline())
    with contextlib.suppress(OSError):  # not permitted here: run at normal priority
        os.nice(JOB_NICENESS)
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s worker {os.getpid()} %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    threading.Thread(target=_watchdog, args=(parent_pid,), daemon=True).start()
    ctx = JobContext.build(settings)
    api.warm_up(settings.engine_config())
    for line in sys.stdin:
        job_id = line.strip()
        if not job_id:
            continue
        try:
            execute(ctx, job_id)
        except Exception:  # execute records engine failures itself; this is a bug, not a job result
            log.exception("job %s: unexpected failure in the worker", job_id)
        print(f"{WORKER_DONE} {job_id}", file=channel, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
