// reperform Studio: wires the page to the public /v2 API.
// Sections: key · inputs · preview & lengths · direction (model, mode, wheel) · generate & progress · history.

import {
  ApiError, TERMINAL, createClient, generationProblem, loadKey, plainWords, saveKey, takeKeyFromAddress,
} from "./api.js";
import { createCompare } from "./compare.js";
import { initHistory, refreshHistory } from "./history.js";
import { loadOptions, plainLabel } from "./options.js";
import { fillSyncModes, initPreview, updatePreview } from "./preview.js";
import { percentOf, setSteps, stageWords } from "./progress.js";
import {
  buildSegments, forgetSegmentFaces, initSegments, problemsFromServer, refreshSegments, segmentsActive,
  showSegmentProblems,
} from "./segments.js";
import { initSpeaker, resetSpeaker, speakerOption, speakerProblem, speakerRefusal } from "./speaker.js";
import { $, describeOptions, formatSeconds, showNotice } from "./util.js";
import { createWheel } from "./wheel.js";

const POLL_MS = 1000; // how often a running generation is re-read; the server work takes seconds per clip
const POLL_RETRY_MAX_MS = 8000; // back-off ceiling while the server is unreachable
const TTS_WORDS_PER_S = 2.7; // espeak-ng's default 175 words/min, used only to estimate typed text's length

// Words for the modes the API offers (which ones, and the default, come from the API).
const MODE_HELP = {
  lips: "Lips: only the mouth, lips and jaw follow the new audio; the rest of the face stays as filmed.",
  face: "Face: lip-sync plus facial expression — brows, eyes and cheeks follow the emotion you pick.",
  head: "Head: everything in Face, plus natural head motion driven by the rhythm and stress of the voice.",
};

// ---- state -------------------------------------------------------------------------------------------

const state = {
  key: "",
  videoSource: "file",
  audioSource: "file",
  videoFile: null, // {file, url, isImage, duration, name, unreadable}
  audioFile: null, // {file, url, duration, name, unreadable}
  videoAsset: null, // {asset, url, isImage, duration, name}
  audioAsset: null,
  assets: new Map(), // id → asset, for "before" views of older generations
  options: null, // the API's generation options (js/options.js); the form is built from them
  mode: null,
  emotion: null,
  intensity: null,
  job: null, // {id, before, timer, startedAt, failures}
};

const api = createClient(() => state.key);

function currentVideo() {
  return state.videoSource === "file" ? state.videoFile : state.videoAsset;
}

function currentAudio() {
  if (state.audioSource === "text") {
    const script = $("tts-text").value.trim();
    if (!script) return null;
    const words = script.split(/\s+/).length;
    return { text: script, voice: $("tts-voice").value, duration: words / TTS_WORDS_PER_S, estimated: true };
  }
  return state.audioSource === "file" ? state.audioFile : state.audioAsset;
}

/** The face changed: forget a clicked face, redraw the segments' timeline. */
function videoChanged() {
  resetSpeaker();
  forgetSegmentFaces();
  refreshSegments();
}

/** Segments came or went: with segments, they give the voice and the output keeps the video's length. */
function segmentsChanged() {
  const on = segmentsActive();
  $("voice-note").hidden = !on;
  $("sync-mode").disabled = on;
  $("sync-help").textContent = on ? "With segments the result keeps the video's length." : "";
  if (!on) updatePreview();
}

function looksLikeImage(file) {
  return file.type.startsWith("image/") || /\.(jpe?g|png|webp|bmp|gif|heic)$/i.test(file.name);
}

// ---- key ---------------------------------------------------------------------------------------------

async function connect() {
  const status = $("key-status");
  status.className = "key-status";
  if (!state.key) {
    status.textContent = "Enter your API key to start.";
    $("history-status").textContent = "Enter your API key to see your generations.";
    return;
  }
  status.textContent = "Checking…";
  try {
    const models = await api.models();
    status.textContent = "Key accepted";
    status.classList.add("ok");
    fillModels(models);
    await Promise.all([loadAssets(), refreshHistory()]);
  } catch (err) {
    const p = plainWords(err);
    status.textContent = err.status === 401 ? "Key not accepted" : p.text;
    status.classList.add("bad");
    $("history-status").textContent = p.text;
  }
}

$("key-form").addEventListener("submit", ev => {
  ev.preventDefault();
  state.key = $("api-key").value.trim();
  saveKey(state.key);
  showNotice($("generate-problems"), null);
  connect();
});

// ---- models, assets ----------------------------------------------------------------------------------

