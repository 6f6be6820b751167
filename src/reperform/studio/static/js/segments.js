// Segments: spans of the video that each speak their own voice (an uploaded audio or typed text),
// with their own mode and emotion (sync's top-level `segments` with `optionsOverride`). Outside every
// segment the video stays as filmed, with its own sound. The rules (overlaps, times, refIds, one mode)
// are the server's: its 400s name the segment (`segments[i]`), and the message is shown on that row.

import { plainLabel } from "./options.js";
import { armSegmentPick, cancelSegmentPick } from "./speaker.js";
import { $ } from "./util.js";

const DEFAULT_SPAN_S = 2.0; // length of a new segment, before the person adjusts it
const MAX_SEGMENTS = 8; // the server takes up to 8 uploaded audios per request (audio:<refId> fields)

let rows = []; // [{el, file, face}] in display order; face: a clicked {frame_number, coordinates} or null
let choices = { modes: [], emotions: [] };
let getVideo = () => null;
let onChange = () => {};

const refOf = i => `s${i + 1}`;

export function segmentsActive() {
  return rows.length > 0;
}

function select(className, label, values) {
  const el = document.createElement("select");
  el.className = className;
  el.setAttribute("aria-label", label);
  el.append(new Option("Same as above", ""), ...values.map(v => new Option(plainLabel(v), v)));
  return el;
}

function field(labelText, control) {
  const label = document.createElement("label");
  label.className = "segment-field";
  const span = document.createElement("span");
  span.textContent = labelText;
  label.append(span, control);
  return label;
}

function numberInput(className, value) {
  const el = document.createElement("input");
  Object.assign(el, { type: "number", min: "0", step: "0.1", className, value: value.toFixed(1) });
  el.addEventListener("input", () => drawTimeline());
  return el;
}

/** One segment's row: times, voice (file or text), mode, emotion, its problem line. */
function makeRow(start, end) {
  const row = { el: document.createElement("li"), file: null, face: null };
  row.el.className = "segment";
  const head = document.createElement("div");
  head.className = "segment-head";
  const title = document.createElement("strong");
  title.className = "segment-title";
  const remove = document.createElement("button");
  Object.assign(remove, { type: "button", className: "btn btn-small btn-ghost segment-remove", textContent: "Remove" });
  remove.addEventListener("click", () => {
    if (row.el.classList.contains("picking")) cancelSegmentPick();
    rows = rows.filter(r => r !== row);
    row.el.remove();
    renumber();
  });
  head.append(title, remove);

  const times = document.createElement("div");
  times.className = "segment-row";
  times.append(field("Start (s)", numberInput("seg-start", start)), field("End (s)", numberInput("seg-end", end)));

  const voice = document.createElement("div");
  voice.className = "segment-row";
  const kind = document.createElement("select");
  kind.className = "seg-kind";
  kind.append(new Option("Audio file", "file"), new Option("Typed text", "text"));
  const file = document.createElement("input");
  Object.assign(file, { type: "file", accept: "audio/*,video/*", className: "seg-audio" });
  file.addEventListener("change", () => {
    row.file = file.files[0] || null;
  });
  const text = document.createElement("textarea");
  Object.assign(text, { rows: 2, maxLength: 4999, className: "seg-text", hidden: true,
                        placeholder: "What the person says in this segment…" });
  kind.addEventListener("change", () => {
    file.hidden = kind.value !== "file";
    text.hidden = kind.value !== "text";
  });
  voice.append(field("Voice", kind), file, text);

  const direction = document.createElement("div");
  direction.className = "segment-row";
  direction.append(field("Mode", select("seg-mode", "Mode of this segment", choices.modes)),
                   field("Emotion", select("seg-emotion", "Emotion of this segment", choices.emotions)));

  row.el.append(head, times, voice, direction, faceRow(row));
  const problem = document.createElement("p");
  problem.className = "notice error segment-problem";
  problem.setAttribute("role", "alert");
  problem.hidden = true;
  row.el.append(problem);
  return row;
}

