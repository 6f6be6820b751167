"""Generations that run the real engine to COMPLETED, driven by the real syncsdk client.

Short real clip (224×224, 5.12 s) so each run takes seconds; the output is downloaded from its
signed URL without the API key and checked as an H.264/AAC MP4 of the expected length.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from reperform_harness import FileHost, LiveServer, poll_generation, wait_for
from sync import Sync
from tests.e2e.test_generate import mouth_follows_its_sound

pytestmark = [pytest.mark.e2e, pytest.mark.media]

CLIP_S = 5.12  # pcavs_00373.mp4
#: One output frame at 25 fps: the container's length may differ from the request by this much.
FRAME_S = 0.04


def _check_mp4(data: bytes, tmp: Path, expected_s: float) -> None:
    path = tmp / "out.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert audio.codec_context.name == "aac"
        duration = float(container.duration) / av.time_base
    assert abs(duration - expected_s) <= 3 * FRAME_S, f"{duration} s vs {expected_s} s"


def test_create_from_urls_runs_to_completed_with_a_signed_webhook_and_downloadable_output(
        server: LiveServer, key: str, client: Sync, file_host: FileHost, tmp_path: Path) -> None:
    from reperform.protocol.webhooks import verify

    hook = file_host.hook("hooks/done")
    gen = client.generations.create(
        model="react-1", webhook_url=file_host.url("hooks/done"), output_file_name="take_1",
        input=[{"type": "video", "url": file_host.url("clip.mp4")}, {"type": "audio", "url": file_host.url("voice.wav")}],
        options={"model_mode": "lips", "prompt": "happy", "temperature": 0.4, "sync_mode": "cut_off"})
    assert gen.status == "PENDING" and gen.options.model_mode == "lips"
    done = poll_generation(client, gen.id)
    assert done.status == "COMPLETED", f"{done.error_code}: {done.error}"
    assert done.output_duration == pytest.approx(CLIP_S, abs=3 * FRAME_S)  # cut_off: the shorter input
    assert "take_1.mp4" in done.output_url
    resp = httpx.get(done.output_url, timeout=30)  # no API key: the URL's signature is the permission
    assert resp.status_code == 200
    _check_mp4(resp.content, tmp_path, CLIP_S)
    tampered = done.output_url.replace("signature=", "signature=0")
    assert httpx.get(tampered, timeout=10).status_code == 403

    wait_for(lambda: hook.calls, 30, "the COMPLETED webhook")
    headers, body = hook.calls[0]
    assert verify(server.webhook_secret(key), body, headers["sync-signature"])
    payload = json.loads(body)
    assert payload["status"] == "COMPLETED" and payload["outputUrl"] and payload["id"] == gen.id
    assert len(hook.calls) == 1


def test_create_with_files_uploads_sniffs_and_completes(server: LiveServer, client: Sync, media: Path,
                                                        tmp_path: Path) -> None:
    clip = (media / "videos" / "pcavs_00373.mp4").read_bytes()
    # The SDK sends both parts as application/octet-stream named "upload"; options as a JSON string.
    gen = client.generations.create_with_files(model="lipsync-2", video=clip, audio=clip,
                                               options=json.dumps({"sync_mode": "loop"}))
    assert [i.type for i in gen.input] == ["video", "audio"]
    done = poll_generation(client, gen.id)
    assert done.status == "COMPLETED", f"{done.error_code}: {done.error}"
    _check_mp4(httpx.get(done.output_url, timeout=30).content, tmp_path, CLIP_S)
    assets = client.assets.list(types=["VIDEO"]).items
    assert len(assets) == 2 and {a.format for a in assets} == {"mp4"}
    assert all(a.width == 224 and a.height == 224 for a in assets)


def test_a_client_written_for_sync_3_gets_the_lips_engine(client: Sync, file_host: FileHost,
                                                          tmp_path: Path) -> None:
    """sync-3 (like lipsync-2 and lipsync-2-pro) runs lips mode; react-only options are ignored."""
    gen = client.generations.create(model="sync-3", options={"model_mode": "head", "prompt": "happy"}, input=[
        {"type": "video", "url": file_host.url("clip.mp4")}, {"type": "audio", "url": file_host.url("voice.wav")}])
    assert gen.model == "sync-3"
    done = poll_generation(client, gen.id)
    assert done.status == "COMPLETED", f"{done.error_code}: {done.error}"
    _check_mp4(httpx.get(done.output_url, timeout=30).content, tmp_path, CLIP_S)


def test_segments_through_the_sdk_put_each_voice_on_its_span_and_keep_the_rest_as_filmed(
        client: Sync, file_host: FileHost, media: Path, tmp_path: Path) -> None:
    """Two segments, two real voices (one cropped), sent with the SDK's own segment types."""
    from sync.common import GenerationSegment, SegmentAudioInput
    from tests.e2e.test_generate import frames_of, psnr
    from tests.e2e.test_segments import _best_corr

    from reperform.media import load_audio

    spans = [(0.6, 2.2, "a", 0.0), (3.0, 4.6, "b", 1.0)]
    segments = [GenerationSegment(start_time=0.6, end_time=2.2, audio_input=SegmentAudioInput(ref_id="a")),
                GenerationSegment(start_time=3.0, end_time=4.6,
                                  audio_input=SegmentAudioInput(ref_id="b", start_time=1.0, end_time=2.6))]
    options = {"model_mode": "lips", "occlusion_detection_enabled": True}
    gen = client.generations.create(model="react-1", options=options, segments=segments, input=[
        {"type": "video", "url": file_host.url("clip.mp4")},
        {"type": "audio", "url": file_host.url("voice.wav"), "refId": "a"},
        {"type": "audio", "url": file_host.url("voice_b.wav"), "refId": "b"}])
    assert [s.start_time for s in gen.segments] == [0.6, 3.0]  # echoed
    assert gen.options.occlusion_detection_enabled is True
    done = poll_generation(client, gen.id)
    assert done.status == "COMPLETED", f"{done.error_code}: {done.error}"
    out = tmp_path / "out.mp4"
    _check_mp4(httpx.get(done.output_url, timeout=30).content, tmp_path, CLIP_S)  # the video's own length
    rate = 48000
    got = load_audio(out, rate).samples
    voices = {"a": load_audio(media / "audio" / "sadtalker_RD_Radio36_000.wav", rate).samples,
              "b": load_audio(media / "audio" / "echomimic_movie_0_clip_0.wav", rate).samples}
    own = load_audio(media / "videos" / "pcavs_00373.mp4", rate).samples
    edge = 0.05
    for start, end, ref, crop in spans:
        r, _ = _best_corr(got[int((start + edge) * rate):int((end - edge) * rate)],
                          voices[ref][int((crop + edge) * rate):int((crop + end - start - edge) * rate)], 96)
        assert r > 0.95, (ref, r)
    r, _ = _best_corr(got[int(2.25 * rate):int(2.95 * rate)], own[int(2.25 * rate):int(2.95 * rate)], 96)
    assert r > 0.95, r
    src, dst = frames_of(media / "videos" / "pcavs_00373.mp4"), frames_of(out)
    outside = [k for k in range(len(src)) if not any(a <= k / 25 < b for a, b, _, _ in spans)]
    inside = [k for k in range(len(src)) if k not in outside]
    # x264's re-encoding of this small, grainy clip alone costs ~40 dB (39.6-41.3 measured on
    # frames outside the segments); the re-performed frames inside are far below that.
    assert min(psnr(src[k], dst[k]) for k in outside) >= 39.0
    assert np.median([psnr(src[k], dst[k]) for k in inside]) < 36.0