function fillModels(models) {
  const select = $("model");
  const previous = select.value || "react-1";
  select.replaceChildren();
  for (const m of models || []) {
    const o = document.createElement("option");
    o.value = m.id || m.name;
    o.textContent = m.name && m.name !== o.value ? `${m.name} (${o.value})` : o.value;
    o.dataset.description = m.description || "";
    o.dataset.type = m.type || "";
    select.append(o);
  }
  if (!select.options.length) {
    const o = document.createElement("option");
    o.value = "react-1";
    o.textContent = "react-1";
    select.append(o);
  }
  const wanted = [...select.options].find(o => o.value === previous) || [...select.options].find(o => o.value === "react-1");
  if (wanted) select.value = wanted.value;
  describeModel();
}

function describeModel() {
  const o = $("model").selectedOptions[0];
  $("model-help").textContent = o ? o.dataset.description || "" : "";
}
$("model").addEventListener("change", describeModel);

function assetLabel(a) {
  const kind = (a.type || "").toLowerCase();
  const len = a.durationSeconds ? ` · ${Number(a.durationSeconds).toFixed(1)} s` : "";
  const when = a.createdAt ? ` · ${new Date(a.createdAt).toLocaleString()}` : "";
  return `${a.name || a.id} (${kind}${len})${when}`;
}

async function loadAssets() {
  let page;
  try {
    page = await api.assets();
  } catch (err) {
    for (const id of ["video-asset", "audio-asset"]) {
      $(id).replaceChildren(new Option(`— could not load: ${plainWords(err).text} —`, ""));
    }
    return;
  }
  const items = Array.isArray(page) ? page : page.items || [];
  state.assets = new Map(items.map(a => [a.id, a]));
  const fill = (id, types, empty) => {
    const select = $(id);
    const keep = select.value;
    select.replaceChildren(new Option(empty, ""));
    for (const a of items.filter(a => types.includes(String(a.type).toUpperCase()))) {
      select.append(new Option(assetLabel(a), a.id));
    }
    if ([...select.options].some(o => o.value === keep)) select.value = keep;
  };
  fill("video-asset", ["VIDEO", "IMAGE"], items.length ? "— choose a video or photo —" : "— nothing uploaded yet —");
  fill("audio-asset", ["AUDIO"], items.length ? "— choose an audio —" : "— nothing uploaded yet —");
}

function pickAsset(kind) {
  const id = $(`${kind}-asset`).value;
  const a = state.assets.get(id);
  const picked = a
    ? {
        asset: a,
        url: a.url,
        isImage: String(a.type).toUpperCase() === "IMAGE",
        duration: a.durationSeconds ?? null,
        name: a.name || a.id,
      }
    : null;
  if (kind === "video") state.videoAsset = picked;
  else state.audioAsset = picked;
  updatePreview();
  if (kind === "video") videoChanged();
}
$("video-asset").addEventListener("change", () => pickAsset("video"));
$("audio-asset").addEventListener("change", () => pickAsset("audio"));

// ---- inputs ------------------------------------------------------------------------------------------

function bindSourceTabs(fieldsetId, name, onChange) {
  const fs = $(fieldsetId);
  for (const radio of fs.querySelectorAll(`input[name="${name}"]`)) {
    radio.addEventListener("change", () => {
      if (!radio.checked) return;
      for (const pane of fs.querySelectorAll(".source-pane")) pane.hidden = pane.dataset.pane !== radio.value;
      onChange(radio.value);
    });
  }
}
bindSourceTabs("video-source", "video-src", v => {
  state.videoSource = v;
  updatePreview();
  videoChanged();
});
bindSourceTabs("audio-source", "audio-src", v => {
  state.audioSource = v;
  updatePreview();
});

/** Read a local file's duration through a throwaway media element (no upload needed to preview). */
function probeLocal(url, tag) {
  return new Promise(resolve => {
    const el = document.createElement(tag);
    el.preload = "metadata";
    el.muted = true;
    el.onloadedmetadata = () => resolve({ duration: Number.isFinite(el.duration) ? el.duration : null, unreadable: false });
    el.onerror = () => resolve({ duration: null, unreadable: true });
    el.src = url;
  });
}

