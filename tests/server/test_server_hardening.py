"""Hostile clients and hostile peers against live servers on loopback (issue 13).

Every test here failed on 370910f/bd9a033: a batch that used another organisation's uploads,
slow peers that held the request threads, the only job worker and the webhook sender, bodies
read in full before a 413, stored files served as HTML, NaN saved into jobs, 500s for odd
JSON, uploads kept by refused creates, no per-organisation queue cap, batches counted as one
create, and client disconnects logged as tracebacks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from reperform_harness import (
    REPO,
    FileHost,
    LiveServer,
    SlowHost,
    child_env,
    poll_generation,
    stream_request,
    wait_for,
)
from sync import Sync

pytestmark = [pytest.mark.e2e, pytest.mark.media]

#: Far beyond every limit: a server that reads it all before refusing is caught by the byte count.
HUGE_BODY_BYTES = 128 * 1024 * 1024
#: What may be sent before the server's refusal is seen: the limit plus loopback socket buffers.
SENT_BOUND_BYTES = 32 * 1024 * 1024


def _wav(media: Path) -> bytes:
    return (media / "audio" / "sadtalker_RD_Radio36_000.wav").read_bytes()


def _bad_media(file_host: FileHost) -> list[dict[str, str]]:
    """Inputs that fail fast in the worker (not media), so a job ends without running the engine."""
    return [{"type": "video", "url": file_host.url("notes.txt")}, {"type": "audio", "url": file_host.url("voice.wav")}]


def _post_json(server: LiveServer, key: str, raw: bytes, path: str = "/v2/generate") -> httpx.Response:
    return httpx.post(server.url + path, content=raw, timeout=60,
                      headers={"x-api-key": key, "Content-Type": "application/json"})


@pytest.fixture(scope="module")
def slow() -> Iterator[SlowHost]:
    host = SlowHost(interval_s=1.0)
    yield host
    host.close()


@pytest.fixture(scope="module")
def stall_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Short fetch deadline, long webhook deadline (so a held delivery stays in flight)."""
    env = child_env(REPERFORM_FETCH_TIMEOUT_S="4", REPERFORM_WEBHOOK_TIMEOUT_S="60")
    srv = LiveServer(tmp_path_factory.mktemp("stall"), "--allow-private-urls", "--workers", "1", env=env)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def quota_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """API only, small create quotas, and a non-local store (fsspec memory://)."""
    env = child_env(REPERFORM_RATE_LIMIT_CREATE_PER_MIN="6", REPERFORM_MAX_ACTIVE_JOBS_PER_ORG="4")
    srv = LiveServer(tmp_path_factory.mktemp("quota"), "--allow-private-urls", "--workers", "0",
                     "--storage-url", f"memory://reperform-{uuid.uuid4().hex}", env=env)
    srv.start()
    yield srv
    srv.stop()


# --- 1. org isolation in batches --------------------------------------------------------------

def test_a_batch_cannot_use_another_organisations_assets(server: LiveServer, client: Sync, media: Path) -> None:
    wav = _wav(media)
    mine = client.generations.create_with_files(model="react-1", video=wav, audio=wav)
    asset_ids = [i.asset_id if hasattr(i, "asset_id") else i["assetId"] for i in mine.input]
    other_key = server.make_key("intruder")
    line = {"request_id": "r1", "endpoint": "/v2/generate",
            "payload": {"model": "react-1", "input": [{"type": "video", "assetId": asset_ids[0]},
                                                      {"type": "audio", "assetId": asset_ids[1]}]}}
    resp = httpx.post(server.url + "/v2/batch", headers={"x-api-key": other_key}, timeout=30,
                      files={"input": ("batch.jsonl", json.dumps(line).encode())})
    assert resp.status_code == 400, resp.text
    assert "does not exist" in json.dumps(resp.json()["message"])
    listed = httpx.get(server.url + "/v2/generations", headers={"x-api-key": other_key}, timeout=30)
    assert listed.status_code == 200 and listed.json() == []
    assert httpx.get(server.url + "/v2/batch", headers={"x-api-key": other_key}, timeout=30).json() == []


# --- 2. slow peers ------------------------------------------------------------------------------