def test_a_segment_may_speak_a_text_input_by_its_refid(client: Sync, file_host: FileHost, media: Path,
                                                       tmp_path: Path) -> None:
    """One segment speaks an uploaded voice, the other a script spoken offline; the rest keeps its sound."""
    from tests.e2e.test_segments import _best_corr

    from reperform.media import load_audio

    gen = client.generations.create(model="react-1", options={"model_mode": "lips"}, input=[
        {"type": "video", "url": file_host.url("clip.mp4")},
        {"type": "audio", "url": file_host.url("voice.wav"), "refId": "voice"},
        {"type": "text", "refId": "words", "provider": {"name": "espeak", "voiceId": "en-us",
                                                       "script": "Good evening, and welcome back."}}],
        segments=[{"startTime": 0.4, "endTime": 2.0, "audioInput": {"refId": "words"}},
                  {"startTime": 2.8, "endTime": 4.4, "audioInput": {"refId": "voice"}}])
    done = poll_generation(client, gen.id)
    assert done.status == "COMPLETED", f"{done.error_code}: {done.error}"
    out = tmp_path / "out.mp4"
    _check_mp4(httpx.get(done.output_url, timeout=30).content, tmp_path, CLIP_S)
    rate = 48000
    got = load_audio(out, rate).samples
    own = load_audio(media / "videos" / "pcavs_00373.mp4", rate).samples
    spoken = got[int(0.5 * rate):int(1.9 * rate)]
    assert np.sqrt(np.mean(spoken ** 2)) > 0.01  # speech, not silence
    assert abs(_best_corr(spoken, own[int(0.5 * rate):int(1.9 * rate)], 96)[0]) < 0.3  # not the video's own
    r, _ = _best_corr(got[int(2.05 * rate):int(2.75 * rate)], own[int(2.05 * rate):int(2.75 * rate)], 96)
    assert r > 0.95, r  # between the segments: the video's own sound


