"""The job store's compare-and-set rules, on a real SQLite file: what makes jobs exactly-once."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest

from reperform.jobs.store import Claim, JobStore
from reperform.options import DEFAULT_MODE, ModelMode
from reperform.protocol.errors import UrlNotAllowed, VideoInaccessible, WireError
from reperform.protocol.fetch import check_url
from reperform.protocol.requests import parse_generate, to_generate_options
from reperform.protocol.views import UrlSigner, generation_json
from reperform.protocol.webhooks import signature, verify

INPUT = [{"type": "video", "url": "http://example.test/v.mp4"}, {"type": "audio", "url": "http://example.test/a.wav"}]


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    s = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    yield s
    s.close()


def _job(store: JobStore) -> str:
    key = store.keys.create("t")
    return store.jobs.create(org_id=key.org_id, api_key_id=key.key_id, model="react-1", input=INPUT, options=None,
                            segments=None, webhook_url=None, output_file_name=None).id


def test_a_claimed_job_is_busy_for_everyone_else_until_its_lease_expires(store: JobStore) -> None:
    job_id = _job(store)
    assert store.jobs.claim(job_id, "a", lease_s=60)[0] is Claim.CLAIMED
    assert store.jobs.claim(job_id, "b", lease_s=60)[0] is Claim.BUSY


def test_after_a_lease_expires_the_next_attempt_owns_the_job_and_the_old_one_cannot_finish(store: JobStore) -> None:
    job_id = _job(store)
    store.jobs.claim(job_id, "dead", lease_s=-1)  # a worker that was killed: its lease is already over
    outcome, job = store.jobs.claim(job_id, "next", lease_s=60)
    assert outcome is Claim.CLAIMED and job is not None and job.attempts == 2
    assert not store.jobs.heartbeat(job_id, "dead", 60)
    assert not store.jobs.complete(job_id, "dead", "outputs/x/dead/output.mp4", 1.0)
    assert store.jobs.complete(job_id, "next", "outputs/x/next/output.mp4", 1.0)
    done = store.jobs.get(job_id)
    assert done is not None and done.status == "COMPLETED" and done.output_key.endswith("next/output.mp4")
    assert store.jobs.claim(job_id, "late", lease_s=60)[0] is Claim.DONE  # a duplicate message is a no-op


def test_a_completed_job_keeps_the_engines_warnings_and_its_view_returns_them(store: JobStore) -> None:
    job_id = _job(store)
    signer = UrlSigner("s" * 32, "http://x.test", 3600)
    store.jobs.claim(job_id, "a", lease_s=60)
    running = generation_json(store.jobs.get(job_id), store.assets.get, signer)
    assert running["warnings"] == []  # nothing to say before the job has ended
    note = "the video has no sound of its own: in each shot the largest, most central face is edited"
    assert store.jobs.complete(job_id, "a", "outputs/x/a/output.mp4", 1.0, (note,))
    view = generation_json(store.jobs.get(job_id), store.assets.get, signer)
    assert view["status"] == "COMPLETED" and view["warnings"] == [note]


def test_a_database_made_before_the_warnings_column_gains_it_and_keeps_its_rows(tmp_path: Path) -> None:
    """A deployment upgraded in place: its jobs table has no ``warnings`` column. Opening it adds the
    column; the old rows read back with no warnings, and new jobs record theirs."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = JobStore(url)
    old_id = _job(store)
    store.close()
    with sqlite3.connect(tmp_path / "old.db") as conn:  # what the earlier release's schema looked like
        conn.execute("ALTER TABLE jobs DROP COLUMN warnings")
        conn.execute("ALTER TABLE job_chunks DROP COLUMN warnings")
        assert "warnings" not in {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
    upgraded = JobStore(url)
    try:
        old = upgraded.jobs.get(old_id)
        assert old is not None and old.warnings is None and old.status == "PENDING"
        upgraded.jobs.claim(old_id, "a", lease_s=60)
        assert upgraded.jobs.complete(old_id, "a", "k", 1.0, ("a note",))
        assert upgraded.jobs.get(old_id).warnings == ["a note"]
    finally:
        upgraded.close()
    JobStore(url).close()  # a second start finds the columns there and changes nothing


def test_failing_records_message_and_code_and_is_final(store: JobStore) -> None:
    job_id = _job(store)
    store.jobs.claim(job_id, "a", lease_s=60)
    assert store.jobs.fail(job_id, "a", "no face", "generation_no_face_detected")
    assert not store.jobs.complete(job_id, "a", "k", 1.0)
    job = store.jobs.get(job_id)
    assert job is not None and (job.status, job.error_code, job.error) == ("FAILED", "generation_no_face_detected",
                                                                           "no face")


def test_jobs_are_invisible_to_other_organisations(store: JobStore) -> None:
    job_id = _job(store)
    other = store.keys.create("other")
    assert store.jobs.get(job_id, other.org_id) is None
    assert store.jobs.list(other.org_id) == []


def test_lost_messages_are_resent_once_per_round(store: JobStore) -> None:
    expired, fresh = _job(store), _job(store)
    store.jobs.claim(expired, "dead", lease_s=-1)
    store.jobs.claim(fresh, "alive", lease_s=60)
    assert store.jobs.due_for_requeue(pending_after_s=3600) == [expired]
    assert store.jobs.due_for_requeue(pending_after_s=3600) == []  # marked as sent: other loops skip it


def test_webhook_deliveries_are_held_by_one_sender_and_back_off_until_given_up(store: JobStore) -> None:
    key = store.keys.create("t")
    wid = store.webhooks.enqueue(org_id=key.org_id, url="http://example.test/h", payload="{}", job_id="j")
    assert [r.id for r in store.webhooks.claim_due(hold_s=60)] == [wid]
    assert store.webhooks.claim_due(hold_s=60) == []
    store.webhooks.record_attempt(wid, ok=False, status_code=500, error="HTTP 500", max_attempts=2, backoff_s=30)
    assert store.webhooks.claim_due(hold_s=60) == []  # backing off
    store.webhooks.record_attempt(wid, ok=False, status_code=None, error="refused", max_attempts=2, backoff_s=30)
    (row,) = store.webhooks.of_job("j")
    assert row.state == "failed" and row.attempts == 2 and [e["statusCode"] for e in row.log] == [500, None]


def test_signed_urls_reject_other_keys_tampering_and_expiry() -> None:
    signer = UrlSigner("s3cret", "http://h:1", ttl_s=3600)
    url = signer.url("outputs/j/a/output.mp4", now=1000)
    expires = int(url.split("expires=")[1].split("&")[0])
    sig = url.split("signature=")[1]
    assert signer.verify("outputs/j/a/output.mp4", expires, sig, now=1000)
    assert not signer.verify("outputs/j/b/output.mp4", expires, sig, now=1000)
    assert not signer.verify("outputs/j/a/output.mp4", expires, sig, now=expires + 1)
    assert not UrlSigner("other", "http://h:1", 3600).verify("outputs/j/a/output.mp4", expires, sig, now=1000)


def test_webhook_signature_is_hmac_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    header = signature("whsec_x", b'{"id":"1"}', 1700000000)
    assert header == "t=1700000000,v1=" + hmac.new(b"whsec_x", b'1700000000.{"id":"1"}', hashlib.sha256).hexdigest()
    assert not verify("whsec_x", b'{"id":"1"}', header)  # far outside the replay tolerance
    fresh = signature("whsec_x", b'{"id":"1"}', int(time.time()))
    assert verify("whsec_x", b'{"id":"1"}', fresh)
    assert not verify("whsec_x", b'{"id":"2"}', fresh) and not verify("whsec_y", b'{"id":"1"}', fresh)


@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "http://10.1.2.3/x", "http://169.254.169.254/latest",
                                 "http://[::1]/x", "http://192.168.0.10/x", "http://[::ffff:127.0.0.1]/x",
                                 "ftp://93.184.216.34/x", "file:///etc/passwd"])
