// The emotion wheel: the API's emotions around a circle, "none (follow the video)" at the centre.
// Angle picks the emotion, distance from the centre sets the intensity (sync's `temperature`).
//
// Built as an ARIA radiogroup of real buttons with a roving tabindex, so it is one Tab stop:
// arrow keys walk around the wheel, + / − change intensity, Home (or 0) returns to the centre.

import { plainLabel } from "./options.js";

/**
 * Where an emotion sits, clockwise from the top: pleasant and aroused ones apart from unpleasant and
 * calm ones (a circumplex). Which emotions there are comes from the API; one the page has no place
 * for goes after these.
 */
const PLACEMENT = ["happy", "surprised", "angry", "disgusted", "sad", "neutral"];

/** The API's emotions (sync's `prompt` words) in wheel order, with their labels. */
function arrange(values) {
  const rank = v => (PLACEMENT.includes(v) ? PLACEMENT.indexOf(v) : PLACEMENT.length);
  return [...values].sort((a, b) => rank(a) - rank(b)).map(value => ({ value, label: plainLabel(value) }));
}

const CENTRE_FRACTION = 0.36; // radius of the "none" disc as a share of the wheel's radius (the CSS button is 36% of the wheel wide)
const LABEL_FRACTION = 1.24; // emotion names sit just outside the ring, so the thumb never covers them
const INTENSITY_STEP = 0.1; // one + / − key press

const round2 = x => Math.round(x * 100) / 100;

/** Words for an intensity, by where it lies between the lowest (0) and the highest (1). */
function describeIntensity(t) {
  if (t < 0.25) return "subtle";
  if (t < 0.5) return "mild";
  if (t < 0.75) return "clear";
  return "strong";
}

/**
 * Render the wheel into `root` (the element with role="radiogroup").
 * `intensityInput` is an <input type=range> kept in step with the wheel, for people who prefer a slider.
 * `choices` are the API's: `{emotions, intensity: {default, minimum, maximum}}`.
 * `onChange({emotion, intensity})` fires on every change; emotion is null for the centre.
 */