// A chosen file counts at once (Generate works straight away); its length arrives a moment later.
async function takeVideoFile(file) {
  if (state.videoFile) URL.revokeObjectURL(state.videoFile.url);
  if (!file) {
    state.videoFile = null;
    $("video-file-name").textContent = "";
    updatePreview();
    videoChanged();
    return;
  }
  const isImage = looksLikeImage(file);
  const chosen = { file, isImage, name: file.name, url: URL.createObjectURL(file), duration: null, unreadable: false };
  state.videoFile = chosen;
  $("video-file-name").textContent = file.name;
  updatePreview();
  videoChanged();
  if (isImage) {
    $("video-file-name").textContent = `${file.name} (photo)`;
    return;
  }
  const info = await probeLocal(chosen.url, "video");
  if (state.videoFile !== chosen) return; // another file was chosen meanwhile
  Object.assign(chosen, info);
  $("video-file-name").textContent = info.unreadable
    ? `${file.name} — this browser cannot preview it; the server will check it when you generate.`
    : `${file.name} · ${formatSeconds(info.duration)}`;
  updatePreview();
  refreshSegments(); // the timeline is the video's length, known now
}

async function takeAudioFile(file) {
  if (state.audioFile) URL.revokeObjectURL(state.audioFile.url);
  if (!file) {
    state.audioFile = null;
    $("audio-file-name").textContent = "";
    updatePreview();
    return;
  }
  const chosen = { file, name: file.name, url: URL.createObjectURL(file), duration: null, unreadable: false };
  state.audioFile = chosen;
  $("audio-file-name").textContent = file.name;
  updatePreview();
  const info = await probeLocal(chosen.url, "audio");
  if (state.audioFile !== chosen) return;
  Object.assign(chosen, info);
  $("audio-file-name").textContent = info.unreadable
    ? `${file.name} — this browser cannot play it; the server will check it when you generate.`
    : `${file.name} · ${formatSeconds(info.duration)}`;
  updatePreview();
}

$("video-file").addEventListener("change", ev => takeVideoFile(ev.target.files[0] || null));
$("audio-file").addEventListener("change", ev => takeAudioFile(ev.target.files[0] || null));
$("tts-text").addEventListener("input", () => updatePreview());
$("tts-voice").addEventListener("change", () => updatePreview());

for (const [zoneInput, take] of [
  ["video-file", takeVideoFile],
  ["audio-file", takeAudioFile],
]) {
  const zone = $(zoneInput).closest(".dropzone");
  zone.addEventListener("dragover", ev => {
    ev.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", ev => {
    ev.preventDefault();
    zone.classList.remove("dragging");
    const file = ev.dataTransfer.files[0];
    if (file) take(file);
  });
}

// ---- direction: mode and emotion ---------------------------------------------------------------------

function updateMode() {
  const checked = document.querySelector('input[name="mode"]:checked');
  if (!checked) return; // the modes arrive with the API's options
  state.mode = checked.value;
  const lipsOnly = state.mode === "lips";
  $("mode-help").textContent = MODE_HELP[state.mode] ?? "";
  // Below the wheel, so the note never moves the wheel under the pointer.
  $("wheel-note").textContent =
    lipsOnly && state.emotion ? "Lips mode keeps the filmed expression: pick Face or Head to apply the emotion." : "";
}
/** The mode buttons: one per mode the API offers, its default checked. */
function fillModes(option) {
  const group = $("mode-group");
  group.replaceChildren();
  for (const value of option.choices) {
    const label = document.createElement("label");
    const radio = document.createElement("input");
    Object.assign(radio, { type: "radio", name: "mode", value, checked: value === option.default });
    radio.setAttribute("aria-describedby", "mode-help");
    radio.addEventListener("change", updateMode);
    const text = document.createElement("span");
    text.textContent = plainLabel(value);
    label.append(radio, text);
    group.append(label);
  }
  if (!group.querySelector("input:checked")) group.querySelector("input").checked = true;
  updateMode();
}

/** Build the direction controls from the options the API accepts. */
async function initOptions() {
  try {
    state.options = await loadOptions();
  } catch (err) {
    showNotice($("generate-problems"), {
      text: "The server's generation options could not be read: reload the page to try again.",
      detail: String(err && err.message ? err.message : err),
    });
    return;
  }
  const o = state.options;
  fillModes(o.model_mode);
  fillSyncModes(o.sync_mode);
  if (o.occlusion_detection_enabled) {
    $("occlusion").checked = Boolean(o.occlusion_detection_enabled.default);
    $("occlusion-help").textContent = "Hands, microphones and other things in front of the lower face stay as filmed; " +
      "the mouth is edited around them (takes a little longer).";
    $("occlusion-field").hidden = false;
  }
  initSegments(currentVideo, o, segmentsChanged);
  const wheelChoices = { emotions: o.prompt.choices, intensity: o.temperature };
  createWheel($("emotion-wheel"), $("intensity"), $("wheel-readout"), wheelChoices, ({ emotion, intensity }) => {
    state.emotion = emotion;
    state.intensity = intensity;
    updateMode();
  });
}

