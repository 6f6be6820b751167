// How a generation's progress is shown: the three steps, the bar's percentage and the stage in words.

import { TERMINAL } from "./api.js";

/** Stage names a server may report, in words. Unknown stages are shown as sent. */
const STAGE_WORDS = {
  queued: "waiting for a worker",
  probe: "reading the files",
  tts: "speaking the text",
  analyze: "studying the face and the speech",
  analysis: "studying the face and the speech",
  face: "tracking the face",
  speech: "listening to the speech",
  plan: "planning the performance",
  motion: "planning the performance",
  render: "rendering frames",
  encode: "encoding the video",
  done: "finishing",
};

/** Mark Queued / Processing / Done (or Failed) for a generation status. */
export function setSteps(status) {
  const order = ["queued", "processing", "done"];
  const at = { PENDING: 0, PROCESSING: 1, COMPLETED: 2 }[status];
  const failed = TERMINAL.has(status) && status !== "COMPLETED";
  for (const li of document.querySelectorAll(".steps li")) {
    const i = order.indexOf(li.dataset.step);
    li.classList.toggle("done", at !== undefined && (i < at || (status === "COMPLETED" && i === at)));
    li.classList.toggle("failed", failed && i === 2);
    if (!failed && i === at && status !== "COMPLETED") li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
  }
  const done = document.querySelector('.steps li[data-step="done"]');
  done.textContent = failed ? "Failed" : "Done";
}

/** Progress as 0..100, or null when the server does not report it. */
export function percentOf(gen) {
  const raw = gen.progress_percent ?? gen.progressPercent ?? gen.progress;
  if (raw === null || raw === undefined || raw === "" || !Number.isFinite(Number(raw))) return null;
  const n = Number(raw);
  return Math.max(0, Math.min(100, n <= 1 ? n * 100 : n));
}

/** The stage in words, or "" when the server does not say. */
export function stageWords(gen) {
  const stage = gen.stage || gen.progressStage || "";
  return STAGE_WORDS[stage] || stage.replace(/_/g, " ");
}
