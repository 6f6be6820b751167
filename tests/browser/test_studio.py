"""The Studio, used the way a person would: in Chromium, against a live ``reperform serve``.

Every step saves a screenshot under ``tests/output/browser/`` so a failure can be seen, not guessed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

#: Upper bound for one short (5 s, 224×224) generation on two CPU cores, with head-room for a busy CI.
GENERATION_TIMEOUT_MS = 150_000

#: Bound for the page's own reactions (key check, upload answer, error display).
UI_TIMEOUT_MS = 20_000

VIDEO = "videos/pcavs_00373.mp4"  # 5.2 s, 224×224: the smallest real clip
AUDIO = "audio/sadtalker_RD_Radio36_000.wav"  # 8.0 s: longer than the video, so the length warning shows

#: The Studio's plain-words sentences the tests look for (from js/api.js).
KEY_REJECTED = "That API key was not accepted"
NOT_MEDIA = "could not be read as a video, photo or audio"


def _open_with_key(page, server, key: str) -> None:
    page.goto(server.studio_url)
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")


def _pick(page, name: str, value: str) -> None:
    """Choose a radio option as a user does, by clicking its label (the input is visually hidden).

    ``page.check(..., force=True)`` clicked the hidden input's box, which a layout still settling
    (after a job, history or compare action) could move: "clicking did not change its state".
    """
    radio = page.locator(f'input[name="{name}"][value="{value}"]')
    page.locator("label", has=radio).click()
    assert radio.is_checked(), f"{name}={value} did not get selected"


def _choose_files(page, video: Path, audio: Path) -> None:
    page.set_input_files("#video-file", str(video))
    page.set_input_files("#audio-file", str(audio))


def _generate_and_wait(page, progress_shot: Path | None = None) -> str:
    """Click Generate and wait until the new job shows a terminal state; return that status.

    With ``progress_shot``, also photograph the progress display once the new job is on screen.
    """
    previous = page.get_attribute("#job", "data-id") or ""
    page.click("#generate")
    if progress_shot is not None:
        page.wait_for_function(
            "previous => document.querySelector('#job').dataset.id !== previous"
            " || !document.querySelector('#generate-problems').hidden",
            arg=previous,
            timeout=UI_TIMEOUT_MS,
        )
        page.screenshot(path=str(progress_shot), full_page=True)
    page.wait_for_function(
        "previous => { const job = document.querySelector('#job');"
        " return (job.dataset.id !== previous && ['COMPLETED','FAILED','REJECTED'].includes(job.dataset.status))"
        " || !document.querySelector('#generate-problems').hidden; }",
        arg=previous,
        timeout=GENERATION_TIMEOUT_MS,
    )
    problems = page.locator("#generate-problems")
    if problems.is_visible():
        pytest.fail(f"the request was refused: {problems.inner_text()}")
    return page.get_attribute("#job", "data-status") or ""


def _watch_progress(page) -> None:
    """Record every (status, percentage) the progress display shows, for checks after the job ends."""
    page.evaluate(
        """() => {
          window.__progressLog = [];
          const job = document.querySelector('#job');
          const note = () => window.__progressLog.push(
            [job.dataset.status || '', document.querySelector('#job-percent').textContent]);
          new MutationObserver(note).observe(job, {subtree: true, childList: true, characterData: true,
                                                   attributes: true, attributeFilter: ['data-status']});
        }"""
    )


def _assert_progress_was_shown(page) -> None:
    log = page.evaluate("() => window.__progressLog")
    percents = [int(m.group(1)) for status, text in log if (m := re.search(r"(\d+)%", text))]
    statuses = [status for status, _ in log]
    assert "PROCESSING" in statuses, f"the page never showed the job processing: {log}"
    assert percents, f"the server reports progress_percent, but no percentage was shown: {log}"
    assert percents == sorted(percents), f"progress went backwards: {percents}"


def _assert_result_plays_and_downloads_as_mp4(page, output_dir: Path, name: str) -> None:
    page.wait_for_function(
        "() => { const v = document.querySelector('#result-video');"
        " return v.readyState >= 1 && Number.isFinite(v.duration) && v.duration > 0; }",
        timeout=UI_TIMEOUT_MS,
    )
    duration = page.eval_on_selector("#result-video", "v => v.duration")
    assert 4.0 < duration < 6.0, f"cut_off of a 5.2 s video with 8 s audio should last ~5.2 s, got {duration}"
    # Muted so Chromium's autoplay policy allows play() without a user gesture.
    page.eval_on_selector("#result-video", "v => { v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('#result-video').currentTime > 0.2", timeout=UI_TIMEOUT_MS)
    page.screenshot(path=str(output_dir / f"{name}-result.png"), full_page=True)

    _pick(page, "compare-view", "wipe")
    page.fill("#wipe", "30")
    assert page.eval_on_selector("#compare-stage", "el => el.style.getPropertyValue('--wipe')") == "30%"
    page.screenshot(path=str(output_dir / f"{name}-wipe.png"), full_page=True)

    with page.expect_download(timeout=UI_TIMEOUT_MS) as info:
        page.click("#download")
    saved = output_dir / f"{name}-download.mp4"
    info.value.save_as(saved)
    head = saved.read_bytes()[:12]
    assert head[4:8] == b"ftyp", f"download is not an MP4 (starts {head!r})"
    assert info.value.suggested_filename.endswith(".mp4")


@pytest.mark.media
def test_head_mode_surprised_generation_from_uploaded_files_plays_and_downloads_as_mp4(
    desktop_page, live_server, shared_media: Path, output_dir: Path
) -> None:
    page = desktop_page
    _open_with_key(page, live_server, live_server.api_key)
    page.wait_for_selector("#key-status.ok", timeout=UI_TIMEOUT_MS)
    page.screenshot(path=str(output_dir / "01-key-accepted.png"))

    _choose_files(page, shared_media / VIDEO, shared_media / AUDIO)
    page.wait_for_function("() => !document.querySelector('#length-warning').hidden", timeout=UI_TIMEOUT_MS)
    assert re.search(r"audio is 2\.[89] s longer than the video", page.inner_text("#length-warning"))
    assert page.inner_text("#video-length") in ("5.1 s", "5.2 s")
    assert page.inner_text("#audio-length") == "8.0 s"

    _pick(page, "mode", "head")
    assert "head motion" in page.inner_text("#mode-help")
    page.get_by_role("radio", name="Surprised").click()
    page.keyboard.press("+")
    page.keyboard.press("+")
    wheel = page.locator("#emotion-wheel")
    assert wheel.get_attribute("data-emotion") == "surprised"
    assert wheel.get_attribute("data-intensity") == "0.70"
    page.screenshot(path=str(output_dir / "02-inputs-head-surprised.png"))

    _watch_progress(page)
    status = _generate_and_wait(page, output_dir / "03-head-progress.png")
    page.screenshot(path=str(output_dir / "04-head-finished.png"), full_page=True)
    name = "head"
    assert status == "COMPLETED", f"generation ended {status}: {page.inner_text('#job')}"
    assert page.inner_text("#job-status").startswith("Done")
    _assert_progress_was_shown(page)

    _assert_result_plays_and_downloads_as_mp4(page, output_dir, name)

    item = page.locator("#history-list .history-item").first
    assert item.get_attribute("data-status") == "COMPLETED"
    assert page.console_errors == []


@pytest.mark.media
def test_wrong_key_is_reported_in_plain_words(
    desktop_page, live_server, shared_media: Path, output_dir: Path
) -> None:
    page = desktop_page
    _open_with_key(page, live_server, "rp_not-a-real-key-0123456789")
    page.wait_for_selector("#key-status.bad", timeout=UI_TIMEOUT_MS)
    assert page.inner_text("#key-status") == "Key not accepted"

    _choose_files(page, shared_media / VIDEO, shared_media / AUDIO)
    page.click("#generate")
    problems = page.locator("#generate-problems")
    problems.wait_for(state="visible", timeout=UI_TIMEOUT_MS)
    assert KEY_REJECTED in problems.inner_text()
    page.screenshot(path=str(output_dir / "10-wrong-key.png"))


@pytest.mark.media
def test_non_media_upload_is_reported_in_plain_words(
    desktop_page, live_server, shared_media: Path, output_dir: Path, tmp_path: Path
) -> None:
    page = desktop_page
    not_media = tmp_path / "notes.mp4"
    not_media.write_text("These are meeting notes, not a video.\n" * 50)
    _open_with_key(page, live_server, live_server.api_key)
    page.wait_for_selector("#key-status.ok", timeout=UI_TIMEOUT_MS)
    _choose_files(page, not_media, shared_media / AUDIO)
    expect(page.locator("#video-file-name")).to_contain_text("cannot preview", timeout=UI_TIMEOUT_MS)

    page.click("#generate")
    # The server may refuse at once (400) or accept and fail the job: either way the same plain sentence.
    message = page.locator("#generate-problems, #job-error").filter(has_text=NOT_MEDIA)
    message.first.wait_for(state="visible", timeout=GENERATION_TIMEOUT_MS)
    page.screenshot(path=str(output_dir / "11-not-media.png"), full_page=True)


def test_emotion_wheel_works_from_the_keyboard_alone(desktop_page, live_server) -> None:
    page = desktop_page
    page.goto(live_server.studio_url)
    wheel = page.locator("#emotion-wheel")
    centre = page.get_by_role("radio", name="None — follow the video's own expression")
    assert centre.get_attribute("aria-checked") == "true"
    # One Tab stop for the whole wheel: focus lands on the checked option.
    page.focus('input[name="mode"]:checked')
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.emotion") == ""
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "keyboard focus on the wheel must be visible"

    page.keyboard.press("ArrowRight")
    assert wheel.get_attribute("data-emotion") == "happy"
    page.keyboard.press("ArrowRight")
    assert wheel.get_attribute("data-emotion") == "surprised"
    assert page.get_by_role("radio", name="Surprised").get_attribute("aria-checked") == "true"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert wheel.get_attribute("data-emotion") == "neutral", "moving left from Happy wraps round the wheel"

    page.keyboard.press("-")
    page.keyboard.press("-")
    assert wheel.get_attribute("data-intensity") == "0.30"
    assert "0.30" in page.inner_text("#wheel-readout")
    assert page.get_attribute("#intensity", "aria-valuetext") == "0.30 (mild)"
    page.keyboard.press("End")
    assert wheel.get_attribute("data-intensity") == "1.00"
    page.keyboard.press("Home")
    assert wheel.get_attribute("data-emotion") == ""
    assert page.is_disabled("#intensity"), "intensity means nothing without an emotion"


def test_emotion_wheel_reads_intensity_from_the_distance_to_the_centre(desktop_page, live_server) -> None:
    page = desktop_page
    page.goto(live_server.studio_url)
    wheel = page.locator("#emotion-wheel")
    # The form above the wheel is built once the API document arrives (options.js); measure the
    # wheel's place after that, or a slow server's late document reads as the click moving it.
    page.wait_for_selector("#emotion-wheel .wheel-option:not(.centre)")
    top_before = wheel.bounding_box()["y"]

    def click_at(fraction: float, degrees_clockwise_from_top: float) -> None:
        box = wheel.bounding_box()
        cx, cy, radius = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] / 2
        a = math.radians(degrees_clockwise_from_top)
        page.mouse.click(cx + fraction * radius * math.sin(a), cy - fraction * radius * math.cos(a))

    # The Sad sector spans 210°..270°. Click at 225°, away from its label: near the rim, then just
    # outside the centre disc, then on the centre.
    click_at(0.95, 225)
    assert wheel.get_attribute("data-emotion") == "sad"
    far = float(wheel.get_attribute("data-intensity"))
    assert wheel.bounding_box()["y"] == top_before, "choosing an emotion must not move the wheel"
    click_at(0.45, 225)
    near = float(wheel.get_attribute("data-intensity"))
    assert wheel.get_attribute("data-emotion") == "sad"
    assert far > 0.7 and near < 0.3, (far, near)
    click_at(0.0, 0)
    assert wheel.get_attribute("data-emotion") == ""


def test_studio_fits_a_phone_screen_without_sideways_scrolling(
    phone_page, live_server, output_dir: Path
) -> None:
    page = phone_page
    page.goto(live_server.studio_url)
    page.fill("#api-key", live_server.api_key)
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-status.ok", timeout=UI_TIMEOUT_MS)
    page.click("#segment-add")  # a segment's row (times, voice, mode, emotion) must fit too
    page.locator("#segments-list .seg-kind").select_option("text")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page is {overflow}px wider than the phone"
    for selector in ["#emotion-wheel", "#generate", "#model", "#video-file-name", "#segments-list .segment",
                     "#segments-list .seg-text", "#speaker-frame"]:
        box = page.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
    for label in page.locator("#emotion-wheel .wheel-option").all():
        box = label.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, label.inner_text()
    page.screenshot(path=str(output_dir / "20-phone.png"), full_page=True)


@pytest.mark.media
def test_typed_text_shows_an_estimated_length_and_the_length_warning(
    desktop_page, live_server, shared_media: Path
) -> None:
    page = desktop_page
    page.goto(live_server.studio_url)
    page.set_input_files("#video-file", str(shared_media / VIDEO))
    _pick(page, "audio-src", "text")
    page.fill("#tts-text", " ".join(["word"] * 27))  # 27 words at 2.7 words/s ≈ 10 s
    assert page.inner_text("#audio-length") == "≈ 10.0 s"
    # The video's own length arrives once the browser has read the file's header.
    expect(page.locator("#video-length")).to_have_text(re.compile(r"5\.[12] s"), timeout=UI_TIMEOUT_MS)
    assert page.locator("#length-warning").is_visible()
    page.select_option("#sync-mode", "loop")
    assert page.inner_text("#result-length") == "≈ 10.0 s"
    page.select_option("#sync-mode", "cut_off")
    assert page.inner_text("#result-length") in ("≈ 5.1 s", "≈ 5.2 s")


@pytest.mark.media
def test_typed_text_is_spoken_offline_and_the_upload_can_be_picked_again(
    desktop_page, live_server, shared_media: Path, output_dir: Path
) -> None:
    page = desktop_page
    _open_with_key(page, live_server, live_server.api_key)
    page.wait_for_selector("#key-status.ok", timeout=UI_TIMEOUT_MS)
    page.set_input_files("#video-file", str(shared_media / VIDEO))
    _pick(page, "audio-src", "text")
    page.fill("#tts-text", "Hello there. Every word you hear was typed in the studio.")
    page.select_option("#tts-voice", "en-us")
    page.select_option("#sync-mode", "bounce")
    _pick(page, "mode", "lips")

    assert _generate_and_wait(page) == "COMPLETED", page.inner_text("#job")
    page.wait_for_function(
        "() => document.querySelector('#result-video').duration > 1", timeout=UI_TIMEOUT_MS
    )
    page.screenshot(path=str(output_dir / "30-tts-result.png"), full_page=True)

    # History: the finished item reopens its result against the original from the echoed input.
    page.eval_on_selector("#result-video", "v => v.removeAttribute('src')")
    page.locator("#history-list .history-item").first.get_by_role("button", name=re.compile("^Compare")).click()
    page.wait_for_function("() => document.querySelector('#result-video').duration > 1", timeout=UI_TIMEOUT_MS)
    assert (page.get_attribute("#before-video", "src") or "").startswith(live_server.base_url), \
        "the original comes from the server's stored upload, not the browser's local copy"

    # The uploaded clip is now an asset: pick it from "Earlier uploads" instead of uploading again.
    _pick(page, "video-src", "asset")
    option = page.locator("#video-asset option", has_text="pcavs_00373")
    assert option.count() >= 1
    page.select_option("#video-asset", option.first.get_attribute("value"))
    assert page.inner_text("#video-length") in ("5.1 s", "5.2 s")
    page.wait_for_function("() => document.querySelector('#preview-video').readyState >= 1", timeout=UI_TIMEOUT_MS)


def test_the_server_root_opens_the_studio(desktop_page, live_server) -> None:
    page = desktop_page
    page.goto(live_server.base_url + "/")
    assert page.url == live_server.studio_url
    assert page.title() == "reperform Studio"
    # Everything the page needs ships with the package: no request leaves the server's origin.
    assert page.evaluate(
        "() => performance.getEntriesByType('resource').every(r => r.name.startsWith(location.origin))"
    )
    assert page.console_errors == []


def _options_document(server) -> dict:
    import httpx

    return httpx.get(server.base_url + "/openapi.json", timeout=30).json()


def _form(page) -> dict:
    """What the form offers and has chosen, as a person would find it."""
    page.wait_for_selector('#emotion-wheel .wheel-option:not(.centre)')
    return page.evaluate("""() => ({
        modes: [...document.querySelectorAll('input[name="mode"]')].map(r => r.value),
        mode: document.querySelector('input[name="mode"]:checked').value,
        syncModes: [...document.querySelectorAll('#sync-mode option')].map(o => o.value),
        syncMode: document.querySelector('#sync-mode').value,
        emotions: [...document.querySelectorAll('#emotion-wheel .wheel-option:not(.centre)')]
                      .map(b => b.dataset.emotion).sort(),
        intensity: document.querySelector('#emotion-wheel').dataset.intensity,
        range: [document.querySelector('#intensity').min, document.querySelector('#intensity').max],
        occlusion: document.querySelector('#occlusion').checked,
    })""")


def test_the_form_offers_the_options_and_defaults_of_the_engine(desktop_page, live_server) -> None:
    """The Studio's part of the options' agreement (tests/test_options_surfaces.py has the others)."""
    from reperform.options import Emotion, GenerateOptions, ModelMode, SyncMode

    page = desktop_page
    page.goto(live_server.studio_url)
    form = _form(page)
    engine = GenerateOptions()
    assert form["modes"] == [m.value for m in ModelMode] and form["mode"] == engine.mode.value
    assert form["syncModes"] == [m.value for m in SyncMode] and form["syncMode"] == engine.sync_mode.value
    assert form["emotions"] == sorted(e.value for e in Emotion)
    assert form["intensity"] == f"{engine.temperature:.2f}" and form["range"] == ["0", "1"]
    assert form["occlusion"] == engine.occlusion and page.locator("#occlusion").is_visible()
    assert page.console_errors == []


def test_the_form_follows_the_api_document_rather_than_its_own_copy(desktop_page, live_server) -> None:
    """Served a document with other choices and defaults, the Studio offers those: it keeps no list of its own."""
    doc = _options_document(live_server)
    schemas = doc["components"]["schemas"]
    options = schemas["GenerationOptions"]["properties"]
    options["model_mode"]["default"] = "head"
    options["sync_mode"]["default"] = "loop"
    options["temperature"]["default"] = 0.3
    options["occlusion_detection_enabled"]["default"] = True
    schemas["SyncMode"]["enum"] = [m for m in schemas["SyncMode"]["enum"] if m != "remap"]
    schemas["Emotion"]["enum"] = [*[e for e in schemas["Emotion"]["enum"] if e != "disgusted"], "bored"]
    page = desktop_page
    page.route("**/openapi.json", lambda route: route.fulfill(json=doc))
    page.goto(live_server.studio_url)
    form = _form(page)
    assert form["mode"] == "head" and "head motion" in page.inner_text("#mode-help")
    assert form["syncModes"] == schemas["SyncMode"]["enum"] and form["syncMode"] == "loop"
    assert form["emotions"] == sorted(schemas["Emotion"]["enum"]) and form["intensity"] == "0.30" and form["occlusion"]
    assert page.get_by_role("radio", name="Bored").count() == 1  # a new choice gets a plain label


# --- whom to edit: a click on the preview ------------------------------------------------------------

#: "As filmed" for the face nobody picked: the output is H.264 again, so it is measured against the
#: input's decode (the speakers' end-to-end tests hold vr2's face to the same bar).
AS_FILMED_DB = 40.0
#: The clicked face's mouth must have changed: its median PSNR stays well below this (measured 23-34 dB).
EDITED_BELOW_DB = 36.0


def _click_video_pixel(page, x: float, y: float) -> tuple[float, float]:
    """Click where the video's pixel (x, y) is drawn (the preview scales it to fit, object-fit: contain);
    return the page position clicked."""
    page.locator("#preview-video").scroll_into_view_if_needed()
    box = page.locator("#preview-video").bounding_box()
    w, h = page.eval_on_selector("#preview-video", "v => [v.videoWidth, v.videoHeight]")
    scale = min(box["width"] / w, box["height"] / h)
    left = box["x"] + (box["width"] - w * scale) / 2
    top = box["y"] + (box["height"] - h * scale) / 2
    page.mouse.click(left + x * scale, top + y * scale)
    return left + x * scale, top + y * scale


@pytest.mark.media
def test_clicking_the_right_hand_face_edits_that_person_and_leaves_the_other_as_filmed(
    desktop_page, live_server, shared_media: Path, output_dir: Path, two_people
) -> None:
    import httpx

    from benchmarks import composites as C

    clip = two_people("side_left")  # vr2 | vr4, one shot with vr2's own sound
    pics = C.frames(clip.path)
    right = C.face_in(C.face_boxes(pics[50:51])[0], clip.rect(1))
    assert right is not None, "vr4's face is found on the input"
    target = ((right[0] + right[2]) / 2, (right[1] + right[3]) / 2)

    page = desktop_page
    _open_with_key(page, live_server, live_server.api_key)
    page.wait_for_selector("#key-status.ok", timeout=UI_TIMEOUT_MS)
    page.set_input_files("#video-file", str(clip.path))
    page.set_input_files("#audio-file", str(shared_media / AUDIO))
    page.wait_for_function("() => document.querySelector('#preview-video').videoWidth > 0", timeout=UI_TIMEOUT_MS)
    assert page.inner_text("#speaker-readout") == "The largest, most central face."

    # The preview is 16:9, the composite 2:1: a click on the bars beside the picture picks nothing.
    box = page.locator("#preview-video").bounding_box()
    _pick(page, "speaker", "pick")
    page.mouse.click(box["x"] + 3, box["y"] + 3)
    assert page.inner_text("#speaker-readout").startswith("Click the face")
    # Choose a frame about 2 s in (frame 50 of 100 at 25 fps), then click vr4's face on it.
    page.fill("#speaker-frame", "500")
    page.wait_for_function("() => Math.abs(document.querySelector('#preview-video').currentTime - 2.0) < 0.05",
                           timeout=UI_TIMEOUT_MS)
    clicked = _click_video_pixel(page, *target)
    expect(page.locator("#speaker-readout")).to_contain_text("Frame 5", timeout=UI_TIMEOUT_MS)
    assert page.locator("#speaker-marker").is_visible()
    marker = page.locator("#speaker-marker").bounding_box()
    page.screenshot(path=str(output_dir / "50-speaker-picked.png"), full_page=True)

    _pick(page, "mode", "lips")
    assert _generate_and_wait(page) == "COMPLETED", page.inner_text("#job")
    job_id = page.get_attribute("#job", "data-id")
    gen = httpx.get(f"{live_server.base_url}/v2/generate/{job_id}", headers={"x-api-key": live_server.api_key},
                    timeout=30).json()
    picked = gen["options"]["active_speaker_detection"]
    assert 48 <= picked["frame_number"] <= 52, picked  # the frame rate was measured, not assumed
    assert abs(picked["coordinates"][0] - target[0]) <= 2 and abs(picked["coordinates"][1] - target[1]) <= 2, \
        (picked, target)
    assert abs(marker["x"] + marker["width"] / 2 - clicked[0]) <= 2
    assert abs(marker["y"] + marker["height"] / 2 - clicked[1]) <= 2

    _assert_only_the_right_face_was_edited(clip, pics, gen["outputUrl"], output_dir / "speaker-picked.mp4")


def _assert_only_the_right_face_was_edited(clip, pics, output_url: str, out_path: Path) -> None:
    """The right-hand person's mouth changed; the left-hand face is as filmed on every frame."""
    import httpx

    from benchmarks import composites as C

    out_path.write_bytes(httpx.get(output_url, timeout=60).content)
    out = C.frames(out_path)
    assert len(out) == len(pics)
    boxes = C.face_boxes(pics)
    left_boxes = [C.face_in(b, clip.rect(0)) for b in boxes]
    right_boxes = [C.face_in(b, clip.rect(1)) for b in boxes]
    frames = [i for i in range(len(out)) if left_boxes[i] and right_boxes[i]]
    assert len(frames) > 0.9 * len(out)
    left_db = [C.psnr(C.crop(out[i], left_boxes[i]), C.crop(pics[i], left_boxes[i])) for i in frames]
    right_db = [C.psnr(C.crop(out[i], C.lower_half(right_boxes[i])), C.crop(pics[i], C.lower_half(right_boxes[i])))
                for i in frames]
    assert min(left_db) >= AS_FILMED_DB, f"the left face changed: {min(left_db):.1f} dB"
    assert float(sorted(right_db)[len(right_db) // 2]) < EDITED_BELOW_DB, "the right face's mouth did not change"


@pytest.mark.media
def test_a_click_beside_every_face_is_refused_in_words_before_any_work(
    desktop_page, live_server, shared_media: Path, output_dir: Path, two_people
) -> None:
    clip = two_people("side_left")
    page = desktop_page
    _open_with_key(page, live_server, live_server.api_key)
    page.wait_for_selector("#key-status.ok", timeout=UI_TIMEOUT_MS)
    page.set_input_files("#video-file", str(clip.path))
    page.set_input_files("#audio-file", str(shared_media / AUDIO))
    page.wait_for_function("() => document.querySelector('#preview-video').videoWidth > 0", timeout=UI_TIMEOUT_MS)
    _pick(page, "speaker", "pick")
    page.click("#generate")
    expect(page.locator("#generate-problems")).to_contain_text("click the face to edit on the preview")
    _click_video_pixel(page, 12, 12)  # the map behind the left-hand person
    expect(page.locator("#speaker-readout")).to_contain_text(re.compile(r"Frame 0 at \(1[123], 1[123]\)"))
    page.click("#generate")
    problems = page.locator("#generate-problems")
    expect(problems).to_contain_text("are on no face on frame 0", timeout=UI_TIMEOUT_MS)  # the server's words
    assert "There is no face where you clicked" in problems.inner_text()
    page.screenshot(path=str(output_dir / "51-speaker-no-face.png"), full_page=True)
    assert page.get_attribute("#job", "data-id") in (None, ""), "no generation was created"

    # Without a pointer: on the focused preview the arrow keys move the mark, 1 % of the picture a press
    # (10 % with Shift): on this 640×320 video 64 px right and 3.2 px up.
    def point() -> tuple[int, int]:
        x, y = re.search(r"at \((\d+), (\d+)\)", page.inner_text("#speaker-readout")).groups()
        return int(x), int(y)

    before = point()
    page.focus("#screen")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("ArrowUp")
    after = point()
    assert abs(after[0] - before[0] - 64) <= 1 and abs(before[1] - after[1] - 3) <= 1, (before, after)
    assert page.locator("#speaker-marker").is_visible()


@pytest.mark.media
def test_who_speaks_edits_the_person_heard_in_the_video(
    desktop_page, live_server, shared_media: Path, output_dir: Path, two_people
) -> None:
    import httpx

    from benchmarks import composites as C

    clip = two_people("side_right")  # vr2 | vr4, one shot with vr4's own sound: she is the speaker
    page = desktop_page
    _open_with_key(page, live_server, live_server.api_key)
    page.wait_for_selector("#key-status.ok", timeout=UI_TIMEOUT_MS)
    page.set_input_files("#video-file", str(clip.path))
    page.set_input_files("#audio-file", str(shared_media / AUDIO))
    _pick(page, "speaker", "auto")
    assert "mouth moves with the video's own sound" in page.inner_text("#speaker-readout")
    _pick(page, "mode", "lips")
    assert _generate_and_wait(page) == "COMPLETED", page.inner_text("#job")
    gen = httpx.get(f"{live_server.base_url}/v2/generate/{page.get_attribute('#job', 'data-id')}",
                    headers={"x-api-key": live_server.api_key}, timeout=30).json()
    assert gen["options"]["active_speaker_detection"] == {"auto_detect": True}
    _assert_only_the_right_face_was_edited(clip, C.frames(clip.path), gen["outputUrl"],
                                           output_dir / "speaker-auto.mp4")


@pytest.mark.media
def test_the_engines_notes_on_a_result_are_shown_with_it_and_in_the_history(
    desktop_page, live_server, shared_media: Path, output_dir: Path, tmp_path: Path
) -> None:
    """*Who speaks* on a video without sound: the engine edits the most prominent face and says why;
    the page shows that note under the result and on the generation in the history."""
    from benchmarks import composites as C

    mute = C.without_sound(shared_media / VIDEO, tmp_path / "mute.mp4")
    page = desktop_page
    _open_with_key(page, live_server, live_server.api_key)
    page.wait_for_selector("#key-status.ok", timeout=UI_TIMEOUT_MS)
    _choose_files(page, mute, shared_media / AUDIO)
    _pick(page, "speaker", "auto")
    _pick(page, "mode", "lips")
    assert _generate_and_wait(page) == "COMPLETED", page.inner_text("#job")
    notes = page.locator("#result-warnings")
    expect(notes).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(notes).to_contain_text("The video has no sound of its own")
    job_id = page.get_attribute("#job", "data-id")
    item = page.locator(f'#history-list .history-item[data-id="{job_id}"]')
    expect(item.locator(".history-warnings")).to_contain_text("no sound of its own", timeout=UI_TIMEOUT_MS)
    page.screenshot(path=str(output_dir / "55-result-notes.png"), full_page=True)

    # A result with nothing to note hides the box again (here: the same video with its sound).
    page.set_input_files("#video-file", str(shared_media / VIDEO))
    assert _generate_and_wait(page) == "COMPLETED", page.inner_text("#job")
    expect(notes).to_be_hidden(timeout=UI_TIMEOUT_MS)


# --- segments: parts of the video with their own voice ----------------------------------------------

SEGMENT_VIDEO = "videos/videoretalking_2.mp4"  # 5.04 s at 25 fps, its own English sound
SEGMENT_AUDIOS = ("audio/sadtalker_RD_Radio36_000.wav", "audio/echomimic_movie_0_clip_0.wav")
SEGMENT_SPANS = ((0.8, 2.4), (3.0, 4.6))


def _add_segment(page, start: float, end: float) -> object:
    rows = page.locator("#segments-list .segment")
    page.click("#segment-add")
    row = rows.nth(rows.count() - 1)  # pinned: .last would follow later rows
    row.locator(".seg-start").fill(str(start))
    row.locator(".seg-end").fill(str(end))
    return row


def test_a_segment_the_server_refuses_shows_the_servers_words_on_that_segment(
    desktop_page, live_server, shared_media: Path, output_dir: Path
) -> None:
    page = desktop_page
    _open_with_key(page, live_server, live_server.api_key)
    page.wait_for_selector("#key-status.ok", timeout=UI_TIMEOUT_MS)
    page.set_input_files("#video-file", str(shared_media / SEGMENT_VIDEO))
    first = _add_segment(page, 0.5, 2.0)
    first.locator(".seg-audio").set_input_files(str(shared_media / SEGMENT_AUDIOS[0]))
    second = _add_segment(page, 1.5, 3.0)  # overlaps the first
    page.click("#generate")
    # Complete first: the second has no voice yet, and the page says so on that segment.
    expect(second.locator(".segment-problem")).to_have_text("Choose an audio file for this segment.")
    assert first.locator(".segment-problem").is_hidden()
    second.locator(".seg-kind").select_option("text")
    second.locator(".seg-text").fill("And this part is typed.")
    page.click("#generate")
    problem = second.locator(".segment-problem")
    expect(problem).to_contain_text("segments[1] (1.5-3 s) overlaps segments[0]", timeout=UI_TIMEOUT_MS)
    assert "see the notes on them" in page.inner_text("#generate-problems")
    assert page.locator("#voice-note").is_visible() and page.is_disabled("#sync-mode")
    page.screenshot(path=str(output_dir / "60-segment-refused.png"), full_page=True)
    # Removing a segment renumbers the rest.
    second.locator(".segment-remove").click()
    assert page.locator("#segments-list .segment").count() == 1
    assert page.inner_text("#segments-list .segment-title") == "Segment 1"


@pytest.mark.media
def test_a_two_segment_job_with_two_real_voices_keeps_the_video_outside_them_as_filmed(
    desktop_page, live_server, shared_media: Path, output_dir: Path
) -> None:
    import httpx
    import numpy as np

    from benchmarks import composites as C
    from reperform.media import load_audio, probe

    page = desktop_page
    _open_with_key(page, live_server, live_server.api_key)
    page.wait_for_selector("#key-status.ok", timeout=UI_TIMEOUT_MS)
    page.set_input_files("#video-file", str(shared_media / SEGMENT_VIDEO))
    expect(page.locator("#video-length")).to_have_text("5.0 s", timeout=UI_TIMEOUT_MS)
    _pick(page, "mode", "lips")
    for (start, end), audio in zip(SEGMENT_SPANS, SEGMENT_AUDIOS, strict=True):
        row = _add_segment(page, start, end)
        row.locator(".seg-audio").set_input_files(str(shared_media / audio))
    page.locator("#segments-list .segment").nth(1).locator(".seg-emotion").select_option("happy")
    blocks = page.locator("#segments-timeline .segment-block")
    assert blocks.count() == 2 and blocks.nth(1).inner_text() == "2"
    page.screenshot(path=str(output_dir / "61-segments.png"), full_page=True)

    assert _generate_and_wait(page) == "COMPLETED", page.inner_text("#job")
    gen = httpx.get(f"{live_server.base_url}/v2/generate/{page.get_attribute('#job', 'data-id')}",
                    headers={"x-api-key": live_server.api_key}, timeout=30).json()
    assert [[s["startTime"], s["endTime"]] for s in gen["segments"]] == [list(s) for s in SEGMENT_SPANS]
    assert gen["segments"][1]["optionsOverride"]["prompt"] == "happy"
    assert "sync_mode" not in gen["options"]
    out_path = output_dir / "segments.mp4"
    out_path.write_bytes(httpx.get(gen["outputUrl"], timeout=60).content)

    source = shared_media / SEGMENT_VIDEO
    assert abs(probe(out_path).duration_s - probe(source).duration_s) < 0.1, "the output keeps the video's length"
    src, out = C.frames(source), C.frames(out_path)
    fps = 25

    def inside(k: int) -> bool:
        return any(a <= k / fps < b for a, b in SEGMENT_SPANS)

    outside = [k for k in range(min(len(src), len(out))) if not inside(k)]
    worst = min(C.psnr(src[k], out[k]) for k in outside)
    assert worst >= 40.0, f"a frame outside the segments changed: {worst:.1f} dB"
    # Each span speaks its own upload (and is not the video's own sound there).
    rate = 16000
    got = load_audio(out_path, rate).samples
    for (a, b), audio in zip(SEGMENT_SPANS, SEGMENT_AUDIOS, strict=True):
        ref = load_audio(shared_media / audio, rate).samples
        part = got[int((a + 0.05) * rate):int((b - 0.05) * rate)]
        r = float(np.corrcoef(part, ref[int(0.05 * rate):int(0.05 * rate) + len(part)])[0, 1])
        assert r > 0.95, (audio, r)


@pytest.mark.media
def test_each_segment_picks_its_face_by_a_click_and_one_job_dubs_the_conversation(
    desktop_page, live_server, shared_media: Path, output_dir: Path, two_people
) -> None:
    """vr2 | vr4 side by side: segment 1 (0-2 s) speaks one real voice on the left person, clicked on
    frame ~25; segment 2 (2-4 s) another on the right person, clicked on frame ~75. The request
    carries each point as ``optionsOverride.active_speaker_detection``, and in each span only the
    clicked person's mouth is re-performed (the other face keeps what the codec keeps of it)."""
    import httpx
    import numpy as np

    from benchmarks import composites as C

    clip = two_people("side_left")
    pics = C.frames(clip.path)
    boxes = C.face_boxes(pics)
    faces = [[C.face_in(b, clip.rect(t)) for b in boxes] for t in (0, 1)]
    targets = [faces[0][25], faces[1][75]]
    assert all(targets), "both faces are found on the input"
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in targets]

    page = desktop_page
    _open_with_key(page, live_server, live_server.api_key)
    page.wait_for_selector("#key-status.ok", timeout=UI_TIMEOUT_MS)
    page.set_input_files("#video-file", str(clip.path))
    page.wait_for_function("() => document.querySelector('#preview-video').videoWidth > 0", timeout=UI_TIMEOUT_MS)
    _pick(page, "mode", "lips")
    rows = []
    for (start, end), audio in zip(((0.0, 2.0), (2.0, 4.0)), SEGMENT_AUDIOS, strict=True):
        row = _add_segment(page, start, end)
        row.locator(".seg-audio").set_input_files(str(shared_media / audio))
        rows.append(row)
    rows[0].locator(".seg-speaker").select_option("pick")
    page.click("#generate")  # nothing clicked yet: the page says so on that segment, sends nothing
    expect(rows[0].locator(".segment-problem")).to_contain_text("Click this segment's face")
    for row, slider, centre, frame in zip(rows, ("250", "750"), centres, (25, 75), strict=True):
        if row is rows[1]:
            row.locator(".seg-speaker").select_option("pick")  # arms the preview at once (row 1 is armed already)
        expect(row.locator(".seg-pick")).to_have_text("Cancel")
        expect(row.locator(".seg-face-readout")).to_contain_text("Click this segment's face")
        page.fill("#speaker-frame", slider)
        page.wait_for_function(f"() => Math.abs(document.querySelector('#preview-video').currentTime - {frame / 25})"
                               " < 0.05", timeout=UI_TIMEOUT_MS)
        _click_video_pixel(page, *centre)
        expect(row.locator(".seg-face-readout")).to_contain_text(re.compile(r"Frame \d+ at"))
    assert page.is_checked('input[name="speaker"][value="default"]'), "the whole video's choice is untouched"
    page.screenshot(path=str(output_dir / "62-segment-faces.png"), full_page=True)

    assert _generate_and_wait(page) == "COMPLETED", page.inner_text("#job")
    gen = httpx.get(f"{live_server.base_url}/v2/generate/{page.get_attribute('#job', 'data-id')}",
                    headers={"x-api-key": live_server.api_key}, timeout=30).json()
    assert "active_speaker_detection" not in gen["options"]
    for seg, centre, frame in zip(gen["segments"], centres, (25, 75), strict=True):
        point = seg["optionsOverride"]["active_speaker_detection"]
        assert abs(point["frame_number"] - frame) <= 2, point
        assert abs(point["coordinates"][0] - centre[0]) <= 2 and abs(point["coordinates"][1] - centre[1]) <= 2, \
            (point, centre)
    out_path = output_dir / "segment-faces.mp4"
    out_path.write_bytes(httpx.get(gen["outputUrl"], timeout=60).content)
    out = C.frames(out_path)
    assert len(out) == len(pics)
    for span, edited, alone in ((range(0, 50), 0, 1), (range(50, len(out)), 1, 0)):
        mouth = [C.psnr(C.crop(pics[i], C.lower_half(faces[edited][i])), C.crop(out[i], C.lower_half(faces[edited][i])))
                 for i in span if faces[edited][i]]
        kept = [C.psnr(C.crop(pics[i], faces[alone][i]), C.crop(out[i], faces[alone][i])) for i in span if faces[alone][i]]
        # the face left alone keeps what x264 keeps of it (35.6-41.3 dB: tests/e2e/test_conversation.py)
        assert np.median(mouth) < EDITED_BELOW_DB and np.median(kept) >= 36.0, (span, np.median(mouth), np.median(kept))