// ---- generate ----------------------------------------------------------------------------------------

function buildRequest() {
  const v = currentVideo();
  const segmented = segmentsActive();
  const a = segmented ? null : currentAudio();
  const missing = [];
  if (!state.key) missing.push("enter your API key at the top");
  if (!v) missing.push("choose a video or photo");
  if (!a && !segmented) missing.push(state.audioSource === "text" ? "type the text to speak" : "choose an audio");
  if (!state.options) missing.push("wait until the options have loaded (reload the page if they do not)");
  const speakerMissing = v ? speakerProblem() : null;
  if (speakerMissing) missing.push(speakerMissing);
  if (missing.length) return { problem: { text: `Before generating, ${missing.join(", ")}.`, detail: "" } };

  const options = { model_mode: state.mode };
  if (!segmented) options.sync_mode = $("sync-mode").value;
  if (!$("occlusion-field").hidden) options.occlusion_detection_enabled = $("occlusion").checked;
  const speaker = speakerOption();
  if (speaker) options.active_speaker_detection = speaker;
  if (state.emotion) {
    options.prompt = state.emotion;
    options.temperature = state.intensity;
  }
  const model = $("model").value || "react-1";
  const input = [];
  const files = {};
  if (state.videoSource === "file") files.video = v.file;
  else input.push({ type: v.isImage ? "image" : "video", assetId: v.asset.id });
  let segments = null;
  if (segmented) {
    const built = buildSegments(state.intensity);
    showSegmentProblems(built.problems);
    if (built.problems.length) return { problem: { text: "Some segments are not complete: see the notes on them.", detail: "" } };
    segments = built.segments;
    input.push(...built.items);
    Object.assign(files, built.files);
  } else if (a.text) input.push({ type: "text", provider: { name: "espeak", voiceId: a.voice, script: a.text } });
  else if (state.audioSource === "file") files.audio = a.file;
  else input.push({ type: "audio", assetId: a.asset.id });

  const before = { url: v.url, isImage: v.isImage };
  if (!Object.keys(files).length) {
    return { payload: { model, input, options, ...(segments ? { segments } : {}) }, before };
  }
  const form = new FormData();
  form.append("model", model);
  for (const [field, file] of Object.entries(files)) form.append(field, file, file.name);
  if (input.length) form.append("input", JSON.stringify(input));
  form.append("options", JSON.stringify(options));
  if (segments) form.append("segments", JSON.stringify(segments));
  return { payload: form, before };
}

$("generate").addEventListener("click", async () => {
  const problems = $("generate-problems");
  const { payload, before, problem } = buildRequest();
  if (problem) {
    showNotice(problems, problem);
    return;
  }
  showNotice(problems, null);
  const button = $("generate");
  button.disabled = true;
  button.textContent = "Uploading…";
  try {
    const gen = await api.generate(payload);
    startJob(gen, before);
    loadAssets(); // the uploads are now assets to pick from next time
  } catch (err) {
    const named = err.status === 400 && segmentsActive() ? problemsFromServer(err.detail) : [];
    showSegmentProblems(named);
    const speaker = err.status === 400 ? speakerRefusal(err.detail) : null;
    if (named.length) showNotice(problems, { text: "The server did not accept some segments: see the notes on them.", detail: "" });
    else if (speaker) showNotice(problems, { text: speaker, detail: err.detail });
    else showNotice(problems, plainWords(err));
    if (err instanceof ApiError && err.status === 401) {
      $("key-status").textContent = "Key not accepted";
      $("key-status").className = "key-status bad";
    }
  } finally {
    button.disabled = false;
    button.textContent = "Generate";
  }
});

function startJob(gen, before) {
  if (state.job && state.job.timer) clearTimeout(state.job.timer);
  state.job = { id: gen.id, before, timer: 0, startedAt: Date.now(), failures: 0, lastStatus: "" };
  $("job").hidden = false;
  $("job").dataset.id = gen.id;
  $("result-empty").hidden = true;
  $("compare").hidden = true;
  showNotice($("job-error"), null);
  renderJob(gen);
  $("result-panel").scrollIntoView({ behavior: "smooth", block: "nearest" });
  poll();
}