def test_text_input_is_spoken_offline_and_lip_synced(client: Sync, file_host: FileHost, tmp_path: Path) -> None:
    gen = client.generations.create(model="react-1", options={"sync_mode": "cut_off"}, input=[
        {"type": "video", "url": file_host.url("clip.mp4")},
        {"type": "text", "provider": {"name": "espeak", "voiceId": "en-us", "script": "Hello there, how are you?"}}])
    done = poll_generation(client, gen.id)
    assert done.status == "COMPLETED", f"{done.error_code}: {done.error}"
    assert 0.5 < done.output_duration < CLIP_S  # the speech is shorter than the clip: cut_off keeps it
    _check_mp4(httpx.get(done.output_url, timeout=30).content, tmp_path, done.output_duration)
    # Lip-synced: the mouth opens and closes with the spoken text (r 0.65 on this run when the
    # test was written; a clip whose mouth ignored the speech stays near 0).
    assert mouth_follows_its_sound(tmp_path / "out.mp4") > 0.3


def test_one_worker_process_runs_successive_jobs(server: LiveServer, client: Sync, file_host: FileHost) -> None:
    """The embedded pool keeps its worker between jobs (the engine loads once per worker)."""
    import re

    ids = []
    for _ in range(2):
        gen = client.generations.create(
            model="react-1", options={"model_mode": "lips"},
            input=[{"type": "video", "url": file_host.url("clip.mp4")}, {"type": "audio", "url": file_host.url("voice.wav")}])
        done = poll_generation(client, gen.id)
        assert done.status == "COMPLETED", f"{done.error_code}: {done.error}"
        ids.append(gen.id)
    log = server.log.read_text(errors="replace")
    pids = []
    for job_id in ids:
        found = re.search(rf"job {job_id}: attempt \d+ started by [^:]+:(\d+):", log)
        assert found, f"no start line for {job_id} in the server log"
        pids.append(int(found.group(1)))
    assert pids[0] == pids[1], pids


