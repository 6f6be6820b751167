"""The same store rules and API on PostgreSQL: the embedded SQLite default is not the only database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from reperform_harness import FileHost, LiveServer, PostgresServer, child_env, media_dir, poll_generation
from sync import Sync

from reperform.jobs.store import Claim, JobStore

INPUT = [{"type": "video", "url": "http://example.test/v.mp4"}, {"type": "audio", "url": "http://example.test/a.wav"}]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    pg = PostgresServer()
    pg.start()
    yield pg
    pg.stop()


def test_leases_compare_and_set_and_json_columns_work_on_postgresql(postgres: PostgresServer) -> None:
    store = JobStore(postgres.url)
    try:
        key = store.keys.create("pg")
        job = store.jobs.create(org_id=key.org_id, api_key_id=key.key_id, model="react-1", input=INPUT,
                               options={"sync_mode": "loop"}, segments=None, webhook_url=None, output_file_name=None)
        assert store.jobs.claim(job.id, "dead", lease_s=-1)[0] is Claim.CLAIMED
        assert store.jobs.claim(job.id, "next", lease_s=60)[0] is Claim.CLAIMED
        assert not store.jobs.complete(job.id, "dead", "k", 1.0)
        assert store.jobs.complete(job.id, "next", "k", 1.0)
        done = store.jobs.get(job.id, key.org_id)
        assert done is not None and done.status == "COMPLETED" and done.attempts == 2
        assert done.options == {"sync_mode": "loop"} and done.created_at.tzinfo is not None
        assert store.keys.authenticate(store.keys.create("pg2").secret) is not None
    finally:
        store.close()


@pytest.mark.e2e
@pytest.mark.media
def test_the_server_runs_on_a_postgresql_url(postgres: PostgresServer, tmp_path: Path) -> None:
    host = FileHost()
    host.files["notes.txt"] = b"not media\n" * 100
    host.files["voice.wav"] = media_dir() / "audio" / "sadtalker_RD_Radio36_000.wav"
    server = LiveServer(tmp_path / "srv", "--allow-private-urls", "--database-url", postgres.url,
                        env=child_env(REPERFORM_DATABASE_URL=postgres.url))
    try:
        server.start()
        store = JobStore(postgres.url)
        client = Sync(base_url=server.url, api_key=store.keys.create("pg-api").secret)
        store.close()
        gen = client.generations.create(model="react-1", input=[{"type": "video", "url": host.url("notes.txt")},
                                                                {"type": "audio", "url": host.url("voice.wav")}])
        done = poll_generation(client, gen.id, timeout_s=60)
        assert done.status == "FAILED" and done.error_code == "generation_unsupported_media"
        assert [g.id for g in client.generations.list(status=["FAILED"])] == [gen.id]
    finally:
        server.stop()
        host.close()
