// The history list: this key's generations with status, settings and failures in plain words.

import { generationProblem, plainWords } from "./api.js";
import { $, describeOptions } from "./util.js";

const HISTORY_LIMIT = 30; // items shown; older ones stay available through the API

let hooks = { api: null, hasKey: () => false, onCompare: () => {} };

/** Connect the list to the API client, a key check and what "Compare" should do. */
export function initHistory(api, hasKey, onCompare) {
  hooks = { api, hasKey, onCompare };
}

/** Re-read this key's generations and redraw the list, newest first. */
export async function refreshHistory() {
  const list = $("history-list");
  const status = $("history-status");
  if (!hooks.hasKey()) return;
  let gens;
  try {
    gens = await hooks.api.generations();
  } catch (err) {
    status.textContent = plainWords(err).text;
    return;
  }
  gens = (gens || []).slice().sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
  status.textContent = gens.length
    ? `${gens.length} generation${gens.length === 1 ? "" : "s"} with this key${gens.length > HISTORY_LIMIT ? `, newest ${HISTORY_LIMIT} shown` : ""}.`
    : "No generations yet with this key.";
  list.replaceChildren(...gens.slice(0, HISTORY_LIMIT).map(historyItem));
}

function historyItem(gen) {
  const li = document.createElement("li");
  li.className = "history-item";
  li.dataset.id = gen.id;
  li.dataset.status = gen.status;

  const top = document.createElement("div");
  top.className = "history-top";
  const badge = document.createElement("span");
  badge.className = `badge ${gen.status}`;
  badge.textContent = { PENDING: "queued", PROCESSING: "processing", COMPLETED: "done" }[gen.status] || gen.status.toLowerCase();
  const when = document.createElement("time");
  when.className = "history-when";
  if (gen.createdAt) {
    when.dateTime = gen.createdAt;
    when.textContent = new Date(gen.createdAt).toLocaleString();
  }
  top.append(badge, when);

  const what = document.createElement("div");
  what.className = "history-what";
  what.textContent =
    [gen.model, describeOptions(gen.options), gen.outputDuration ? `${Number(gen.outputDuration).toFixed(1)} s` : ""]
      .filter(Boolean)
      .join(" · ");
  li.append(top, what);

  if (gen.status === "FAILED" || gen.status === "REJECTED") {
    const p = generationProblem(gen);
    const err = document.createElement("div");
    err.className = "history-error";
    err.textContent = p.detail ? `${p.text} (${p.detail})` : p.text;
    li.append(err);
  }
  const notes = Array.isArray(gen.warnings) ? gen.warnings.filter(w => typeof w === "string" && w) : [];
  if (gen.status === "COMPLETED" && notes.length) {
    const warn = document.createElement("div");
    warn.className = "history-warnings";
    warn.textContent = `Note: ${notes.join("; ")}`;
    li.append(warn);
  }
  if (gen.status === "COMPLETED" && gen.outputUrl) {
    const actions = document.createElement("div");
    actions.className = "history-actions";
    const show = document.createElement("button");
    show.type = "button";
    show.className = "btn btn-small";
    show.textContent = "Compare";
    show.setAttribute("aria-label", `Compare the result from ${when.textContent || gen.id} with its original`);
    show.addEventListener("click", () => hooks.onCompare(gen));
    const dl = document.createElement("a");
    dl.className = "btn btn-small btn-ghost";
    dl.href = gen.outputUrl;
    dl.setAttribute("download", `reperform-${gen.id}.mp4`);
    dl.textContent = "Download";
    dl.setAttribute("aria-label", `Download the result from ${when.textContent || gen.id}`);
    actions.append(show, dl);
    li.append(actions);
  }
  return li;
}