/** Whom this segment edits: the request's choice, who speaks, or a face clicked on the preview
 * (sync's `optionsOverride.active_speaker_detection`) — how one request dubs a conversation. */
function faceRow(row) {
  const line = document.createElement("div");
  line.className = "segment-row segment-face";
  const choice = document.createElement("select");
  choice.className = "seg-speaker";
  choice.setAttribute("aria-label", "Face this segment edits");
  choice.append(new Option("Same as above", ""), new Option("Who speaks", "auto"), new Option("Clicked face", "pick"));
  const button = document.createElement("button");
  Object.assign(button, { type: "button", className: "btn btn-small seg-pick", textContent: "Pick on preview", hidden: true });
  const readout = document.createElement("span");
  readout.className = "hint seg-face-readout";
  readout.setAttribute("aria-live", "polite");
  const describe = () => {
    const picking = row.el.classList.contains("picking");
    button.hidden = choice.value !== "pick";
    button.textContent = picking ? "Cancel" : row.face ? "Pick again" : "Pick on preview";
    if (choice.value !== "pick") readout.textContent = "";
    else if (picking) readout.textContent = "Click this segment's face on the preview (pause it on a frame where it shows).";
    else if (row.face) {
      const [x, y] = row.face.coordinates;
      readout.textContent = `Frame ${row.face.frame_number} at (${Math.round(x)}, ${Math.round(y)}).`;
    } else readout.textContent = "No face picked yet.";
  };
  const arm = () => {
    row.el.classList.add("picking");
    describe();
    armSegmentPick(face => {
      row.el.classList.remove("picking");
      row.face = face;
      const problem = row.el.querySelector(".segment-problem"); // "click this segment's face" is answered
      problem.hidden = true;
      problem.textContent = "";
      describe();
    }, () => {
      row.el.classList.remove("picking");
      describe();
    });
  };
  choice.addEventListener("change", () => {
    if (choice.value === "pick" && !row.face) arm();
    else if (choice.value !== "pick" && row.el.classList.contains("picking")) cancelSegmentPick();
    describe();
  });
  button.addEventListener("click", () => (row.el.classList.contains("picking") ? cancelSegmentPick() : arm()));
  row.forget = () => {
    row.face = null;
    describe();
  };
  line.append(field("Face", choice), button, readout);
  return line;
}

function renumber() {
  rows.forEach((r, i) => {
    r.el.dataset.index = String(i);
    r.el.querySelector(".segment-title").textContent = `Segment ${i + 1}`;
    r.el.setAttribute("aria-label", `Segment ${i + 1}`);
  });
  $("segment-add").disabled = rows.length >= MAX_SEGMENTS;
  $("segments-timeline").hidden = rows.length === 0;
  drawTimeline();
  onChange();
}

function times(row) {
  return [Number(row.el.querySelector(".seg-start").value), Number(row.el.querySelector(".seg-end").value)];
}

/** The segments as blocks on a bar the length of the video (a picture of the numbers, not a control). */
function drawTimeline() {
  const bar = $("segments-timeline");
  bar.replaceChildren();
  const v = getVideo();
  const total = v && Number.isFinite(v.duration) ? v.duration : Math.max(1, ...rows.map(r => times(r)[1] || 0));
  rows.forEach((r, i) => {
    const [a, b] = times(r);
    if (!(b > a)) return;
    const block = document.createElement("span");
    block.className = "segment-block";
    block.style.left = `${Math.max(0, Math.min(100, (100 * a) / total))}%`;
    block.style.width = `${Math.max(0, Math.min(100, (100 * (Math.min(b, total) - a)) / total))}%`;
    block.textContent = String(i + 1);
    bar.append(block);
  });
}

