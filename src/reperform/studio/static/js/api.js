// Thin client for the public sync-compatible /v2 API, plus plain-language error messages.
// The Studio deliberately uses no private endpoints: whatever it can do, any API client can do.

const KEY_STORAGE = "reperform.studio.apiKey";

/** An API failure with the HTTP status, the sync error code and the server's own message. */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.code = code || "";
    this.detail = detail || "";
  }
}

export function loadKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return ""; // storage disabled (private mode): the key lives only in the field
  }
}

/**
 * The key `reperform studio` put in the address's fragment (`#key=...`), removed from the address bar
 * at once so it is not bookmarked, shared or left in the history; null when there is none.
 * A fragment is never sent to the server, so the key reaches no request line, log or Referer.
 */
export function takeKeyFromAddress() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const key = params.get("key");
  if (key === null) return null;
  params.delete("key");
  const rest = params.toString();
  window.history.replaceState(window.history.state, "", window.location.pathname + window.location.search +
    (rest ? `#${rest}` : ""));
  return key.trim();
}

export function saveKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage disabled: nothing to persist */
  }
}

/** Read the error body the server sends (NestJS style) into an ApiError. */
async function errorFromResponse(response) {
  let body = null;
  let text = "";
  try {
    text = await response.text();
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (body && typeof body === "object") {
    let message = body.message ?? body.detail ?? body.error ?? "";
    if (Array.isArray(message)) message = message.map(m => (typeof m === "string" ? m : m.msg || JSON.stringify(m))).join("; ");
    else if (typeof message === "object") message = JSON.stringify(message);
    const code = body.errorCode || body.error_code || body.code || "";
    return new ApiError(response.status, code, String(message));
  }
  return new ApiError(response.status, "", text.slice(0, 300));
}

/**
 * Create a client bound to a function that returns the current key, so a key change
 * takes effect on the next call without rebuilding anything.
 */
export function createClient(getKey, base = "") {
  async function request(method, path, { json, form, query } = {}) {
    const url = new URL(base + path, window.location.origin);
    if (query) {
      for (const [name, value] of Object.entries(query)) {
        if (value === undefined || value === null) continue;
        for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(v));
      }
    }
    const headers = { "x-api-key": getKey() };
    let body;
    if (json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form; // the browser sets the multipart boundary itself
    }
    let response;
    try {
      response = await fetch(url, { method, headers, body });
    } catch (err) {
      throw new ApiError(0, "network", String(err && err.message ? err.message : err));
    }
    if (!response.ok) throw await errorFromResponse(response);
    if (response.status === 204) return null;
    return response.json();
  }

  return {
    models: () => request("GET", "/v2/models"),
    assets: types => request("GET", "/v2/assets", { query: { types, limit: 100, sortBy: "dateDesc" } }),
    generate: payload =>
      payload instanceof FormData
        ? request("POST", "/v2/generate", { form: payload })
        : request("POST", "/v2/generate", { json: payload }),
    generation: id => request("GET", `/v2/generate/${encodeURIComponent(id)}`, { query: { include: "progress" } }),
    generations: () => request("GET", "/v2/generations"),
  };
}

export const TERMINAL = new Set(["COMPLETED", "FAILED", "REJECTED", "CANCELED", "TIMED_OUT"]);

// One sentence per sync error code, written for the person using the page rather than a developer.
const PLAIN_WORDS = {
  unauthorized: "That API key was not accepted. Check it, or create one on the server with “reperform keys create”.",
  network: "Cannot reach the reperform server. Is “reperform serve” still running?",
  generation_unsupported_media:
    "One of the files could not be read as a video, photo or audio. Try an MP4, MOV or WebM video, a JPG or PNG photo, and a WAV, MP3 or FLAC audio.",
  generation_media_metadata_missing: "One of the files has no usable length or frame rate, so it cannot be used.",
  generation_video_missing: "Choose a video or a photo of the face first.",
  generation_audio_missing: "Choose an audio file or type some text for the voice first.",
  generation_no_face_detected: "No face was found in the video. Use a clip where one face is clearly visible.",
  generation_mode_not_implemented: "This mode is not available on this server yet. Choose another mode (Lips works everywhere).",
  generation_audio_length_exceeded: "The audio is too long for this server.",
  generation_text_length_exceeded: "The text is too long to speak. Shorten it and try again.",
  generation_unsupported_model: "This server does not offer that model. Pick one from the list.",
  generation_input_validation_failed: "Some of the settings were not accepted.",
  generation_input_video_inaccessible: "The video could not be fetched.",
  generation_input_audio_inaccessible: "The audio could not be fetched.",
  generation_engine_failed: "The engine stopped with an error while rendering this one.",
  generation_output_not_writable: "The server could not save the result. Check its disk space and data folder.",
  generation_failed: "The generation failed.",
  rate_limit_exceeded: "Too many requests at once. Wait a moment and try again.",
  concurrency_limit_reached: "Too many generations are running for this key. Wait for one to finish.",
  file_size_exceeds_plan_limit: "That file is too large for this server.",
};

/** A sentence a person can act on, plus the server's own words as detail (or "" if they add nothing). */
export function plainWords(error) {
  const status = error.status ?? 0;
  let code = error.code || "";
  if (!code && status === 401) code = "unauthorized";
  if (!code && status === 413) code = "file_size_exceeds_plan_limit";
  if (!code && status === 429) code = "rate_limit_exceeded";
  const detail = (error.detail || error.message || "").trim();
  let text = PLAIN_WORDS[code];
  if (!text) {
    if (status >= 500) text = "The server ran into a problem.";
    else if (status === 404) text = "The server does not know that item (it may have been removed).";
    else text = detail || "Something went wrong.";
  }
  const sameAsText = !detail || detail === text || /^HTTP \d+$/.test(detail);
  return { text, detail: sameAsText ? "" : detail, code };
}

/** Plain words for a generation's own failure (FAILED/REJECTED record rather than an HTTP error). */
export function generationProblem(gen) {
  const code = gen.errorCode || gen.error_code || "";
  const detail = gen.error || "";
  if (gen.status === "REJECTED" && !code) {
    return { text: "The server refused this request.", detail, code };
  }
  return plainWords({ status: 200, code: code || (gen.status === "FAILED" ? "generation_failed" : ""), detail });
}