def test_private_loopback_and_link_local_urls_are_refused(url: str) -> None:
    with pytest.raises(UrlNotAllowed):
        check_url(url, allow_private=False)


def test_private_urls_pass_when_the_operator_allows_them_and_public_ones_always() -> None:
    private = check_url("http://127.0.0.1:8000/x", allow_private=True)
    assert [str(u) for u in private.urls] == ["http://127.0.0.1:8000/x"] and private.host_header == "127.0.0.1:8000"
    public = check_url("http://93.184.216.34/x", allow_private=False)
    assert [u.host for u in public.urls] == ["93.184.216.34"] and public.sni_hostname is None


def test_lipsync_models_run_lips_mode_and_react_defaults_to_the_engine_default() -> None:
    for model in ("lipsync-2", "lipsync-2-pro", "sync-3"):  # sync's names for its lip-sync models
        got = to_generate_options(model, {"model_mode": "head", "prompt": "sad"}, text=None)
        assert got.mode is ModelMode.lips and got.emotion is None, model
    react = to_generate_options("react-1", None, text=None)
    assert react.mode is DEFAULT_MODE and react.emotion is None
    mapped = to_generate_options("react-1", {"model_mode": "face", "prompt": "sad", "temperature": 0.2,
                                             "sync_mode": "bounce"}, text="hi")
    assert (mapped.mode.value, mapped.emotion.value, mapped.temperature, mapped.sync_mode.value, mapped.text) == (
        "face", "sad", 0.2, "bounce", "hi")


