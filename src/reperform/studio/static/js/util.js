// Small shared helpers: element lookup, time formatting, notices.

import { plainLabel } from "./options.js";

export const $ = id => document.getElementById(id);

export function formatSeconds(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "—";
  return `${s.toFixed(1)} s`;
}

export function clock(s) {
  if (!Number.isFinite(s)) s = 0;
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
}

/** Show a plain-words problem ({text, detail}) in a notice element, or hide it with null. */
export function showNotice(el, problem) {
  el.replaceChildren();
  if (!problem) {
    el.hidden = true;
    return;
  }
  const main = document.createElement("strong");
  main.textContent = problem.text;
  el.append(main);
  if (problem.detail) {
    const d = document.createElement("span");
    d.className = "detail";
    d.textContent = `Server said: ${problem.detail}`;
    el.append(d);
  }
  el.hidden = false;
}

/** One line describing a generation's options, e.g. "head mode · Surprised 0.70 · cut off". */
export function describeOptions(o) {
  if (!o) return "";
  const parts = [];
  if (o.model_mode) parts.push(`${o.model_mode} mode`);
  if (o.prompt) {
    const label = plainLabel(o.prompt);
    parts.push(o.temperature !== undefined && o.temperature !== null ? `${label} ${Number(o.temperature).toFixed(2)}` : label);
  }
  if (o.sync_mode) parts.push(o.sync_mode.replace("_", " "));
  return parts.join(" · ");
}
