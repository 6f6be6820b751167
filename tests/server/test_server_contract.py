"""The /v2 wire contract against a live server, through the real syncsdk client and raw HTTP.

These paths never reach the renderer (bad input is refused or fails while the inputs are probed),
so they are quick; the COMPLETED paths are in test_server_e2e.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from reperform_harness import (
    CREATE_LIMIT_PER_MIN,
    UPLOAD_LIMIT_BYTES,
    FileHost,
    LiveServer,
    poll_generation,
    wait_for,
)
from sync import BadRequestError, NotFoundError, Sync

pytestmark = [pytest.mark.e2e, pytest.mark.media]


def _body(file_host: FileHost, **over: object) -> dict:
    body = {"model": "react-1",
            "input": [{"type": "video", "url": file_host.url("clip.mp4")},
                      {"type": "audio", "url": file_host.url("voice.wav")}]}
    body.update(over)
    return body


def _post(server: LiveServer, key: str | None, body: object) -> httpx.Response:
    headers = {"x-api-key": key} if key else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(server.url + "/v2/generate", content=content,
                      headers={**headers, "Content-Type": "application/json"}, timeout=30)


def test_a_key_made_with_the_cli_works_and_only_its_hash_is_stored(server: LiveServer) -> None:
    key = server.make_key_with_cli("cli")
    assert key.startswith("rp_") and len(key) > 40
    assert httpx.get(server.url + "/v2/models", headers={"x-api-key": key}, timeout=10).status_code == 200
    stored = b"".join(p.read_bytes() for p in server.data_dir.glob("reperform.db*"))  # db, WAL, shm
    assert stored and key.encode() not in stored


def test_models_list_offers_react_1_with_its_modes_and_the_lipsync_names(client: Sync, server: LiveServer,
                                                                         key: str) -> None:
    models = {m.id: m for m in client.models.list()}
    assert models["react-1"].type == "react"
    assert set(models["react-1"].modes) == {"lips", "face", "head"}  # extra keys survive the SDK's parsing
    for name in ("lipsync-2", "lipsync-2-pro", "sync-3"):  # sync's names, all served by lips mode
        assert models[name].type == "lipsync", name
    raw = httpx.get(server.url + "/v2/models", headers={"x-api-key": key}, timeout=10).json()
    assert {"react-1", "lipsync-2", "lipsync-2-pro", "sync-3"} <= {m["id"] for m in raw}



def test_cost_estimate_counts_frames_of_the_output_length_for_the_sync_mode(client: Sync,
                                                                            file_host: FileHost) -> None:
    video = {"type": "video", "url": file_host.url("clip.mp4")}  # 5.12 s at 25 fps
    audio = {"type": "audio", "url": file_host.url("voice.wav")}  # 8.0 s
    cut = client.generations.estimate_cost(model="react-1", input=[video, audio], options={"sync_mode": "cut_off"})
    longer = client.generations.estimate_cost(model="react-1", input=[video, audio], options={"sync_mode": "silence"})
    assert cut[0].estimated_frame_count == 128
    assert longer[0].estimated_frame_count == 200
    assert 0 < cut[0].estimated_generation_cost < longer[0].estimated_generation_cost


@pytest.mark.parametrize("method,path", [("GET", "/v2/models"), ("GET", "/v2/generations"),
                                         ("GET", "/v2/generate/x"), ("POST", "/v2/generate"),
                                         ("GET", "/v2/assets"), ("POST", "/v2/analyze/cost")])
def test_requests_without_a_valid_key_get_401_with_a_json_error(server: LiveServer, method: str, path: str) -> None:
    for headers in ({}, {"x-api-key": "rp_not-a-real-key"}):
        resp = httpx.request(method, server.url + path, headers=headers, json={}, timeout=10)
        assert resp.status_code == 401
        assert resp.json()["statusCode"] == 401 and resp.json()["errorCode"] == "unauthorized"


@pytest.mark.parametrize("change,code", [
    ({"model": "lipsync-9"}, "generation_unsupported_model"),
    ({"options": {"model_mode": "torso"}}, "generation_input_validation_failed"),
    ({"options": {"prompt": "elated"}}, "generation_input_validation_failed"),
    ({"options": {"temperature": 1.5}}, "generation_input_validation_failed"),
    ({"options": {"sync_mode": "stretch"}}, "generation_input_validation_failed"),
    ({"outputFileName": "../../etc/passwd"}, "generation_input_validation_failed"),
    ({"input": [{"type": "audio", "url": "http://127.0.0.1/a.wav"}]}, "generation_video_missing"),
    ({"input": [{"type": "video", "url": "http://127.0.0.1/v.mp4"}]}, "generation_audio_missing"),
    ({"input": [{"type": "video"}, {"type": "audio", "url": "http://127.0.0.1/a.wav"}]},
     "generation_input_validation_failed"),
    ({"input": [{"type": "video", "url": "ftp://x/v.mp4"}, {"type": "audio", "url": "http://127.0.0.1/a.wav"}]},
     "generation_input_validation_failed"),
    ({"input": [{"type": "video", "url": "http://127.0.0.1/v.mp4"},
                {"type": "text", "provider": {"name": "espeak", "script": "a" * 5000}}]},
     "generation_text_length_exceeded"),
])
def test_invalid_create_requests_get_400_with_the_sync_error_code(client: Sync, file_host: FileHost,
                                                                  change: dict, code: str) -> None:
    body = _body(file_host, **change)
    with pytest.raises(BadRequestError) as err:
        client.generations.create(**{"model": body["model"], "input": body["input"],
                                     "options": body.get("options"), "output_file_name": body.get("outputFileName")})
    assert err.value.status_code == 400
    error = err.value.body  # the SDK parses the body into its GenerationError (extra keys kept)
    assert error.status_code == 400 and error.model_dump()["errorCode"] == code
    assert isinstance(error.message, list) and error.message


def test_malformed_json_and_nulls_are_handled_without_a_500(server: LiveServer, key: str,
                                                            file_host: FileHost) -> None:
    for raw, words in ((b"{not json", "not valid JSON"), ([1, 2], "must be a JSON object")):
        refused = _post(server, key, raw)
        assert refused.status_code == 400
        assert refused.json()["errorCode"] == "generation_input_validation_failed"
        assert words in json.dumps(refused.json()["message"])
    # Explicit nulls mean "absent" and unknown top-level keys from newer clients are ignored.
    ok = _post(server, key, _body(file_host, options=None, webhookUrl=None, projectId="p1",
                                  input=[{"type": "video", "url": file_host.url("notes.txt")},
                                         {"type": "audio", "url": file_host.url("voice.wav")}]))
    assert ok.status_code == 201 and ok.json()["status"] == "PENDING"
    created = ok.json()
    assert created["options"] is None and created["webhookUrl"] is None and "projectId" not in created


def test_unknown_generation_id_is_404(client: Sync) -> None:
    with pytest.raises(NotFoundError):
        client.generations.get("00000000-0000-0000-0000-000000000000")


@pytest.mark.parametrize("video,audio,code", [
    ("notes.txt", "voice.wav", "generation_unsupported_media"),  # not media at all
    ("voice.wav", "voice.wav", "generation_video_missing"),  # audio where the video belongs
    ("clip.mp4", "silent.mp4", "generation_audio_missing"),  # a video without an audio track
    ("gone.mp4", "voice.wav", "generation_input_video_inaccessible"),  # 404 on the media host
])
def test_bad_media_is_accepted_then_fails_with_a_stable_error_code(client: Sync, file_host: FileHost,
                                                                   video: str, audio: str, code: str) -> None:
    gen = client.generations.create(model="react-1", input=[{"type": "video", "url": file_host.url(video)},
                                                            {"type": "audio", "url": file_host.url(audio)}])
    assert gen.status == "PENDING"
    done = poll_generation(client, gen.id)
    assert done.status == "FAILED"
    assert done.error_code == code and done.error
    assert done.output_url is None


def test_webhook_is_signed_retried_and_its_attempts_recorded(server: LiveServer, key: str, client: Sync,
                                                             file_host: FileHost) -> None:
    from reperform.protocol.webhooks import verify

    hook = file_host.hook("hooks/failed")
    hook.fail_first = 1  # the first delivery gets a 500: the server must retry
    gen = client.generations.create(model="react-1", webhook_url=file_host.url("hooks/failed"),
                                    input=[{"type": "video", "url": file_host.url("notes.txt")},
                                           {"type": "audio", "url": file_host.url("voice.wav")}])
    wait_for(lambda: len(hook.calls) >= 2, 60, "the webhook to be retried")
    headers, body = hook.calls[-1]
    assert verify(server.webhook_secret(key), body, headers["sync-signature"])
    assert not verify("whsec_wrong", body, headers["sync-signature"])
    payload = json.loads(body)
    assert payload["id"] == gen.id and payload["status"] == "FAILED"
    assert payload["error_code"] == payload["errorCode"] == "generation_unsupported_media"
    store = server.store()
    rows = wait_for(lambda: [r for r in store.webhooks.of_job(gen.id) if r.state == "delivered"], 10,
                    "the delivery to be recorded")
    assert rows[0].attempts == 2 and [a["statusCode"] for a in rows[0].log] == [500, 200]
    store.close()


def test_each_organisation_sees_only_its_own_generations_and_assets(server: LiveServer, client: Sync,
                                                                    media: Path) -> None:
    audio = (media / "audio" / "sadtalker_RD_Radio36_000.wav").read_bytes()
    mine = client.generations.create_with_files(model="react-1", video=audio, audio=audio)  # fails fast
    other = Sync(base_url=server.url, api_key=server.make_key("other"))
    with pytest.raises(NotFoundError):
        other.generations.get(mine.id)
    assert other.generations.list() == []
    asset_id = mine.input[0].asset_id if hasattr(mine.input[0], "asset_id") else mine.input[0]["assetId"]
    with pytest.raises(NotFoundError):
        other.assets.get(asset_id)
    assert client.assets.get(asset_id).type == "AUDIO"  # sniffed from the bytes, not the field name


def test_list_filters_by_status_and_ids_repeated_or_comma_separated(server: LiveServer, key: str,
                                                                    client: Sync, file_host: FileHost) -> None:
    bad = [{"type": "video", "url": file_host.url("notes.txt")}, {"type": "audio", "url": file_host.url("voice.wav")}]
    a = client.generations.create(model="react-1", input=bad)
    b = client.generations.create(model="lipsync-2", input=bad)
    for g in (a, b):
        poll_generation(client, g.id)
    assert {g.id for g in client.generations.list(ids=[a.id])} == {a.id}
    assert {g.id for g in client.generations.list(status=["FAILED", "COMPLETED"])} == {a.id, b.id}
    assert client.generations.list(status=["COMPLETED"]) == []
    raw = httpx.get(f"{server.url}/v2/generations", params={"ids": f"{a.id},{b.id}", "status": "FAILED"},
                    headers={"x-api-key": key}, timeout=10)
    assert raw.status_code == 200 and {g["id"] for g in raw.json()} == {a.id, b.id}


def test_creates_over_the_per_key_rate_limit_get_429_with_retry_after(server: LiveServer, key: str) -> None:
    codes = [_post(server, key, {"model": "nope"}).status_code for _ in range(CREATE_LIMIT_PER_MIN)]
    assert set(codes) == {400}
    limited = _post(server, key, {"model": "nope"})
    assert limited.status_code == 429
    assert limited.json() == {"statusCode": 429, "errorCode": "rate_limit_exceeded", "error": "Too Many Requests",
                              "message": limited.json()["message"]}
    assert int(limited.headers["Retry-After"]) >= 1
    assert httpx.get(server.url + "/v2/models", headers={"x-api-key": key}, timeout=10).status_code == 200


def test_uploads_over_the_size_limit_get_413_and_non_media_uploads_400(server: LiveServer, key: str,
                                                                        media: Path) -> None:
    audio = (media / "audio" / "sadtalker_RD_Radio36_000.wav").read_bytes()
    big = httpx.post(server.url + "/v2/generate", headers={"x-api-key": key}, timeout=30,
                     data={"model": "react-1"}, files={"video": ("upload", b"\0" * (UPLOAD_LIMIT_BYTES + 1)),
                                                       "audio": ("upload", audio)})
    assert big.status_code == 413 and big.json()["statusCode"] == 413
    assert big.json()["errorCode"] == "file_size_exceeds_plan_limit"
    junk = httpx.post(server.url + "/v2/generate", headers={"x-api-key": key}, timeout=30,
                      data={"model": "react-1"}, files={"video": ("upload", b"junk" * 100), "audio": ("upload", audio)})
    assert junk.status_code == 400 and junk.json()["errorCode"] == "generation_unsupported_media"
    assert Sync(base_url=server.url, api_key=key).assets.list().total_count == 0  # refused creates keep nothing


def test_assets_are_listed_with_cursor_paging_and_type_filter(server: LiveServer, client: Sync,
                                                              media: Path) -> None:
    audio = (media / "audio" / "sadtalker_RD_Radio36_000.wav").read_bytes()
    for _ in range(2):
        client.generations.create_with_files(model="react-1", video=audio, audio=audio)
    first = client.assets.list(limit=3)
    assert first.total_count == 4 and len(first.items) == 3 and first.next_cursor
    rest = client.assets.list(limit=3, cursor=first.next_cursor)
    assert len(rest.items) == 1 and not rest.next_cursor
    assert {a.id for a in first.items} | {rest.items[0].id} == {a.id for a in client.assets.list(limit=10).items}
    assert client.assets.list(types=["VIDEO"]).items == []
    assert httpx.get(first.items[0].url, timeout=10).content == audio  # signed URL, no key needed


def test_media_urls_on_private_networks_are_refused_unless_allowed(tmp_path: Path, file_host: FileHost) -> None:
    strict = LiveServer(tmp_path / "strict")  # no --allow-private-urls
    strict.start()
    try:
        client = Sync(base_url=strict.url, api_key=strict.make_key())
        gen = client.generations.create(model="react-1", input=[
            {"type": "video", "url": file_host.url("clip.mp4")}, {"type": "audio", "url": file_host.url("voice.wav")}])
        done = poll_generation(client, gen.id, timeout_s=60)
        assert done.status == "FAILED" and done.error_code == "generation_input_video_inaccessible"
        assert "non-public" in done.error
    finally:
        strict.stop()


def test_batch_dry_run_validates_and_a_batch_reports_metrics_results_and_one_webhook(
        server: LiveServer, key: str, client: Sync, file_host: FileHost) -> None:
    from reperform.protocol.webhooks import verify

    bad = [{"type": "video", "url": file_host.url("notes.txt")}, {"type": "audio", "url": file_host.url("voice.wav")}]
    lines = "\n".join(json.dumps({"request_id": f"r{i}", "endpoint": "/v2/generate",
                                  "payload": {"model": "react-1", "input": bad}}) for i in range(2)).encode()
    assert client.batch.create(input=("batch.jsonl", lines), dry_run=True).status == "VALIDATED"
    with pytest.raises(BadRequestError):
        client.batch.create(input=("batch.jsonl", b'{"request_id": "x", "payload": {"model": "nope"}}'))
    hook = file_host.hook("hooks/batch")
    batch = client.batch.create(input=("batch.jsonl", lines), webhook_url=file_host.url("hooks/batch"))
    assert batch.metrics.total_generations == 2
    done = wait_for(lambda: (b := client.batch.get(batch.id)).status in ("COMPLETED", "FAILED") and b, 90,
                    "the batch to finish")
    assert done.status == "FAILED" and done.metrics.failed_count == 2 and done.metrics.pending_count == 0
    results = [json.loads(line) for line in httpx.get(done.output_url, timeout=10).text.splitlines()]
    assert sorted(r["request_id"] for r in results) == ["r0", "r1"]
    assert all(r["generation"]["error_code"] == "generation_unsupported_media" for r in results)
    assert [b.id for b in client.batch.list()] == [batch.id]
    wait_for(lambda: hook.calls, 30, "the batch webhook")
    headers, body = hook.calls[0]
    assert verify(server.webhook_secret(key), body, headers["sync-signature"])
    assert json.loads(body)["id"] == batch.id and json.loads(body)["metrics"]["failed_count"] == 2
    assert len(hook.calls) == 1


def test_get_can_long_poll_within_the_documented_bounds(server: LiveServer, key: str, client: Sync,
                                                        file_host: FileHost) -> None:
    gen = client.generations.create(model="react-1", input=[{"type": "video", "url": file_host.url("notes.txt")},
                                                            {"type": "audio", "url": file_host.url("voice.wav")}])
    url, headers = f"{server.url}/v2/generate/{gen.id}", {"x-api-key": key}
    waited = httpx.get(url, params={"wait": "true", "timeout": 10}, headers=headers, timeout=30)
    assert waited.status_code == 200 and waited.headers["Retry-After"] == "2"
    assert waited.json()["status"] in ("PENDING", "PROCESSING", "FAILED")
    for outside in (0, 11):
        refused = httpx.get(url, params={"wait": "true", "timeout": outside}, headers=headers, timeout=10)
        assert refused.status_code == 400
        assert refused.json()["errorCode"] == "generation_input_validation_failed"
        assert "between 1 and 10 seconds" in json.dumps(refused.json()["message"])


def test_openapi_documents_every_v2_route_and_both_create_encodings(server: LiveServer) -> None:
    spec = httpx.get(server.url + "/openapi.json", timeout=10).json()
    assert {"/v2/generate", "/v2/generate/{generation_id}", "/v2/generations", "/v2/analyze/cost", "/v2/models",
            "/v2/assets", "/v2/assets/{asset_id}", "/v2/batch", "/v2/batch/{batch_id}"} <= set(spec["paths"])
    body = spec["paths"]["/v2/generate"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert httpx.get(server.url + "/docs", timeout=10).status_code == 200


def test_bad_segments_are_400s_naming_the_segment_and_good_ones_are_echoed(server: LiveServer, key: str,
                                                                          file_host: FileHost) -> None:
    a = {"type": "audio", "url": file_host.url("voice.wav"), "refId": "a"}
    video = {"type": "video", "url": file_host.url("clip.mp4")}
    overlap = [{"startTime": 0, "endTime": 2, "audioInput": {"refId": "a"}},
               {"startTime": 1, "endTime": 3, "audioInput": {"refId": "a"}}]
    resp = _post(server, key, _body(file_host, input=[video, a], segments=overlap))
    assert resp.status_code == 400 and "segments[1] (1-3 s) overlaps segments[0] (0-2 s)" in resp.text
    unknown = [{"startTime": 0, "endTime": 2, "audioInput": {"refId": "zz"}}]
    resp = _post(server, key, _body(file_host, input=[video, a], segments=unknown))
    assert resp.status_code == 400 and "segments[0].audioInput.refId 'zz'" in resp.text
    # Times beyond the video are known once it is fetched: the generation fails, naming the segment.
    late = [{"startTime": 4, "endTime": 9, "audioInput": {"refId": "a"}}]
    resp = _post(server, key, _body(file_host, input=[video, a], segments=late))
    assert resp.status_code == 201 and resp.json()["segments"] == late
    client = Sync(base_url=server.url, api_key=key)
    done = poll_generation(client, resp.json()["id"])
    assert done.status == "FAILED" and "segments[0] (4-9 s) is not within the video" in done.error


@pytest.mark.media
def test_a_multipart_create_uploads_one_audio_per_refid_for_segments(server: LiveServer, key: str,
                                                                   media: Path) -> None:
    """``audio:<refId>`` upload fields (the Studio's segments): each becomes an audio input with that
    refId; a repeated or empty refId is a 400 and keeps nothing."""
    clip = (media / "videos" / "pcavs_00373.mp4").read_bytes()
    voice_a = (media / "audio" / "sadtalker_RD_Radio36_000.wav").read_bytes()
    voice_b = (media / "audio" / "echomimic_movie_0_clip_0.wav").read_bytes()
    # The second segment ends past the 5.1 s video: the job fails at once, sparing the CPU.
    segments = [{"startTime": 0.4, "endTime": 2.0, "audioInput": {"refId": "a"}},
                {"startTime": 2.5, "endTime": 9.0, "audioInput": {"refId": "b"}}]
    data = {"model": "react-1", "segments": json.dumps(segments), "options": json.dumps({"model_mode": "lips"})}

    def create(files: list) -> httpx.Response:
        return httpx.post(server.url + "/v2/generate", headers={"x-api-key": key}, data=data, files=files,
                          timeout=60)

    resp = create([("video", ("clip.mp4", clip)), ("audio:a", ("a.wav", voice_a)), ("audio:b", ("b.wav", voice_b))])
    assert resp.status_code == 201, resp.text
    audios = [i for i in resp.json()["input"] if i["type"] == "audio"]
    assert sorted(i["refId"] for i in audios) == ["a", "b"]
    assert all(not i["assetId"].startswith("upload:") for i in audios), "the uploads were stored as assets"
    assets_before = len(httpx.get(server.url + "/v2/assets", headers={"x-api-key": key}, timeout=30).json()["items"])
    twice = create([("video", ("clip.mp4", clip)), ("audio:a", ("a.wav", voice_a)), ("audio:a", ("b.wav", voice_b))])
    assert twice.status_code == 400 and "'audio:a' is sent more than once" in twice.text
    blank = create([("video", ("clip.mp4", clip)), ("audio:", ("a.wav", voice_a))])
    assert blank.status_code == 400 and "needs a refId after the colon" in blank.text
    assets_after = len(httpx.get(server.url + "/v2/assets", headers={"x-api-key": key}, timeout=30).json()["items"])
    assert assets_after == assets_before, "a refused create keeps none of its uploads"


@pytest.mark.media
@pytest.mark.parametrize(("speaker", "words"), [
    ({"frame_number": 999, "coordinates": [100, 100]}, "frame_number 999 is past the video's last frame (99)"),
    ({"frame_number": 10, "coordinates": [5, 5]}, "coordinates (5, 5) are on no face on frame 10; faces there: ["),
    ({"bounding_boxes": [[10, 10, 200, 200]] * 99}, "bounding_boxes has 99 boxes; the video has 100 frames"),
])
def test_an_uploaded_video_that_refutes_the_speaker_option_is_a_400_naming_it(
        client: Sync, two_people, speaker: dict, words: str) -> None:
    """What only the video can tell (a frame past its end, a point on no face, not one box per
    frame) is checked on the upload before the job is created."""
    clip = two_people("side_left").path.read_bytes()  # 100 frames, two people
    with pytest.raises(BadRequestError) as err:
        client.generations.create_with_files(model="react-1", video=clip, audio=clip,
                                             options=json.dumps({"active_speaker_detection": speaker}))
    message = err.value.body.message
    assert err.value.status_code == 400 and any(words in m for m in message), message
    assert client.generations.list() == [] and client.assets.list().items == []  # nothing kept


@pytest.mark.media
def test_an_uploaded_video_that_refutes_a_segments_speaker_is_a_400_naming_the_segment(
        server: LiveServer, key: str, two_people, media: Path) -> None:
    """A segment's own ``active_speaker_detection`` is checked on the upload like the request's."""
    clip = two_people("side_left").path.read_bytes()  # 100 frames, vr2 | vr4 in 320 px tiles
    voice = (media / "audio" / "sadtalker_RD_Radio36_000.wav").read_bytes()
    segments = [{"startTime": 0.0, "endTime": 2.0, "audioInput": {"refId": "a"},
                 "optionsOverride": {"active_speaker_detection": {"frame_number": 5, "coordinates": [160, 160]}}},
                {"startTime": 2.0, "endTime": 4.0, "audioInput": {"refId": "b"},
                 "optionsOverride": {"active_speaker_detection": {"frame_number": 60, "coordinates": [5, 5]}}}]
    resp = httpx.post(server.url + "/v2/generate", headers={"x-api-key": key}, timeout=120,
                      data={"model": "react-1", "segments": json.dumps(segments)},
                      files=[("video", ("two.mp4", clip)), ("audio:a", ("a.wav", voice)), ("audio:b", ("b.wav", voice))])
    assert resp.status_code == 400, resp.text
    assert ("segments[1].optionsOverride.active_speaker_detection.coordinates (5, 5) are on no face on frame 60"
            in json.dumps(resp.json()["message"])), resp.text