def test_cost_estimates_against_a_trickling_host_end_at_the_deadline_and_never_stall_the_server(
        stall_server: LiveServer, slow: SlowHost) -> None:
    keys = [stall_server.make_key(f"org{n}") for n in range(15)]
    body = json.dumps({"model": "react-1", "input": [{"type": "video", "url": slow.url("v.mp4")},
                                                     {"type": "audio", "url": slow.url("a.wav")}]}).encode()
    results: list[httpx.Response | Exception] = []

    def estimate(key: str) -> None:
        try:
            results.append(_post_json(stall_server, key, body, "/v2/analyze/cost"))
        except Exception as exc:  # noqa: BLE001 - recorded and asserted on below
            results.append(exc)

    # 45 at once from 15 organisations: more than the server's 40 request threads.
    threads = [threading.Thread(target=estimate, args=(k,)) for k in keys for _ in range(3)]
    for t in threads:
        t.start()
    wait_for(lambda: slow.open >= 1, 30, "the estimates to reach the slow host")
    assert httpx.get(stall_server.url + "/healthz", timeout=15).status_code == 200
    assert httpx.get(stall_server.url + "/v2/models", headers={"x-api-key": keys[0]}, timeout=15).status_code == 200
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 45 and all(isinstance(r, httpx.Response) for r in results), results
    codes = {r.status_code for r in results}
    assert codes <= {422, 429}, codes
    refused = [r.json() for r in results if r.status_code == 422]
    assert refused and all(r["errorCode"] == "cost_estimate_unavailable" and "took longer" in r["message"]
                           for r in refused)


