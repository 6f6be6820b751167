// Whom to edit when the video shows several people: the engine's default (the largest, most central
// face), the person who speaks in the video's own sound (auto), or the face clicked on the preview.
// A click is recorded as sync's `{frame_number, coordinates: [x, y]}` in the video's own pixels, so the
// preview's displayed size and its letterbox bars (object-fit: contain) are undone here.

import { $ } from "./util.js";

const FALLBACK_FPS = 25; // only when the browser cannot measure the frame rate (no requestVideoFrameCallback)

const video = $("preview-video");
const image = $("preview-image");
const marker = $("speaker-marker");
let pick = null; // {frame, x, y, time} in the video's pixels, or null
let fps = null; // frames per second of the current video, measured by probeFrameRate
let getVideo = () => null;
let pending = null; // {take(point), cancel()} while a segment waits for its face to be clicked

/** The element showing the face and its intrinsic size (videoWidth/Height are after rotation). */
function shown() {
  const v = getVideo();
  if (!v) return null;
  if (v.isImage) return image.naturalWidth ? { el: image, w: image.naturalWidth, h: image.naturalHeight } : null;
  return video.videoWidth ? { el: video, w: video.videoWidth, h: video.videoHeight } : null;
}

/** Where the picture is drawn inside its element (object-fit: contain): scale and the bars' offsets. */
function placement(s) {
  const box = s.el.getBoundingClientRect();
  const scale = Math.min(box.width / s.w, box.height / s.h);
  return { box, scale, dx: (box.width - s.w * scale) / 2, dy: (box.height - s.h * scale) / 2 };
}

function currentFrame() {
  const v = getVideo();
  if (!v || v.isImage) return 0;
  // A paused element shows the frame whose span contains currentTime; the small bias keeps a time
  // that lands exactly on a boundary (after a seek to n / fps) on frame n.
  return Math.max(0, Math.floor(video.currentTime * (fps || FALLBACK_FPS) + 1e-3));
}

function drawMarker() {
  const s = shown();
  if (!pick || !s || $("speaker-pick").checked === false) {
    marker.hidden = true;
    return;
  }
  const p = placement(s);
  const screen = $("screen").getBoundingClientRect();
  marker.style.left = `${p.box.left - screen.left + p.dx + pick.x * p.scale}px`;
  marker.style.top = `${p.box.top - screen.top + p.dy + pick.y * p.scale}px`;
  marker.hidden = false;
}

function describe() {
  const mode = document.querySelector('input[name="speaker"]:checked')?.value;
  const out = $("speaker-readout");
  if (mode === "pick") {
    out.textContent = pick
      ? `Frame ${pick.frame} at (${Math.round(pick.x)}, ${Math.round(pick.y)}) — this person is followed through the video.`
      : "Click the face to edit on the preview (pause it first, or choose a frame with the slider); or focus the preview and move the mark with the arrow keys.";
  } else if (mode === "auto") {
    out.textContent = "In each shot, the person whose mouth moves with the video's own sound.";
  } else {
    out.textContent = "The largest, most central face.";
  }
  drawMarker();
}

function onClick(ev) {
  const s = shown();
  if (!s) return;
  if (!video.paused) $("preview-play").click(); // stop the preview: the pick is on the frame now shown
  const p = placement(s);
  const x = (ev.clientX - p.box.left - p.dx) / p.scale;
  const y = (ev.clientY - p.box.top - p.dy) / p.scale;
  if (x < 0 || y < 0 || x >= s.w || y >= s.h) return; // on the letterbox bars, not the picture
  const point = { frame: currentFrame(), x, y };
  if (pending) { // this click picks a segment's face, not the whole video's
    const { take } = pending;
    pending = null;
    $("screen").classList.remove("picking");
    take({ frame_number: point.frame, coordinates: [round1(x), round1(y)] });
    return;
  }
  pick = point;
  $("speaker-pick").checked = true;
  describe();
}

/** Let the next click on the preview pick a segment's face: `take` receives sync's
 * `{frame_number, coordinates}`. Another segment arming (or `cancelSegmentPick`) calls `cancel`. */
export function armSegmentPick(take, cancel) {
  if (pending) pending.cancel();
  pending = { take, cancel };
  $("screen").classList.add("picking");
  $("screen").focus({ preventScroll: true });
}