function renderJob(gen) {
  const status = gen.status;
  const bar = $("job-progress");
  const phase = $("job-phase");
  const percent = $("job-percent");
  setSteps(status);
  $("job").dataset.status = status;
  let phaseText = "";
  let percentText = "";
  if (status === "PENDING") {
    bar.removeAttribute("value");
    phaseText = "Queued — waiting for a worker…";
  } else if (status === "PROCESSING") {
    const pct = percentOf(gen);
    const words = stageWords(gen);
    if (pct === null) bar.removeAttribute("value");
    else bar.value = pct;
    phaseText = `Processing${words ? ` — ${words}` : ""}${pct === null ? "…" : ""}`;
    percentText = pct === null ? "" : ` · ${Math.round(pct)}%`;
  } else if (status === "COMPLETED") {
    bar.value = 100;
    const took = Math.round((Date.now() - state.job.startedAt) / 1000);
    phaseText = `Done${gen.outputDuration ? ` — ${Number(gen.outputDuration).toFixed(1)} s of video` : ""}, made in ${took} s.`;
    showResult(gen, state.job.before);
  } else {
    bar.value = 0;
    phaseText = status === "REJECTED" ? "Refused." : "Failed.";
    showNotice($("job-error"), generationProblem(gen));
    showSegmentProblems(segmentsActive() ? problemsFromServer(gen.error) : []); // e.g. a segment past the video's end
  }
  // Only touch the live region when the phase changes, so screen readers are not flooded every second.
  if (phase.textContent !== phaseText) phase.textContent = phaseText;
  percent.textContent = percentText;
}

async function poll() {
  const job = state.job;
  if (!job) return;
  let gen;
  try {
    gen = await api.generation(job.id);
    job.failures = 0;
  } catch (err) {
    if (state.job !== job) return;
    job.failures += 1;
    const wait = Math.min(POLL_RETRY_MAX_MS, POLL_MS * 2 ** job.failures);
    $("job-phase").textContent = `${plainWords(err).text} Retrying…`;
    job.timer = setTimeout(poll, wait);
    return;
  }
  if (state.job !== job) return; // a newer generation replaced this one
  renderJob(gen);
  if (TERMINAL.has(gen.status)) {
    refreshHistory();
    return;
  }
  job.timer = setTimeout(poll, POLL_MS);
}

// ---- result ------------------------------------------------------------------------------------------

const compare = createCompare({
  stage: $("compare-stage"),
  beforeVideo: $("before-video"),
  beforeImage: $("before-image"),
  after: $("result-video"),
  wipe: $("wipe"),
  wipeControl: $("wipe-control"),
  viewRadios: document.querySelectorAll('input[name="compare-view"]'),
});

function showResult(gen, before) {
  if (!gen.outputUrl) return;
  $("job").hidden = state.job?.id !== gen.id;
  $("result-empty").hidden = true;
  $("compare").hidden = false;
  compare.show(gen.outputUrl, before);
  const link = $("download");
  link.href = gen.outputUrl;
  link.setAttribute("download", `reperform-${gen.id}.mp4`);
  $("result-meta").textContent = [gen.model, describeOptions(gen.options)].filter(Boolean).join(" · ");
  showWarnings(gen.warnings);
}

/** The engine's notes on a finished generation (a reperform extension of the Generation object;
 * absent from other servers' responses, so a missing field shows nothing). */
function showWarnings(warnings) {
  const notes = Array.isArray(warnings) ? warnings.filter(w => typeof w === "string" && w) : [];
  const list = $("result-warnings-list");
  list.replaceChildren(...notes.map(w => {
    const li = document.createElement("li");
    li.textContent = w.charAt(0).toUpperCase() + w.slice(1);
    return li;
  }));
  $("result-warnings").hidden = notes.length === 0;
}

/** The original video of a past generation, from its echoed input (a URL, or an asset we know). */
function beforeOf(gen) {
  const item = (gen.input || []).find(i => i.type === "video" || i.type === "image");
  if (!item) return null;
  const url = item.url || state.assets.get(item.assetId)?.url;
  const asset = item.assetId ? state.assets.get(item.assetId) : null;
  const isImage = item.type === "image" || String(asset?.type).toUpperCase() === "IMAGE";
  return url ? { url, isImage } : null;
}

$("history-refresh").addEventListener("click", () => {
  loadAssets();
  refreshHistory();
});

// ---- start -------------------------------------------------------------------------------------------

initPreview(currentVideo, currentAudio);
initSpeaker(currentVideo);
initHistory(api, () => Boolean(state.key), gen => {
  showResult(gen, beforeOf(gen));
  $("result-panel").scrollIntoView({ behavior: "smooth", block: "start" });
});

const given = takeKeyFromAddress(); // `reperform studio` signs the page in through the address
if (given) saveKey(given);
state.key = given || loadKey();
$("api-key").value = state.key;
updatePreview();
initOptions();
connect();
