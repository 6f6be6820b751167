"""Jobs survive crashes: ``kill -9`` of the embedded server, and of a Celery worker, mid-job.

Each test runs the real engine on the short clip; "exactly once in effect" is checked on the job
row (one COMPLETED state, the attempt count) and in the file store (one output file per job).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reperform_harness import (
    CeleryWorker,
    FileHost,
    LiveServer,
    RedisServer,
    child_env,
    create_lips_job,
    poll_generation,
    wait_for,
)
from sync import Sync

pytestmark = [pytest.mark.e2e, pytest.mark.media]


#: The clip the module's jobs render (served by the ``file_host`` fixture of conftest.py).
CLIP = "pcavs_00373.mp4"


def _processing(server: LiveServer, job_id: str) -> bool:
    job = server.job_row(job_id)
    return job is not None and job.status == "PROCESSING"


def test_killing_the_server_mid_job_then_restarting_completes_running_and_pending_jobs(
        tmp_path: Path, file_host: FileHost) -> None:
    server = LiveServer(tmp_path / "srv", "--allow-private-urls", "--workers", "1")
    server.start()
    try:
        client = Sync(base_url=server.url, api_key=server.make_key())
        running, pending = create_lips_job(client, file_host), create_lips_job(client, file_host)
        wait_for(lambda: _processing(server, running), 60, "the first job to start")
        server.kill9()  # the server and its job process die together, mid-job
        assert server.job_row(running).status == "PROCESSING" and server.job_row(pending).status == "PENDING"

        server.start()  # same data folder, same port
        for job_id in (running, pending):
            done = poll_generation(client, job_id)
            assert done.status == "COMPLETED", f"{done.error_code}: {done.error}"
        assert server.job_row(running).attempts == 2  # re-run once after its lease expired
        assert server.job_row(pending).attempts == 1
        for job_id in (running, pending):
            assert len(server.output_files(job_id)) == 1  # the killed attempt left no second output
    finally:
        server.stop()


def test_stopping_the_server_gracefully_hands_its_running_job_back_as_pending(tmp_path: Path,
                                                                              file_host: FileHost) -> None:
    server = LiveServer(tmp_path / "srv", "--allow-private-urls", "--workers", "1")
    server.start()
    try:
        client = Sync(base_url=server.url, api_key=server.make_key())
        job_id = create_lips_job(client, file_host)
        wait_for(lambda: _processing(server, job_id), 60, "the job to start")
    finally:
        server.stop()  # SIGTERM: uvicorn shuts down, the pool stops its job process
    job = server.job_row(job_id)
    assert (job.status, job.attempts, job.lease_owner) == ("PENDING", 0, None)


@pytest.mark.redis
def test_celery_worker_killed_mid_job_is_replaced_and_the_job_completes_exactly_once(
        tmp_path: Path, file_host: FileHost) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    env = child_env(REPERFORM_REDIS_URL=redis.url)
    server = LiveServer(tmp_path / "srv", "--allow-private-urls", "--queue", "celery", env=env)
    worker = CeleryWorker(server.data_dir, redis.url, env, name="worker-1")
    try:
        server.start()
        worker.start()
        client = Sync(base_url=server.url, api_key=server.make_key())
        job_id = create_lips_job(client, file_host)
        wait_for(lambda: _processing(server, job_id), 60, "the worker to start the job")
        worker.kill9()  # worker and its pool process die mid-job; the message was not acked

        replacement = CeleryWorker(server.data_dir, redis.url, env, name="worker-2")
        replacement.start()
        try:
            done = poll_generation(client, job_id)
            assert done.status == "COMPLETED", f"{done.error_code}: {done.error}"
            assert server.job_row(job_id).attempts == 2
            assert len(server.output_files(job_id)) == 1
            # The replacement ran it: the job's second attempt started and completed in its log.
            log = replacement.log.read_text(errors="replace")
            assert f"job {job_id}: attempt 2 started by" in log and f"job {job_id}: COMPLETED" in log
        finally:
            replacement.stop()
    finally:
        worker.stop()
        server.stop()
        redis.stop()
