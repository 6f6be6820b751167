"""Entry point of one embedded job process: ``python -m reperform.jobs.child JOB_ID PARENT_PID``.

Settings arrive as JSON on stdin (the server built them; the child must not re-read the
environment and disagree). A watchdog ends the child as soon as its server is gone, so a
``kill -9`` of the server leaves no orphan working on a job that the next server will re-run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading

from ..settings import Settings
from .runner import JobContext, execute

#: How often the child checks that the server that started it is still alive.
WATCHDOG_INTERVAL_S = 0.5
#: Jobs run at lower CPU priority than the API beside them, so polling stays fast while the engine works.
JOB_NICENESS = 10


def _watchdog(parent_pid: int) -> None:
    stop = threading.Event()
    while not stop.wait(WATCHDOG_INTERVAL_S):
        if os.getppid() != parent_pid:
            os._exit(3)  # parent died: stop at once, the lease will expire and the job re-run


def main(argv: list[str]) -> int:
    job_id, parent_pid = argv[0], int(argv[1])
    settings = Settings.model_validate_json(sys.stdin.read())
    with contextlib.suppress(OSError):  # not permitted here: run at normal priority
        os.nice(JOB_NICENESS)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s job {job_id[:8]} %(name)s %(levelname)s %(message)s")
    threading.Thread(target=_watchdog, args=(parent_pid,), daemon=True).start()
    ctx = JobContext.build(settings)
    execute(ctx, job_id)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