export function createWheel(root, intensityInput, readout, choices, onChange) {
  const EMOTIONS = arrange(choices.emotions);
  const SECTOR_DEG = 360 / EMOTIONS.length;
  const low = choices.intensity.minimum ?? 0;
  const high = choices.intensity.maximum ?? 1;
  const clamp = x => Math.min(high, Math.max(low, x));
  const words = t => describeIntensity((t - low) / (high - low));
  intensityInput.min = String(low);
  intensityInput.max = String(high);
  let emotion = null;
  let intensity = choices.intensity.default;
  const buttons = new Map();

  const centre = document.createElement("button");
  centre.type = "button";
  centre.className = "wheel-option centre";
  centre.setAttribute("role", "radio");
  centre.dataset.emotion = "";
  centre.setAttribute("aria-label", "None — follow the video's own expression");
  centre.innerHTML = '<span>none</span><small>follow video</small>';
  root.append(centre);
  buttons.set(null, centre);

  EMOTIONS.forEach((e, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "wheel-option";
    b.setAttribute("role", "radio");
    b.dataset.emotion = e.value;
    b.setAttribute("aria-label", e.label);
    b.textContent = e.label;
    b.style.setProperty("--dot", `var(--emo-${e.value})`);
    const a = (i * SECTOR_DEG * Math.PI) / 180;
    b.style.left = `${50 + 50 * LABEL_FRACTION * Math.sin(a)}%`;
    b.style.top = `${50 - 50 * LABEL_FRACTION * Math.cos(a)}%`;
    root.append(b);
    buttons.set(e.value, b);
  });

  const thumb = document.createElement("div");
  thumb.className = "wheel-thumb";
  thumb.setAttribute("aria-hidden", "true");
  root.append(thumb);

  function render(announce) {
    for (const [value, b] of buttons) {
      const on = value === emotion;
      b.setAttribute("aria-checked", String(on));
      b.tabIndex = on ? 0 : -1;
    }
    let x = 50;
    let y = 50;
    if (emotion) {
      const i = EMOTIONS.findIndex(e => e.value === emotion);
      const a = (i * SECTOR_DEG * Math.PI) / 180;
      const r = CENTRE_FRACTION + ((intensity - low) / (high - low)) * (1 - CENTRE_FRACTION);
      x = 50 + 50 * r * Math.sin(a);
      y = 50 - 50 * r * Math.cos(a);
    }
    thumb.hidden = !emotion; // at the centre the "none" button itself shows the choice
    thumb.style.left = `${x}%`;
    thumb.style.top = `${y}%`;
    intensityInput.value = String(intensity);
    intensityInput.disabled = !emotion;
    intensityInput.setAttribute("aria-valuetext", `${intensity.toFixed(2)} (${words(intensity)})`);
    root.dataset.emotion = emotion || "";
    root.dataset.intensity = intensity.toFixed(2);
    const text = emotion
      ? `${EMOTIONS.find(e => e.value === emotion).label} · intensity ${intensity.toFixed(2)} (${words(intensity)})`
      : "None — follows the video";
    if (announce !== false) readout.textContent = text;
    onChange({ emotion, intensity });
  }

  function set(nextEmotion, nextIntensity = intensity, focus = false) {
    emotion = nextEmotion || null;
    intensity = round2(clamp(nextIntensity));
    render();
    if (focus) buttons.get(emotion).focus();
  }

  function step(direction) {
    const n = EMOTIONS.length;
    let i = EMOTIONS.findIndex(e => e.value === emotion);
    if (i < 0) i = direction > 0 ? -1 : 0; // from the centre: → goes to the first, ← to the last
    set(EMOTIONS[(i + direction + n) % n].value, intensity, true);
  }

  function nudge(delta) {
    if (!emotion) {
      readout.textContent = "Pick an emotion first: intensity applies to an emotion.";
      return;
    }
    set(emotion, intensity + delta, true);
  }

  root.addEventListener("keydown", ev => {
    switch (ev.key) {
      case "ArrowRight":
      case "ArrowDown":
        step(1);
        break;
      case "ArrowLeft":
      case "ArrowUp":
        step(-1);
        break;
      case "+":
      case "=":
      case "PageUp":
        nudge(INTENSITY_STEP);
        break;
      case "-":
      case "_":
      case "−":
      case "PageDown":
        nudge(-INTENSITY_STEP);
        break;
      case "Home":
      case "0":
        set(null, intensity, true);
        break;
      case "End":
        if (emotion) set(emotion, high, true);
        break;
      default:
        return;
    }
    ev.preventDefault();
  });

  // Pointer: a click on a name picks that emotion at the current intensity; a click or drag on the
  // coloured ring picks the emotion under the pointer and the intensity from its distance.
  function fromPoint(ev) {
    const box = root.getBoundingClientRect();
    const dx = ev.clientX - (box.left + box.width / 2);
    const dy = ev.clientY - (box.top + box.height / 2);
    const radius = box.width / 2;
    const d = Math.hypot(dx, dy) / radius;
    if (d < CENTRE_FRACTION) {
      set(null, intensity, true);
      return;
    }
    let deg = (Math.atan2(dx, -dy) * 180) / Math.PI; // clockwise from the top
    if (deg < 0) deg += 360;
    const i = Math.round(deg / SECTOR_DEG) % EMOTIONS.length;
    set(EMOTIONS[i].value, low + ((d - CENTRE_FRACTION) / (1 - CENTRE_FRACTION)) * (high - low), true);
  }

  root.addEventListener("pointerdown", ev => {
    const option = ev.target.closest(".wheel-option:not(.centre)");
    if (option) {
      ev.preventDefault();
      set(option.dataset.emotion || null, intensity, true);
      return;
    }
    // The centre button is handled by geometry too: its box is square, the "none" disc is round.
    ev.preventDefault();
    root.setPointerCapture(ev.pointerId);
    root.classList.add("dragging");
    readout.setAttribute("aria-live", "off"); // announce where the drag ends, not every step of it
    fromPoint(ev);
  });
  root.addEventListener("pointermove", ev => {
    if (root.hasPointerCapture(ev.pointerId)) fromPoint(ev);
  });
  const endDrag = ev => {
    if (root.hasPointerCapture(ev.pointerId)) root.releasePointerCapture(ev.pointerId);
    if (!root.classList.contains("dragging")) return;
    root.classList.remove("dragging");
    readout.setAttribute("aria-live", "polite");
    const text = readout.textContent;
    readout.textContent = "";
    readout.textContent = text;
  };
  root.addEventListener("pointerup", endDrag);
  root.addEventListener("pointercancel", endDrag);
  // Buttons still get keyboard "click" (Enter/Space): make that select too.
  root.addEventListener("click", ev => {
    const option = ev.target.closest(".wheel-option");
    if (option && ev.detail === 0) set(option.dataset.emotion || null, intensity, true);
  });

  intensityInput.addEventListener("input", () => {
    if (emotion) set(emotion, Number(intensityInput.value));
  });

  render(true);
  return {
    get: () => ({ emotion, intensity }),
    set,
  };
}