def test_the_sdk_picks_the_face_to_edit_with_active_speaker_detection(
        client: Sync, file_host: FileHost, two_people, tmp_path: Path) -> None:
    """Two people side by side (vr2 | vr4, heard vr2); a point on vr4 edits vr4 and leaves vr2 as
    filmed; a point on no face fails the job with a message naming it."""
    from sync.common import ActiveSpeaker

    from benchmarks import composites as C

    clip = two_people("side_left")
    file_host.files["two.mp4"] = clip.path
    right = clip.rect(1)
    speaker = ActiveSpeaker(frame_number=10, coordinates=[(right[0] + right[2]) // 2, (right[1] + right[3]) // 2])
    inputs = [{"type": "video", "url": file_host.url("two.mp4")}, {"type": "audio", "url": file_host.url("voice.wav")}]
    gen = client.generations.create(model="react-1", input=inputs,
                                    options={"model_mode": "lips", "active_speaker_detection": speaker})
    assert gen.options.active_speaker_detection.coordinates == speaker.coordinates  # echoed
    done = poll_generation(client, gen.id)
    assert done.status == "COMPLETED", f"{done.error_code}: {done.error}"
    out = tmp_path / "out.mp4"
    out.write_bytes(httpx.get(done.output_url, timeout=30).content)
    src, dst = C.frames(clip.path), C.frames(out)
    boxes = C.face_boxes(src)
    vr2 = [C.face_in(b, clip.rect(0)) for b in boxes]
    vr4 = [C.face_in(b, right) for b in boxes]
    assert min(C.psnr(C.crop(src[i], vr2[i]), C.crop(dst[i], vr2[i])) for i in range(len(dst))) >= 40.0
    assert np.median([C.psnr(C.crop(src[i], C.lower_half(vr4[i])), C.crop(dst[i], C.lower_half(vr4[i])))
                      for i in range(len(dst))]) < 36.0

    nowhere = client.generations.create(model="react-1", input=inputs, options={
        "model_mode": "lips", "active_speaker_detection": ActiveSpeaker(frame_number=10, coordinates=[5, 5])})
    failed = poll_generation(client, nowhere.id)
    assert failed.status == "FAILED" and failed.error_code == "generation_input_validation_failed"
    assert "coordinates (5, 5) are on no face on frame 10" in failed.error


def test_one_request_dubs_a_conversation_a_speaker_per_segment(
        client: Sync, file_host: FileHost, two_people, tmp_path: Path) -> None:
    """Two people side by side (vr2 | vr4), two voices: segment 1 points at vr2, segment 2 at vr4
    (``optionsOverride.active_speaker_detection``). The server takes it, echoes it, the job
    completes, and each span re-performs its own person only. A per-segment bounding_boxes is a
    400 naming the segment."""
    from sync import BadRequestError

    from benchmarks import composites as C

    clip = two_people("side_left")
    file_host.files["two.mp4"] = clip.path
    left, right = clip.rect(0), clip.rect(1)

    def point(rect: tuple[int, int, int, int], frame: int) -> dict:
        return {"frame_number": frame, "coordinates": [(rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2]}

    def segment(start: float, end: float, ref: str, speaker: dict) -> dict:
        return {"startTime": start, "endTime": end, "audioInput": {"refId": ref},
                "optionsOverride": {"active_speaker_detection": speaker}}

    inputs = [{"type": "video", "url": file_host.url("two.mp4")},
              {"type": "audio", "url": file_host.url("voice.wav"), "refId": "a"},
              {"type": "audio", "url": file_host.url("voice_b.wav"), "refId": "b"}]
    segments = [segment(0.0, 2.0, "a", point(left, 5)), segment(2.0, 4.0, "b", point(right, 60))]
    gen = client.generations.create(model="react-1", input=inputs, options={"model_mode": "lips"}, segments=segments)
    assert [s.model_dump(by_alias=True)["optionsOverride"] for s in gen.segments] == [
        s["optionsOverride"] for s in segments]  # echoed as sent
    done = poll_generation(client, gen.id)
    assert done.status == "COMPLETED", f"{done.error_code}: {done.error}"
    out = tmp_path / "out.mp4"
    out.write_bytes(httpx.get(done.output_url, timeout=30).content)
    src, dst = C.frames(clip.path), C.frames(out)
    boxes = C.face_boxes(src)
    faces = [[C.face_in(b, rect) for b in boxes] for rect in (left, right)]
    for span, edited, alone in ((range(0, 50), 0, 1), (range(50, len(dst)), 1, 0)):
        mouth = [C.psnr(C.crop(src[i], C.lower_half(faces[edited][i])), C.crop(dst[i], C.lower_half(faces[edited][i])))
                 for i in span]
        kept = [C.psnr(C.crop(src[i], faces[alone][i]), C.crop(dst[i], faces[alone][i])) for i in span]
        # The face left alone keeps what x264 keeps of it (35.6-41.3 dB; tests/e2e/test_conversation.py).
        assert np.median(mouth) < 36.0 and np.median(kept) >= 36.0, (span, np.median(mouth), np.median(kept))

    boxes_per_segment = [segment(0.0, 2.0, "a", point(left, 5)),
                         segment(2.0, 4.0, "b", {"bounding_boxes": [[320, 0, 640, 320]] * 100})]
    with pytest.raises(BadRequestError) as err:
        client.generations.create(model="react-1", input=inputs, segments=boxes_per_segment)
    assert "segments[1].optionsOverride.active_speaker_detection" in json.dumps(err.value.body.message)


def test_the_engines_warnings_come_back_with_the_generation_through_the_sdk(
        server: LiveServer, key: str, client: Sync, file_host: FileHost, media: Path, tmp_path: Path) -> None:
    """Auto speaker selection on a video without sound cannot listen for the speaker: the engine
    edits the most prominent face and says so. The note reaches the API client — on the polled
    Generation (read by the real syncsdk, whose model keeps the extra field), in the list, and in
    the COMPLETED webhook — and a job with nothing to note carries an empty list."""
    from benchmarks import composites as C
    from reperform.protocol.webhooks import verify

    file_host.files["mute.mp4"] = C.without_sound(media / "videos" / "pcavs_00373.mp4", tmp_path / "mute.mp4")
    hook = file_host.hook("hooks/warned")
    gen = client.generations.create(
        model="react-1", webhook_url=file_host.url("hooks/warned"),
        input=[{"type": "video", "url": file_host.url("mute.mp4")}, {"type": "audio", "url": file_host.url("voice.wav")}],
        options={"model_mode": "lips", "active_speaker_detection": {"auto_detect": True}})
    assert gen.warnings == []  # nothing known before the job has run
    done = poll_generation(client, gen.id)
    assert done.status == "COMPLETED", f"{done.error_code}: {done.error}"
    expected = "the video has no sound of its own"
    assert any(w.startswith(expected) for w in done.warnings), done.warnings
    assert done.output_url and done.options.active_speaker_detection.auto_detect is True  # the rest as before
    listed = client.generations.list(ids=[gen.id])
    assert listed and listed[0].warnings == done.warnings
    wait_for(lambda: hook.calls, 30, "the COMPLETED webhook")
    headers, body = hook.calls[0]
    assert verify(server.webhook_secret(key), body, headers["sync-signature"])
    assert json.loads(body)["warnings"] == done.warnings

    plain = client.generations.create(
        model="react-1", options={"model_mode": "lips"},
        input=[{"type": "video", "url": file_host.url("clip.mp4")}, {"type": "audio", "url": file_host.url("voice.wav")}])
    finished = poll_generation(client, plain.id)
    assert finished.status == "COMPLETED" and finished.warnings == []
