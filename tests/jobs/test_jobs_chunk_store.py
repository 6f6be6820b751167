"""The chunk rows of long Celery jobs follow the jobs' compare-and-set rules (issue 18), on SQLite.

A chunk is rendered once in effect: claimed with a lease, re-sent when its worker stops renewing
it, finished only by its owner; one finisher joins; the job stays alive while chunks are
unfinished, and its progress is the chunks' progress weighted by their length.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from reperform.jobs.store import JobStore

INPUT = [{"type": "video", "url": "http://example.test/v.mp4"}, {"type": "audio", "url": "http://example.test/a.wav"}]


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    s = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    yield s
    s.close()


def _planned(store: JobStore, spans=((0, 100), (100, 300))) -> tuple[str, list[str]]:
    """A job claimed by attempt "plan" and cut into chunks."""
    key = store.keys.create("t")
    job_id = store.jobs.create(org_id=key.org_id, api_key_id=key.key_id, model="react-1", input=INPUT, options=None,
                               segments=None, webhook_url=None, output_file_name=None).id
    store.jobs.claim(job_id, "host:1:plan", lease_s=60)
    return job_id, store.chunks.create(job_id, "host:1:plan", "plan", list(spans))


def test_a_chunk_is_claimed_once_and_finished_only_by_its_owner(store: JobStore) -> None:
    job_id, (first, _second) = _planned(store)
    chunk = store.chunks.claim(first, "w1", lease_s=60)
    assert chunk is not None and (chunk.start, chunk.stop, chunk.attempts) == (0, 100, 1)
    assert store.chunks.claim(first, "w2", lease_s=60) is None  # busy
    assert not store.chunks.complete(first, "w2", "k2")
    assert store.chunks.complete(first, "w1", "k1", ["some frames' face geometry could not be followed"])
    assert store.chunks.claim(first, "w3", lease_s=60) is None  # done: a duplicate message is a no-op
    rows = store.chunks.of_attempt(job_id, "host:1:plan")
    assert rows[0].warnings == ["some frames' face geometry could not be followed"]  # for the join to gather
    assert not store.chunks.all_done(job_id, "host:1:plan")


def test_a_chunk_whose_worker_died_is_re_sent_and_the_dead_attempt_cannot_finish(store: JobStore) -> None:
    _job_id, (first, second) = _planned(store)
    store.chunks.claim(first, "dead", lease_s=-1)  # killed: its lease is already over
    assert store.chunks.due_for_requeue(pending_after_s=3600) == [first]
    assert store.chunks.due_for_requeue(pending_after_s=3600) == []  # marked as sent: not twice at once
    again = store.chunks.claim(first, "next", lease_s=60)
    assert again is not None and again.attempts == 2
    assert not store.chunks.heartbeat(first, "dead", 60) and not store.chunks.complete(first, "dead", "k")
    assert store.chunks.complete(first, "next", "k")
    time.sleep(0.05)
    assert second in store.chunks.due_for_requeue(pending_after_s=0.01)  # never picked up: sent again


def test_chunks_of_an_attempt_that_lost_its_job_are_not_rendered(store: JobStore) -> None:
    job_id, (first, _second) = _planned(store)
    assert store.jobs.fail(job_id, "host:1:plan", "no face", "generation_no_face_detected")
    assert store.chunks.claim(first, "w1", lease_s=60) is None
    assert store.chunks.due_for_requeue(pending_after_s=0) == []


def test_progress_is_the_chunks_weighted_by_length_and_one_finisher_joins(store: JobStore) -> None:
    job_id, (first, second) = _planned(store)
    store.chunks.claim(first, "w1", 60)
    store.chunks.claim(second, "w2", 60)
    store.chunks.heartbeat(second, "w2", 60, progress=0.5)
    assert store.chunks.progress(job_id, "host:1:plan") == pytest.approx(100 / 300)
    store.chunks.complete(first, "w1", "k1")
    store.chunks.complete(second, "w2", "k2")
    assert store.chunks.all_done(job_id, "host:1:plan")
    assert store.chunks.claim_join(job_id, "host:1:plan") and not store.chunks.claim_join(job_id, "host:1:plan")
    assert [r.output_key for r in store.chunks.of_attempt(job_id, "host:1:plan")] == ["k1", "k2"]


def test_a_job_waiting_for_its_chunks_keeps_its_lease(store: JobStore) -> None:
    job_id, (first, second) = _planned(store)
    store.jobs.heartbeat(job_id, "host:1:plan", lease_s=-1)  # the planning attempt is gone
    assert store.chunks.keep_jobs_alive(lease_s=60) == 1
    assert store.jobs.due_for_requeue(pending_after_s=3600) == []  # not re-run from scratch
    for cid, w in ((first, "w1"), (second, "w2")):
        store.chunks.claim(cid, w, 60)
        store.chunks.complete(cid, w, "k")
    store.jobs.heartbeat(job_id, "host:1:plan", lease_s=-1)
    assert store.chunks.keep_jobs_alive(lease_s=60) == 0  # all rendered: a stuck join is a dead job
    assert store.jobs.due_for_requeue(pending_after_s=3600) == [job_id]