def test_multipart_style_json_strings_and_ignored_legacy_keys_parse() -> None:
    req = parse_generate({"model": "react-1", "input": '[{"type":"video","url":"http://h/v.mp4"},'
                          '{"type":"audio","url":"http://h/a.wav"}]', "options": '{"sync_mode":"loop","pads":[0,5]}'})
    assert req.options == {"sync_mode": "loop", "pads": [0, 5]}
    with pytest.raises(WireError) as err:
        parse_generate({"model": "react-1", "input": INPUT, "segments": '[{"startTime": 0, "endTime": 1}]'})
    assert err.value.messages == ["input[1].refId is required when segments are used (the audio input)"]


def test_input_errors_survive_pickling_for_celery() -> None:
    err = pickle.loads(pickle.dumps(VideoInaccessible("HTTP 404")))
    assert err.code == "generation_input_video_inaccessible" and err.message == "HTTP 404"


def test_a_webhook_never_queued_because_its_finisher_died_is_found_again(store: JobStore) -> None:
    key = store.keys.create("t")
    job = store.jobs.create(org_id=key.org_id, api_key_id=key.key_id, model="react-1", input=INPUT, options=None,
                           segments=None, webhook_url="http://example.test/h", output_file_name=None)
    store.jobs.claim(job.id, "a", lease_s=60)
    store.jobs.fail(job.id, "a", "bad", "generation_unsupported_media")
    assert store.webhooks.missing(grace_s=-1) == [job.id]
    assert store.webhooks.missing(grace_s=3600) == []  # its finisher may still be queueing it
    store.webhooks.enqueue(org_id=key.org_id, url="http://example.test/h", payload="{}", job_id=job.id)
    assert store.webhooks.missing(grace_s=-1) == []


def test_a_job_whose_attempts_keep_dying_is_failed_instead_of_retried_forever(store: JobStore) -> None:
    job_id = _job(store)
    for n in range(3):
        assert store.jobs.claim(job_id, f"crash-{n}", lease_s=-1, max_attempts=3)[0] is Claim.CLAIMED
    outcome, job = store.jobs.claim(job_id, "next", lease_s=60, max_attempts=3)
    assert outcome is Claim.GAVE_UP
    assert job is not None and job.status == "FAILED" and job.error_code == "generation_engine_failed"
    assert store.jobs.claim(job_id, "later", lease_s=60, max_attempts=3)[0] is Claim.DONE