def test_one_organisations_estimates_are_bounded_in_flight(stall_server: LiveServer, slow: SlowHost) -> None:
    key = stall_server.make_key("greedy")
    body = json.dumps({"model": "react-1", "input": [{"type": "video", "url": slow.url("v.mp4")},
                                                     {"type": "audio", "url": slow.url("a.wav")}]}).encode()
    results: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: results.append(_post_json(stall_server, key, body, "/v2/analyze/cost")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    limited = [r for r in results if r.status_code == 429]
    assert len(results) == 8 and limited
    assert all(r.json()["errorCode"] == "concurrency_limit_reached" for r in limited)


def test_a_job_fetching_from_a_trickling_host_fails_at_the_deadline_and_frees_the_worker(
        stall_server: LiveServer, slow: SlowHost, file_host: FileHost) -> None:
    slow_client = Sync(base_url=stall_server.url, api_key=stall_server.make_key("slow"))
    other = Sync(base_url=stall_server.url, api_key=stall_server.make_key("other"))
    stuck = slow_client.generations.create(model="react-1", input=[
        {"type": "video", "url": slow.url("v.mp4")}, {"type": "audio", "url": file_host.url("voice.wav")}])
    waiting = other.generations.create(model="react-1", input=_bad_media(file_host))
    done = poll_generation(slow_client, stuck.id, timeout_s=60)
    assert done.status == "FAILED" and done.error_code == "generation_input_video_inaccessible"
    assert "took longer" in done.error
    assert poll_generation(other, waiting.id, timeout_s=60).status == "FAILED"  # ran: not media


def test_webhooks_go_out_concurrently_while_one_receiver_trickles(
        stall_server: LiveServer, slow: SlowHost, file_host: FileHost) -> None:
    first = Sync(base_url=stall_server.url, api_key=stall_server.make_key("a"))
    second = Sync(base_url=stall_server.url, api_key=stall_server.make_key("b"))
    before = slow.connections
    first.generations.create(model="react-1", input=_bad_media(file_host), webhook_url=slow.url("hook"))
    wait_for(lambda: slow.connections > before, 60, "the first webhook to reach the slow receiver")
    hook = file_host.hook("hooks/concurrent")
    gen = second.generations.create(model="react-1", input=_bad_media(file_host),
                                    webhook_url=file_host.url("hooks/concurrent"))
    # The first delivery may take 60 s (its deadline); the second must not wait for it.
    wait_for(lambda: hook.calls, 45, "the second organisation's webhook")
    assert json.loads(hook.calls[0][1])["id"] == gen.id
    assert slow.open >= 1  # the first delivery is still in flight


def test_a_webhook_receiver_that_trickles_its_answer_is_cut_off_at_the_delivery_deadline(
        server: LiveServer, client: Sync, file_host: FileHost) -> None:
    host = SlowHost(interval_s=1.0)  # each byte well within the server's 5 s webhook timeout
    try:
        gen = client.generations.create(model="react-1", input=_bad_media(file_host), webhook_url=host.url("hook"))
        store = server.store()
        try:
            rows = wait_for(lambda: [r for r in store.webhooks.of_job(gen.id) if r.attempts >= 1], 60,
                            "the first delivery attempt to end")
        finally:
            store.close()
        assert rows[0].log[0]["statusCode"] is None and "no answer within" in rows[0].log[0]["error"]
    finally:
        host.close()


# --- 3. bodies are refused at their limit, not after -------------------------------------------

@pytest.mark.parametrize("path,ctype,first,filler", [
    ("/v2/generate", "multipart/form-data; boundary=XyZ",
     b'--XyZ\r\nContent-Disposition: form-data; name="video"; filename="v.mp4"\r\n\r\n', b"\0" * 65536),
    ("/v2/batch", "multipart/form-data; boundary=XyZ",
     b'--XyZ\r\nContent-Disposition: form-data; name="input"; filename="b.jsonl"\r\n\r\n', b"{}\n" * 20000),
    ("/v2/generate", "application/json", b'{"model": "react-1", "padding": "', b"a" * 65536),
    ("/v2/analyze/cost", "application/json", b'{"model": "react-1", "padding": "', b"a" * 65536),
], ids=["generate-multipart", "batch", "generate-json", "cost-json"])
def test_chunked_bodies_over_the_limit_are_refused_while_they_stream(
        server: LiveServer, key: str, path: str, ctype: str, first: bytes, filler: bytes) -> None:
    status, response, sent = stream_request(server.port, path, {"x-api-key": key, "Content-Type": ctype},
                                            first, filler, HUGE_BODY_BYTES)
    assert status == 413, response[:300]
    assert sent < SENT_BOUND_BYTES, f"{sent} bytes were read before the 413"
    assert b'"errorCode":"file_size_exceeds_plan_limit"' in response
    uploads = server.data_dir / "work" / "uploads"
    assert not uploads.exists() or not list(uploads.iterdir())  # the partial upload is gone


def test_a_declared_content_length_over_the_limit_is_refused_before_reading(server: LiveServer, key: str) -> None:
    resp = httpx.post(server.url + "/v2/generate", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                      headers={"x-api-key": key, "Content-Type": "application/json"}, timeout=30)
    assert resp.status_code == 413 and resp.json()["errorCode"] == "file_size_exceeds_plan_limit"


# --- 4. stored files cannot become pages on our origin ----------------------------------------

def _html_wav(media: Path) -> bytes:
    return _wav(media) + b"<html><script>alert(localStorage.getItem('apiKey'))</script></html>"


@pytest.mark.parametrize("store", ["local", "memory"])
def test_stored_files_are_downloads_with_a_sniffed_type_nosniff_and_a_locked_csp(
        request: pytest.FixtureRequest, media: Path, store: str) -> None:
    srv: LiveServer = request.getfixturevalue("server" if store == "local" else "quota_server")
    key = srv.make_key()
    resp = httpx.post(srv.url + "/v2/generate", headers={"x-api-key": key}, timeout=30, data={"model": "react-1"},
                      files={"video": ("page.html", _html_wav(media), "text/html"),
                             "audio": ("page.html", _html_wav(media), "text/html")})
    assert resp.status_code == 201, resp.text
    asset = httpx.get(f"{srv.url}/v2/assets/{resp.json()['input'][0]['assetId']}", headers={"x-api-key": key},
                      timeout=30).json()
    served = httpx.get(asset["url"], timeout=30)
    assert served.status_code == 200 and served.content == _html_wav(media)
    assert served.headers["content-type"] == "audio/wav"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("attachment")
    assert "default-src 'none'" in served.headers["content-security-policy"]
    assert "sandbox" in served.headers["content-security-policy"]


# --- 5 and 7. odd JSON is a 400, and nothing is stored -----------------------------------------

@pytest.mark.parametrize("raw", [
    b'{"model": "react-1", "input": [{"type": "video", "url": "http://h/v.mp4"}, '
    b'{"type": "audio", "url": "http://h/a.wav"}], "options": {"pads": [NaN, 0]}}',
    b'{"model": "react-1", "input": [{"type": "video", "url": "http://h/v.mp4", "weight": Infinity}, '
    b'{"type": "audio", "url": "http://h/a.wav"}]}',
    b'{"model": "react-1", "input": [{"type": "video", "url": "http://h/v.mp4"}, '
    b'{"type": "audio", "url": "http://h/a.wav"}], "options": {"temperature": 0.5, "fps": -1e400}}',
], ids=["NaN", "Infinity", "overflow"])
def test_non_finite_numbers_anywhere_are_refused_before_anything_is_stored(
        server: LiveServer, key: str, raw: bytes) -> None:
    resp = _post_json(server, key, raw)
    assert resp.status_code == 400 and resp.json()["errorCode"] == "generation_input_validation_failed"
    listed = httpx.get(server.url + "/v2/generations", headers={"x-api-key": key}, timeout=30)
    assert listed.status_code == 200 and listed.json() == []


def test_non_finite_numbers_in_multipart_json_fields_are_refused(server: LiveServer, key: str,
                                                                 file_host: FileHost) -> None:
    resp = httpx.post(server.url + "/v2/generate", headers={"x-api-key": key}, timeout=30,
                      data={"model": "react-1", "options": '{"pads": [NaN]}', "input": json.dumps(_bad_media(file_host))})
    assert resp.status_code == 400 and resp.json()["errorCode"] == "generation_input_validation_failed"
    assert "options holds a non-finite number (NaN)" in json.dumps(resp.json()["message"])
    assert httpx.get(server.url + "/v2/generations", headers={"x-api-key": key}, timeout=30).json() == []


@pytest.mark.parametrize("raw", [
    b"[" * 50_000 + b"]" * 50_000,
    b'{"model": "react-1", "options": {"temperature": ' + b"9" * 5000 + b"}}",
    b'{"model": "react-1", "outputFileName": "\xff\xfe"}',
], ids=["nested-50k", "5000-digit-int", "invalid-utf8"])
def test_pathological_json_is_a_400_not_a_500(server: LiveServer, key: str, raw: bytes) -> None:
    for path in ("/v2/generate", "/v2/analyze/cost"):
        resp = _post_json(server, key, raw, path)
        assert resp.status_code == 400, (path, resp.status_code, resp.text[:300])
        assert resp.json()["errorCode"] == "generation_input_validation_failed"


def test_a_batch_line_with_nan_or_invalid_utf8_is_a_400(server: LiveServer, key: str, file_host: FileHost) -> None:
    payload = json.dumps({"model": "react-1", "input": _bad_media(file_host)}).encode()
    for line, words in ((b'{"request_id": "r", "payload": ' + payload[:-1] + b', "options": {"pads": NaN}}}',
                         "line 1: the line holds a non-finite number (NaN)"),
                        (b'{"request_id": "r\xff", "payload": ' + payload + b"}", "the batch file is not valid UTF-8")):
        resp = httpx.post(server.url + "/v2/batch", headers={"x-api-key": key}, timeout=30,
                          files={"input": ("b.jsonl", line)})
        assert resp.status_code == 400, resp.text
        assert resp.json()["errorCode"] == "generation_input_validation_failed"
        assert words in json.dumps(resp.json()["message"])
    assert httpx.get(server.url + "/v2/batch", headers={"x-api-key": key}, timeout=30).json() == []


@pytest.mark.parametrize("name", [".", ".."])
def test_upload_names_dot_and_dotdot_are_stored_under_a_safe_name(server: LiveServer, key: str, media: Path,
                                                                   name: str) -> None:
    resp = httpx.post(server.url + "/v2/generate", headers={"x-api-key": key}, timeout=30, data={"model": "react-1"},
                      files={"video": (name, _wav(media)), "audio": (name, _wav(media))})
    assert resp.status_code == 201, resp.text
    asset = httpx.get(f"{server.url}/v2/assets/{resp.json()['input'][0]['assetId']}", headers={"x-api-key": key},
                      timeout=30).json()
    assert asset["name"] == "upload"
    assert not list((server.data_dir / "files").rglob("*.part"))


def test_an_output_file_name_with_a_trailing_newline_is_refused(server: LiveServer, key: str,
                                                                file_host: FileHost) -> None:
    body = {"model": "react-1", "input": _bad_media(file_host), "outputFileName": "abc\n"}
    resp = _post_json(server, key, json.dumps(body).encode())
    assert resp.status_code == 400 and "outputFileName" in json.dumps(resp.json()["message"])


# --- 9. fairness: refused creates keep nothing, queue caps, batches cost their lines ------------

def test_a_refused_multipart_create_keeps_none_of_its_uploads(server: LiveServer, key: str, client: Sync,
                                                              media: Path) -> None:
    wav = _wav(media)
    resp = httpx.post(server.url + "/v2/generate", headers={"x-api-key": key}, timeout=30,
                      data={"model": "react-1", "options": '{"model_mode": "torso"}'},
                      files={"video": ("upload", wav), "audio": ("upload", wav)})
    assert resp.status_code == 400 and resp.json()["errorCode"] == "generation_input_validation_failed"
    assert resp.json()["message"] == ["options.model_mode must be one of lips, face, head"]
    junk = httpx.post(server.url + "/v2/generate", headers={"x-api-key": key}, timeout=30, data={"model": "react-1"},
                      files={"video": ("upload", wav), "audio": ("upload", b"junk" * 100)})
    assert junk.status_code == 400 and junk.json()["errorCode"] == "generation_unsupported_media"
    assert client.assets.list().total_count == 0


def test_an_organisation_may_queue_only_so_many_jobs(quota_server: LiveServer, file_host: FileHost) -> None:
    key = quota_server.make_key("busy")
    body = json.dumps({"model": "react-1", "input": _bad_media(file_host)}).encode()
    assert [_post_json(quota_server, key, body).status_code for _ in range(4)] == [201] * 4
    full = _post_json(quota_server, key, body)
    assert full.status_code == 429 and full.json()["errorCode"] == "concurrency_limit_reached"
    assert _post_json(quota_server, quota_server.make_key("calm"), body).status_code == 201
    listed = httpx.get(quota_server.url + "/v2/generations", headers={"x-api-key": key}, timeout=30).json()
    assert len(listed) == 4


def test_each_batch_line_counts_against_the_create_rate_limit(quota_server: LiveServer, file_host: FileHost) -> None:
    key = quota_server.make_key("batcher")
    lines = "\n".join(json.dumps({"request_id": f"r{i}", "payload": {"model": "react-1", "input": _bad_media(file_host)}})
                      for i in range(4))
    made = httpx.post(quota_server.url + "/v2/batch", headers={"x-api-key": key}, timeout=30,
                      files={"input": ("b.jsonl", lines.encode())})
    assert made.status_code == 201, made.text
    codes = [_post_json(quota_server, key, b'{"model": "nope"}').status_code for _ in range(3)]
    assert codes == [400, 400, 429]  # 6 per minute: 4 lines + 2 creates


# --- 10. secrets, key revocation, disconnects ---------------------------------------------------

def _cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reperform.cli_server", "keys", *args, "--data-dir",
                           str(server.data_dir)], env=server.env, capture_output=True, text=True, cwd=REPO)


