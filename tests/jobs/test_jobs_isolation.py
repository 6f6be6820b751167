"""Organisations stay apart below the HTTP layer (issue 13): every asset lookup names its org,
jobs take turns across orgs, an org's queue is capped, batches pay the rate limit per line, keys
can be revoked, and the SQLite file holding the secrets is private. Each test failed on bd9a033."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reperform.jobs.db import Asset, Job, utcnow
from reperform.jobs.store import Claim, JobStore, QueueFull, UnknownAsset
from reperform.protocol.views import PENDING, UrlSigner, generation_json
from reperform.server.deps import RateLimiter
from reperform.storage import Storage

INPUT = [{"type": "video", "url": "http://example.test/v.mp4"}, {"type": "audio", "url": "http://example.test/a.wav"}]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    s = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    yield s
    s.close()


def _job(store: JobStore, org_key: object, **over: object) -> str:
    fields = {"model": "react-1", "input": INPUT, "options": None, "segments": None, "webhook_url": None,
              "output_file_name": None, **over}
    return store.jobs.create(org_id=org_key.org_id, api_key_id=org_key.key_id, **fields).id  # type: ignore[attr-defined]


def _asset(store: JobStore, org_id: str) -> Asset:
    asset_id = str(uuid.uuid4())
    return store.assets.create(Asset(id=asset_id, org_id=org_id, name="a.wav", key=f"assets/{asset_id}/a.wav",
                                    size=10, format="wav", type="AUDIO", input_type="UPLOAD"))


# --- 1. every asset lookup names the organisation ----------------------------------------------

def test_an_asset_cannot_be_looked_up_without_saying_whose_it_must_be(store: JobStore) -> None:
    owner = store.keys.create("a")
    asset = _asset(store, owner.org_id)
    with pytest.raises(TypeError):
        store.assets.get(asset.id)  # type: ignore[call-arg]
    assert store.assets.get(asset.id, owner.org_id) is not None
    assert store.assets.get(asset.id, store.keys.create("b").org_id) is None


def test_jobs_and_batches_refuse_another_organisations_asset_and_store_nothing(store: JobStore) -> None:
    owner, intruder = store.keys.create("a"), store.keys.create("b")
    asset = _asset(store, owner.org_id)
    foreign = [{"type": "video", "assetId": asset.id}, {"type": "audio", "assetId": asset.id}]
    with pytest.raises(UnknownAsset):
        _job(store, intruder, input=foreign)
    good = {"model": "react-1", "input": INPUT, "options": None, "segments": None, "webhook_url": None,
            "output_file_name": None}
    with pytest.raises(UnknownAsset):
        store.batches.create(org_id=intruder.org_id, api_key_id=intruder.key_id, webhook_url=None,
                           requests=[("ok", good), ("bad", {**good, "input": foreign})])
    assert store.jobs.list(intruder.org_id) == [] and store.batches.list(intruder.org_id) == []
    assert _job(store, owner, input=foreign)  # the owner may


def test_a_job_row_naming_a_foreign_asset_is_never_given_its_url(store: JobStore) -> None:
    owner, intruder = store.keys.create("a"), store.keys.create("b")
    asset = _asset(store, owner.org_id)
    job = Job(id=str(uuid.uuid4()), org_id=intruder.org_id, api_key_id=intruder.key_id, status=PENDING,
              model="react-1", input=[{"type": "video", "assetId": asset.id}, INPUT[1]], progress=0.0, attempts=0,
              created_at=utcnow())
    with store.session() as s, s.begin():  # as a row written before the store checked assets
        s.add(job)
    signer = UrlSigner("s", "http://h", 3600)
    view = generation_json(store.jobs.get(job.id), store.assets.get, signer)
    assert "url" not in view["input"][0] and view["input"][1] == INPUT[1]
    own = _job(store, owner, input=[{"type": "video", "assetId": asset.id}, INPUT[1]])
    assert generation_json(store.jobs.get(own), store.assets.get, signer)["input"][0]["url"] == signer.url(asset.key)


# --- 9. fair claiming and the per-organisation cap ----------------------------------------------

def test_claiming_takes_turns_across_organisations(store: JobStore) -> None:
    big, small = store.keys.create("big"), store.keys.create("small")
    batch = [_job(store, big) for _ in range(5)]
    late = _job(store, small)
    assert store.jobs.claimable(2) == [batch[0], late]  # not the big org's first two
    assert store.jobs.claim(batch[0], "w1", lease_s=60)[0] is Claim.CLAIMED
    assert store.jobs.claimable(1) == [late]  # big already has one running
    assert store.jobs.claimable(10) == [late, *batch[1:]]


def test_a_celery_message_runs_the_fairest_job_not_necessarily_its_own(store: JobStore, tmp_path: Path) -> None:
    from reperform.jobs.context import JobContext
    from reperform.jobs.execution import execute_fairly
    from reperform.settings import Settings

    refused = [{"type": "video", "url": "http://127.0.0.1:9/v.mp4"}, {"type": "audio", "url": "http://127.0.0.1:9/a"}]
    big, small = store.keys.create("big"), store.keys.create("small")
    first, second = _job(store, big, input=refused), _job(store, big, input=refused)
    theirs = _job(store, small, input=refused)
    store.jobs.claim(first, "elsewhere", lease_s=60)  # big already has a job running
    ctx = JobContext(settings=Settings(data_dir=tmp_path / "data"), store=store, storage=Storage(str(tmp_path / "f")))
    assert execute_fairly(ctx, second) is Claim.CLAIMED
    assert store.jobs.get(theirs).status == "FAILED"  # ran (its URL is refused: loopback)
    assert store.jobs.get(second).status == PENDING


def test_an_organisation_over_its_cap_gets_queue_full_and_nothing_is_stored(store: JobStore) -> None:
    key = store.keys.create("a")
    for _ in range(2):
        _job(store, key, max_active=2)
    with pytest.raises(QueueFull) as err:
        _job(store, key, max_active=2)
    assert err.value.http_status == 429 and err.value.code == "concurrency_limit_reached"
    body = {"model": "react-1", "input": INPUT, "options": None, "segments": None, "webhook_url": None,
            "output_file_name": None}
    with pytest.raises(QueueFull):
        store.batches.create(org_id=key.org_id, api_key_id=key.key_id, webhook_url=None,
                           requests=[("r1", body)], max_active=2)
    assert len(store.jobs.list(key.org_id)) == 2 and store.batches.list(key.org_id) == []


def test_a_batch_costs_one_create_per_line_and_blocks_the_key_until_its_lines_are_paid() -> None:
    limiter = RateLimiter()
    assert limiter.check("k", "create", 5, cost=12) is None  # never too big to be accepted ...
    retry = limiter.check("k", "create", 5)
    assert retry is not None and 60 < retry <= 120  # ... but paid for over the next two windows
    assert limiter.check("other", "create", 5) is None


# --- 10. key revocation and a private database file ---------------------------------------------

def test_a_key_can_be_revoked_by_id_prefix_or_secret_and_then_fails_to_authenticate(store: JobStore) -> None:
    keys = [store.keys.create(f"k{n}") for n in range(3)]
    assert store.keys.authenticate(keys[0].secret) is not None  # cached now: revoking must still win
    store.keys.revoke(keys[0].key_id)
    store.keys.revoke(keys[1].secret[:8])
    store.keys.revoke(keys[2].secret)
    assert all(store.keys.authenticate(k.secret) is None for k in keys)
    with pytest.raises(KeyError):
        store.keys.revoke("rp_nothing")
    assert all(k.revoked for k in store.keys.list())


def test_the_database_and_its_wal_files_are_private_to_their_owner(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: files would be created world-readable
    try:
        s = JobStore(f"sqlite:///{tmp_path / 'reperform.db'}")
        s.keys.create("k")
        s.meta.url_secret()
        files = sorted(tmp_path.glob("reperform.db*"))
        assert {p.name for p in files} >= {"reperform.db", "reperform.db-wal", "reperform.db-shm"}
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), [oct(p.stat().st_mode) for p in files]
        s.close()
    finally:
        os.umask(old)


def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    db = tmp_path / "reperform.db"
    JobStore(f"sqlite:///{db}").close()
    db.chmod(0o644)
    JobStore(f"sqlite:///{db}").close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
