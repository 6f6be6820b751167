// The preview player: the chosen face with the new audio, the three lengths, and the length warning.
// Playback follows the sync mode roughly (bounce is shown as a loop); the server does the real thing.

import { plainLabel } from "./options.js";
import { $, clock, formatSeconds } from "./util.js";

const LENGTH_TOLERANCE_S = 0.1; // differences below ~2-3 frames are not worth a warning

// Words for the sync modes the API offers (which ones, and the default, come from the API).
const SYNC_LABELS = {
  cut_off: "Cut off — stop at the shorter one",
  loop: "Loop — replay the video until the audio ends",
  bounce: "Bounce — play the video forward, then backward",
  silence: "Silence — keep the longer; pad or hold the shorter",
  remap: "Remap — stretch the video to the audio's length",
};

const SYNC_HELP = {
  cut_off: "The result ends when the shorter of the two ends.",
  loop: "The video starts again from the beginning until the audio ends.",
  bounce: "The video plays forward, then backward, and so on until the audio ends.",
  silence: "The result is as long as the longer one: short audio is padded with silence, a short video holds its last frame.",
  remap: "The video is slowed down or sped up to last exactly as long as the audio.",
};

const previewVideo = $("preview-video");
const previewImage = $("preview-image");
const previewAudio = $("preview-audio");
let previewRaf = 0;
let getVideo = () => null;
let getAudio = () => null;

/** The expected output length in seconds for sync's modes, or null while a length is unknown. */
function resultLength(v, a, syncMode) {
  if (!a || !Number.isFinite(a.duration)) return null;
  if (!v) return null;
  if (v.isImage) return a.duration;
  if (!Number.isFinite(v.duration)) return null;
  switch (syncMode) {
    case "cut_off":
      return Math.min(v.duration, a.duration);
    case "silence":
      return Math.max(v.duration, a.duration);
    default:
      return a.duration; // loop, bounce, remap all follow the audio
  }
}

/** Redraw the screen, lengths and warning from the current inputs (stops a running preview). */
export function updatePreview() {
  stopPreview();
  const v = getVideo();
  const a = getAudio();
  const syncMode = $("sync-mode").value;

  // screen
  if (v && v.isImage) {
    previewImage.src = v.url;
    previewImage.hidden = false;
    previewVideo.hidden = true;
  } else if (v) {
    if (previewVideo.getAttribute("src") !== v.url) previewVideo.src = v.url;
    previewVideo.hidden = false;
    previewImage.hidden = true;
  } else {
    previewVideo.hidden = true;
    previewImage.hidden = true;
    previewVideo.removeAttribute("src");
  }
  $("screen-empty").hidden = Boolean(v);

  // audio element (typed text has nothing to play until the server speaks it)
  const audioUrl = a && !a.text ? a.url : "";
  if (audioUrl && previewAudio.getAttribute("src") !== audioUrl) previewAudio.src = audioUrl;
  if (!audioUrl) previewAudio.removeAttribute("src");
  $("preview-play").disabled = !v;

  // lengths
  $("video-length").textContent = v ? (v.isImage ? "photo" : formatSeconds(v.duration)) : "—";
  $("audio-length").textContent = a ? `${a.estimated ? "≈ " : ""}${formatSeconds(a.duration)}` : "—";
  const out = resultLength(v, a, syncMode);
  $("result-length").textContent = out === null ? "—" : `${a && a.estimated ? "≈ " : ""}${formatSeconds(out)}`;
  $("preview-time").textContent = `0:00 / ${clock(out ?? v?.duration ?? 0)}`;

  // warning when the lengths differ
  const warn = $("length-warning");
  if (v && !v.isImage && a && Number.isFinite(v.duration) && Number.isFinite(a.duration)) {
    const diff = a.duration - v.duration;
    if (Math.abs(diff) > LENGTH_TOLERANCE_S) {
      const which = diff > 0 ? "audio" : "video";
      $("length-warning-text").textContent =
        `The ${which} is ${Math.abs(diff).toFixed(1)} s longer than the ${which === "audio" ? "video" : "audio"}` +
        `${a.estimated ? " (estimated)" : ""}. Choose below how to fit them.`;
      warn.hidden = false;
    } else warn.hidden = true;
  } else warn.hidden = true;
  $("sync-help").textContent = SYNC_HELP[syncMode] ?? "";
}

function stopPreview() {
  cancelAnimationFrame(previewRaf);
  previewVideo.pause();
  previewAudio.pause();
  previewVideo.playbackRate = 1;
  $("preview-play").setAttribute("aria-label", "Play the preview with the new audio");
  $("preview-play").firstElementChild.textContent = "▶";
  $("scrub-fill").style.width = "0";
}

async function playPreview() {
  const v = getVideo();
  const a = getAudio();
  if (!v) return;
  if (!previewVideo.paused || !previewAudio.paused) {
    stopPreview();
    return;
  }
  const syncMode = $("sync-mode").value;
  const hasAudio = Boolean(a && !a.text && previewAudio.getAttribute("src"));
  const total = resultLength(v, a, syncMode) ?? v.duration ?? a?.duration ?? 0;
  if (!v.isImage) {
    previewVideo.currentTime = 0;
    previewVideo.loop = syncMode === "loop" || syncMode === "bounce";
    if (syncMode === "remap" && a && v.duration && a.duration) {
      previewVideo.playbackRate = Math.min(4, Math.max(0.25, v.duration / a.duration));
    }
    previewVideo.muted = hasAudio;
    previewVideo.play().catch(() => {});
  }
  if (hasAudio) {
    previewAudio.currentTime = 0;
    previewAudio.play().catch(() => {});
  }
  $("preview-play").setAttribute("aria-label", "Stop the preview");
  $("preview-play").firstElementChild.textContent = "■";
  const started = performance.now();
  const tick = () => {
    const t = hasAudio ? previewAudio.currentTime : (performance.now() - started) / 1000;
    $("scrub-fill").style.width = `${total ? Math.min(100, (100 * t) / total) : 0}%`;
    $("preview-time").textContent = `${clock(t)} / ${clock(total)}`;
    if (t >= total || (hasAudio && previewAudio.ended)) {
      stopPreview();
      return;
    }
    previewRaf = requestAnimationFrame(tick);
  };
  previewRaf = requestAnimationFrame(tick);
}


/** Offer the API's sync modes (`{choices, default}`), the API's default selected. */
export function fillSyncModes(option) {
  const select = $("sync-mode");
  select.replaceChildren(...option.choices.map(v => new Option(SYNC_LABELS[v] ?? plainLabel(v), v)));
  select.value = option.default ?? option.choices[0];
  updatePreview();
}

/** Connect the player to the functions that return the current video and audio choice. */
export function initPreview(videoGetter, audioGetter) {
  getVideo = videoGetter;
  getAudio = audioGetter;
  $("sync-mode").addEventListener("change", updatePreview);
  $("preview-play").addEventListener("click", playPreview);
}