def test_a_revoked_key_is_refused(server: LiveServer) -> None:
    key = server.make_key_with_cli("to-revoke")
    models = server.url + "/v2/models"
    assert httpx.get(models, headers={"x-api-key": key}, timeout=10).status_code == 200
    listed = _cli(server, "list")
    assert listed.returncode == 0 and key[:8] in listed.stdout and key not in listed.stdout
    done = _cli(server, "revoke", key)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: httpx.get(models, headers={"x-api-key": key}, timeout=10).status_code == 401, 30,
             "the running server to refuse the revoked key")
    assert "REVOKED" in _cli(server, "list").stdout
    assert _cli(server, "revoke", "rp_no-such-key").returncode == 2


def test_a_client_that_hangs_up_mid_upload_is_one_log_line_not_a_traceback(server: LiveServer, key: str) -> None:
    import socket

    mark = len(server.log.read_bytes())
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(f"POST /v2/generate HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\n"
                 "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 1000000\r\n\r\n".encode()
                 + b'--XyZ\r\nContent-Disposition: form-data; name="video"; filename="v.mp4"\r\n\r\n' + b"\0" * 50_000)
    sock.close()

    def logged() -> str:
        return server.log.read_bytes()[mark:].decode(errors="replace")

    wait_for(lambda: "client disconnected during POST /v2/generate" in logged(), 30, "the disconnect to be logged")
    assert "Traceback" not in logged() and "unhandled error" not in logged()
