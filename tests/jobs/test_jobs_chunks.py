"""Long jobs are rendered in chunks (issue 18): on Celery by any free worker, with a real
``redis-server``, two real ``reperform worker`` processes and the real sync SDK.

A 16.8 s excerpt of a real 20 s clip with ``REPERFORM_CHUNK_S=8`` is cut into two chunks. Undisturbed, both workers render
one each and the job's progress is the sum of theirs; then the same job again with the worker
that is rendering a chunk killed (-9) mid-chunk: the chunk's lease expires, the maintenance loop
sends it again, the other worker renders it, and the job completes once with the very frames of
the undisturbed run. In the embedded pool (no Redis) the same job renders in local chunk
processes (``REPERFORM_RENDER_WORKERS``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from benchmarks.measure import iter_rgb
from reperform_harness import (
    CeleryWorker,
    FileHost,
    LiveServer,
    RedisServer,
    child_env,
    create_lips_job,
    media_dir,
    poll_generation,
    wait_for,
)
from sync import Sync
from tests.conftest import clip_excerpt

pytestmark = [pytest.mark.e2e, pytest.mark.media, pytest.mark.redis]


#: The clip the module's jobs render an excerpt of: a real face speaking real German throughout.
CLIP = "mimictalk_German_20s.mp4"
#: The excerpt: 16.8 s, enough for two chunks (a chunk is never shorter than 8 s,
#: chunking.MIN_CHUNK_S), at 256×256 instead of 512×512 — these tests are about chunks, leases and
#: workers, not picture size, and every output frame is analysed, rendered and encoded (twice in
#: the first test).
SECONDS, WIDTH = 16.8, 256
N_FRAMES = 420  # 16.8 s at 25 fps


@pytest.fixture(scope="module")
def file_host(shared_tmp: Path) -> Iterator[FileHost]:
    """The excerpt served over HTTP as ``clip.mp4`` (replaces the clip of tests/jobs/conftest.py)."""
    host = FileHost()
    host.files["clip.mp4"] = clip_excerpt(media_dir() / "videos" / CLIP, shared_tmp / f"chunks_{SECONDS}s_{WIDTH}.mp4",
                                          SECONDS, WIDTH)
    yield host
    host.close()


def _chunks(server: LiveServer, job_id: str) -> list:
    """The chunk rows of the job's current (or finishing) attempt, in output order."""
    store = server.store()
    try:
        job = store.jobs.get(job_id)
        return store.chunks.of_attempt(job_id, job.lease_owner) if job and job.lease_owner else []
    finally:
        store.close()


def _output(server: LiveServer, job_id: str) -> Path:
    files = server.output_files(job_id)
    assert len(files) == 1, files  # one output: the job completed once
    return server.data_dir / "files" / "outputs" / job_id / files[0]


def _rendered_by(worker: CeleryWorker, chunk_id: str) -> bool:
    return re.search(rf"chunk {re.escape(chunk_id)}: frames \d+\.\.\d+, attempt", worker.log.read_text(
        errors="replace")) is not None


def test_a_long_job_renders_in_chunks_on_two_workers_and_survives_a_killed_one(tmp_path: Path,
                                                                                 file_host: FileHost) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    env = child_env(REPERFORM_REDIS_URL=redis.url, REPERFORM_CHUNK_S="8", REPERFORM_LEASE_S="5")
    server = LiveServer(tmp_path / "srv", "--allow-private-urls", "--queue", "celery", env=env)
    workers = [CeleryWorker(server.data_dir, redis.url, env, name=f"worker-{i}") for i in (1, 2)]
    try:
        server.start()
        for w in workers:
            w.start()
        client = Sync(base_url=server.url, api_key=server.make_key())

        undisturbed = create_lips_job(client, file_host)
        seen: list[float] = []
        done = wait_for(lambda: (seen.append(server.job_row(undisturbed).progress)
                                 or client.generations.get(undisturbed).status in ("COMPLETED", "FAILED")),
                        600, "the undisturbed job", interval_s=0.3)
        assert done and client.generations.get(undisturbed).status == "COMPLETED"
        rows = _chunks(server, undisturbed)
        assert [(r.start, r.stop) for r in rows][-1][1] == N_FRAMES and len(rows) == 2
        assert all(r.attempts == 1 and r.status == "COMPLETED" for r in rows)
        assert any(0.35 < p < 0.95 for p in seen), seen  # the chunks' progress reached the job's
        assert all(_rendered_by(w, r.id) for w, r in zip(workers, rows, strict=False)) or \
            all(_rendered_by(w, r.id) for w, r in zip(workers, reversed(rows), strict=False))

        disturbed = create_lips_job(client, file_host)

        def rendering() -> tuple | None:
            for r in _chunks(server, disturbed):
                if r.status == "PROCESSING" and r.progress > 0.2:
                    return r.id, next((w for w in workers if _rendered_by(w, r.id)), None)
            return None

        chunk_id, victim = wait_for(rendering, 600, "a chunk of the second job to be half rendered")
        assert victim is not None
        victim.kill9()  # the worker and its pool process die mid-chunk; the chunk's message is not acked
        result = poll_generation(client, disturbed)
        assert result.status == "COMPLETED", f"{result.error_code}: {result.error}"
        killed = next(r for r in _chunks(server, disturbed) if r.id == chunk_id)
        assert killed.attempts == 2 and killed.status == "COMPLETED"
        survivor = next(w for w in workers if w is not victim)
        assert _rendered_by(survivor, chunk_id)

        a, b = _output(server, undisturbed), _output(server, disturbed)
        frames_a, frames_b = list(iter_rgb(a)), list(iter_rgb(b))
        assert len(frames_a) == len(frames_b) == N_FRAMES
        assert all(np.array_equal(x, y) for x, y in zip(frames_a, frames_b, strict=True))
        assert not list((server.data_dir / "files" / "chunks").rglob("*.mp4"))  # scratch removed
    finally:
        for w in workers:
            w.stop()
        server.stop()
        redis.stop()


def test_the_embedded_pool_renders_a_long_job_in_local_chunk_processes(tmp_path: Path, file_host: FileHost) -> None:
    server = LiveServer(tmp_path / "srv", "--allow-private-urls", "--workers", "1",
                        env=child_env(REPERFORM_RENDER_WORKERS="2"))
    try:
        server.start()
        client = Sync(base_url=server.url, api_key=server.make_key())
        job_id = create_lips_job(client, file_host)
        done = poll_generation(client, job_id)
        assert done.status == "COMPLETED", f"{done.error_code}: {done.error}"
        assert f"render: {N_FRAMES} output frames in 2 chunks on 2 processes" in server.log.read_text(errors="replace")
        assert len(list(iter_rgb(_output(server, job_id)))) == N_FRAMES
    finally:
        server.stop()