export function cancelSegmentPick() {
  if (!pending) return;
  const { cancel } = pending;
  pending = null;
  $("screen").classList.remove("picking");
  cancel();
}

/** Keyboard picking: on the focused preview the arrow keys move the pick (from the centre), 1 % of the
 * picture per press, 10 % with Shift, so a face can be chosen without a pointer. */
function onKey(ev) {
  const step = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[ev.key];
  const s = shown();
  if (!step || !s) return;
  ev.preventDefault();
  if (!video.paused) $("preview-play").click();
  const size = ev.shiftKey ? 0.1 : 0.01;
  const from = pick || { x: s.w / 2, y: s.h / 2 };
  const clamp = (v, hi) => Math.min(hi - 1, Math.max(0, v));
  pick = { frame: currentFrame(), x: clamp(from.x + step[0] * size * s.w, s.w), y: clamp(from.y + step[1] * size * s.h, s.h) };
  $("speaker-pick").checked = true;
  describe();
}

/** Measure the video's frame rate from the presentation times of a few frames played muted. */
function probeFrameRate(url) {
  return new Promise(resolve => {
    const el = document.createElement("video");
    if (!("requestVideoFrameCallback" in el)) {
      resolve(null);
      return;
    }
    el.muted = true;
    el.preload = "auto";
    const times = [];
    let finished = false;
    const done = value => {
      if (finished) return; // the time limit, an error and the last frame may each end the probe
      finished = true;
      el.pause();
      el.removeAttribute("src");
      el.load();
      resolve(value);
    };
    const onFrame = (_now, meta) => {
      times.push(meta.mediaTime);
      if (times.length < 8) {
        el.requestVideoFrameCallback(onFrame);
        return;
      }
      const steps = times.slice(1).map((t, i) => t - times[i]).filter(d => d > 1e-4);
      done(steps.length ? 1 / Math.min(...steps) : null);
    };
    el.requestVideoFrameCallback(onFrame);
    el.onerror = () => done(null);
    el.src = url;
    el.play().catch(() => done(null));
    setTimeout(() => done(null), 5000);
  });
}

/** A new face was chosen: forget the old pick and measure the new video's frame rate. */
export async function resetSpeaker() {
  cancelSegmentPick();
  pick = null;
  fps = null;
  const v = getVideo();
  const picker = $("speaker-frame");
  picker.value = "0";
  picker.disabled = !v || v.isImage;
  describe();
  if (v && !v.isImage) {
    const measured = await probeFrameRate(v.url);
    if (getVideo() === v) fps = measured;
  }
}

/** The request's `active_speaker_detection`, or null for the engine's default face. */
export function speakerOption() {
  const mode = document.querySelector('input[name="speaker"]:checked')?.value;
  if (mode === "auto") return { auto_detect: true };
  if (mode === "pick" && pick) return { frame_number: pick.frame, coordinates: [round1(pick.x), round1(pick.y)] };
  return null;
}

/** A problem to show before generating (clicked face chosen but nothing clicked), or null. */
export function speakerProblem() {
  const mode = document.querySelector('input[name="speaker"]:checked')?.value;
  return mode === "pick" && !pick ? "click the face to edit on the preview" : null;
}

/** Plain words for the server's refusal of a clicked face (its message stays as the detail), or null. */
export function speakerRefusal(detail) {
  const text = String(detail || "");
  if (!text.includes("active_speaker_detection")) return null;
  if (/on no face/.test(text)) return "There is no face where you clicked on that frame: click on a face, or pick another frame.";
  if (/past the video's last frame/.test(text)) return "The frame you picked is past the end of the video: pick the face again.";
  return "The face you picked was not accepted.";
}

function round1(v) {
  return Math.round(v * 10) / 10;
}

export function initSpeaker(videoGetter) {
  getVideo = videoGetter;
  $("screen").addEventListener("click", onClick);
  $("screen").addEventListener("keydown", onKey);
  for (const radio of document.querySelectorAll('input[name="speaker"]')) radio.addEventListener("change", describe);
  $("speaker-frame").addEventListener("input", ev => {
    const v = getVideo();
    if (!v || v.isImage || !Number.isFinite(video.duration)) return;
    if (!video.paused) $("preview-play").click();
    video.currentTime = (Number(ev.target.value) / 1000) * video.duration;
  });
  window.addEventListener("resize", drawMarker);
  describe();
}