function addSegment() {
  const v = getVideo();
  const total = v && Number.isFinite(v.duration) ? v.duration : null;
  const last = rows.length ? times(rows[rows.length - 1])[1] : 0;
  const start = Math.round((rows.length ? last + 0.2 : 0) * 10) / 10;
  const end = Math.round((total ? Math.min(total, start + DEFAULT_SPAN_S) : start + DEFAULT_SPAN_S) * 10) / 10;
  const row = makeRow(start, end);
  rows.push(row);
  $("segments-list").append(row.el);
  renumber();
  row.el.querySelector(".seg-start").focus();
}

/** Clear every row's problem, then show `problems` ([{index, text}]) on their rows. */
export function showSegmentProblems(problems) {
  rows.forEach(r => {
    const p = r.el.querySelector(".segment-problem");
    p.hidden = true;
    p.textContent = "";
  });
  for (const { index, text } of problems) {
    const p = rows[index]?.el.querySelector(".segment-problem");
    if (!p) continue;
    p.textContent = p.textContent ? `${p.textContent} ${text}` : text;
    p.hidden = false;
  }
}

/** The server's sentences that name a segment (`segments[i]`), as row problems; [] when none does. */
export function problemsFromServer(detail) {
  const out = [];
  for (const sentence of String(detail || "").split(/;\s+|\n/)) {
    const named = new Set([...sentence.matchAll(/segments\[(\d+)\]/g)].map(m => Number(m[1])));
    for (const index of named) out.push({ index, text: sentence.trim() });
  }
  return out;
}

/**
 * The request's parts for the segments: `segments` (wire form), the typed-text `items`, the audio
 * `files` by upload field (`audio:<refId>`), and `problems` found before asking the server.
 */
export function buildSegments(intensity) {
  const segments = [];
  const items = [];
  const files = {};
  const problems = [];
  rows.forEach((r, i) => {
    const [startTime, endTime] = times(r);
    const refId = refOf(i);
    if (!Number.isFinite(startTime) || !Number.isFinite(endTime) || !(endTime > startTime)) {
      problems.push({ index: i, text: "Give a start and an end, the end after the start." });
    }
    const kind = r.el.querySelector(".seg-kind").value;
    const script = r.el.querySelector(".seg-text").value.trim();
    if (kind === "file" && r.file) files[`audio:${refId}`] = r.file;
    else if (kind === "text" && script) {
      items.push({ type: "text", refId, provider: { name: "espeak", voiceId: $("tts-voice").value, script } });
    } else problems.push({ index: i, text: kind === "file" ? "Choose an audio file for this segment." : "Type what is said in this segment." });
    const override = {};
    const mode = r.el.querySelector(".seg-mode").value;
    const emotion = r.el.querySelector(".seg-emotion").value;
    if (mode) override.model_mode = mode;
    if (emotion) Object.assign(override, { prompt: emotion, temperature: intensity });
    const face = r.el.querySelector(".seg-speaker").value;
    if (face === "auto") override.active_speaker_detection = { auto_detect: true };
    else if (face === "pick" && r.face) override.active_speaker_detection = r.face;
    else if (face === "pick") problems.push({ index: i, text: "Click this segment's face on the preview (Pick on preview)." });
    const seg = { startTime, endTime, audioInput: { refId } };
    if (Object.keys(override).length) seg.optionsOverride = override;
    segments.push(seg);
  });
  return { segments, items, files, problems };
}

/** Offer the API's modes and emotions in each row; call `changed` when segments come or go. */
export function initSegments(videoGetter, options, changed) {
  getVideo = videoGetter;
  onChange = changed;
  choices = { modes: options.model_mode.choices || [], emotions: options.prompt.choices || [] };
  $("segment-add").disabled = false;
  $("segment-add").addEventListener("click", addSegment);
}

/** A new video: faces clicked for segments pointed at the old one. */
export function forgetSegmentFaces() {
  for (const r of rows) r.forget();
}

/** Redraw the timeline (the video, and so its length, changed). */
export function refreshSegments() {
  drawTimeline();
}
