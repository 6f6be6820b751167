"""The sync v2 request body: loose parsing, strict validation, mapping onto GenerateOptions.

Clients send what sync's SDKs send: camelCase at the top, snake_case inside ``options``, nulls for
"absent", nested fields as JSON strings in multipart forms, unknown keys from newer clients. We
accept all of that and refuse only what is wrong, with sync's error codes and a message per
problem. Pure functions, no FastAPI: the job runner uses :func:`to_generate_options` too.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, InvalidOptions
from ..options import Emotion, GenerateOptions, ModelMode, SyncMode
from ..storage import MAX_NAME_BYTES

#: Models this server accepts → ModelInfo fields. lipsync-* are served by lips mode.
MODELS: dict[str, dict[str, str]] = {
    "react-1": {"name": "react-1", "type": "react", "version": "1",
                "description": "Re-performs lips, facial expression (prompt) and head motion (model_mode)."},
    "lipsync-2": {"name": "lipsync-2", "type": "lipsync", "version": "2",
                  "description": "Lip-sync only; served by reperform's lips mode."},
    "lipsync-2-pro": {"name": "lipsync-2-pro", "type": "lipsync", "version": "2-pro",
                      "description": "Alias of lipsync-2 (lips mode)."},
}
#: react-1's edit modes, advertised on /v2/models.
REACT_MODES = [m.value for m in ModelMode]
#: sync's limit on a TTS script (characters).
MAX_SCRIPT_CHARS = 5000
#: sync allows 255 characters, but the name becomes the file ``<name>.mp4`` in the store, and a file
#: name holds at most 255 bytes: so 251 — longer names would fail only after the whole job ran.
MAX_OUTPUT_FILE_NAME = MAX_NAME_BYTES - len(".mp4")
#: Matched with ``fullmatch`` (``$`` would let a trailing newline through into the file name).
OUTPUT_FILE_NAME_RE = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_OUTPUT_FILE_NAME}}}")
#: Deepest nesting a JSON body may have. Real bodies nest 4 deep; the limit keeps every later
#: recursive walk (the JSON column, response rendering) far from Python's recursion limit.
MAX_JSON_DEPTH = 32
#: Price used by /v2/analyze/cost, USD per output second (an estimate; self-hosted runs are free).
PRICE_PER_S_USD = {"react-1": 0.05, "lipsync-2": 0.05, "lipsync-2-pro": 0.083}
#: Legacy and not-yet-used option keys: accepted and ignored, as sync does for old clients.
IGNORED_OPTION_KEYS = frozenset({"active_speaker_detection", "occlusion_detection_enabled", "pads", "speedup",
                                 "output_format", "fps", "output_resolution", "active_speaker"})


class WireError(InputError):
    """A request the API refuses synchronously: carries the HTTP status, sync code and messages."""

    def __init__(self, message: str, code: str = "generation_input_validation_failed", status: int = 400,
                 messages: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = status
        self.messages = messages or [message]


@dataclass
class GenerateRequest:
    """A validated create request, normalised to what the job row stores."""

    model: str
    input: list[dict[str, Any]]
    options: dict[str, Any] | None
    segments: list[Any] | None
    webhook_url: str | None
    output_file_name: str | None
    problems: list[str] = field(default_factory=list)

    def job_fields(self) -> dict[str, Any]:
        return {"model": self.model, "input": self.input, "options": self.options, "segments": self.segments,
                "webhook_url": self.webhook_url, "output_file_name": self.output_file_name}


class _NonFinite(Exception):  # noqa: N818 - internal signal, never leaves strict_loads
    """A NaN or infinite number met while parsing."""


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)  # "1e400" parses to inf without ever being spelled "Infinity"
    if not math.isfinite(value):
        raise _NonFinite(text[:40])
    return value


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def strict_loads(data: bytes | str, what: str = "the body") -> Any:
    """Parse JSON the way the wire needs it, or raise :class:`WireError` (400), never anything else.

    Python's parser accepts things a request must not carry: ``NaN``/``Infinity`` (and ``1e400``,
    which overflows to infinity) would be stored, then break every later response of that job,
    since responses are strict JSON. Its failures — invalid UTF-8, nesting deeper than the
    recursion limit, integers over the 4300-digit conversion limit — raise exceptions that are
    not ``JSONDecodeError`` and would otherwise surface as 500s.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise WireError(f"{what} is not valid UTF-8") from None
    except _NonFinite as exc:
        raise WireError(f"{what} holds a non-finite number ({exc.args[0]}); only finite numbers are "
                        f"allowed") from None
    except json.JSONDecodeError as exc:
        raise WireError(f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise WireError(f"{what} is nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    except ValueError as exc:  # an integer too long to convert, and anything else the parser refuses
        raise WireError(f"{what} holds a value that cannot be read: {str(exc)[:120]}") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise WireError(f"{what} is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    return value


def loads_maybe(value: Any, what: str) -> Any:
    """Multipart forms carry nested objects as JSON strings; JSON bodies carry them as objects."""
    if isinstance(value, str):
        return strict_loads(value, what)
    return value


def _check_url(url: Any, where: str, problems: list[str]) -> None:
    if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
        problems.append(f"{where}.url must be an http(s) URL")


def _check_input(items: Any, problems: list[str]) -> list[dict[str, Any]]:
    if items is None:
        raise WireError("input is required: one video and one audio (or text) item",
                        code="generation_video_missing")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise WireError("input must be an array of objects")
    videos = [i for i in items if i.get("type") in ("video", "image")]
    audios = [i for i in items if i.get("type") in ("audio", "text")]
    for n, item in enumerate(items):
        kind = item.get("type")
        where = f"input[{n}]"
        if kind in ("video", "image", "audio"):
            if item.get("url") is None and not item.get("assetId"):
                problems.append(f"{where} ({kind}) needs a url or an assetId")
            elif item.get("url") is not None:
                _check_url(item["url"], where, problems)
        elif kind == "text":
            provider = item.get("provider")
            if not isinstance(provider, dict) or not isinstance(provider.get("script"), str) \
                    or not provider["script"].strip():
                problems.append(f"{where} (text) needs provider.script")
            elif len(provider["script"]) >= MAX_SCRIPT_CHARS:
                raise WireError(f"{where}: the script must be under {MAX_SCRIPT_CHARS} characters",
                                code="generation_text_length_exceeded")
        else:
            problems.append(f"{where}.type must be one of video, audio, text")
    if not videos:
        raise WireError("input has no video item", code="generation_video_missing")
    if not audios:
        raise WireError("input has no audio or text item", code="generation_audio_missing")
    if len(videos) > 1:
        problems.append("input must hold exactly one video item")
    return [{k: v for k, v in item.items() if v is not None} for item in items]


def _check_options(model: str, options: Any, problems: list[str]) -> dict[str, Any] | None:
    if options is None:
        return None
    if not isinstance(options, dict):
        raise WireError("options must be an object")
    opts = {k: v for k, v in options.items() if v is not None}
    enums = {"sync_mode": SyncMode, "model_mode": ModelMode, "prompt": Emotion}
    for key, enum in enums.items():
        if key in opts and opts[key] not in [e.value for e in enum]:
            problems.append(f"options.{key} must be one of {', '.join(e.value for e in enum)}")
    if "temperature" in opts:
        t = opts["temperature"]
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0.0 <= float(t) <= 1.0:
            problems.append("options.temperature must be a number between 0 and 1")
    return opts


def parse_generate(body: Any) -> GenerateRequest:
    """Validate a create body (JSON or decoded multipart); raises :class:`WireError` with every problem."""
    if not isinstance(body, dict):
        raise WireError("the request body must be a JSON object")
    problems: list[str] = []
    model = body.get("model")
    if model not in MODELS:
        raise WireError(f"model must be one of {', '.join(MODELS)}; got {model!r}",
                        code="generation_unsupported_model")
    items = _check_input(loads_maybe(body.get("input"), "input"), problems)
    options = _check_options(model, loads_maybe(body.get("options"), "options"), problems)
    segments = loads_maybe(body.get("segments"), "segments")
    if segments:
        problems.append("segments are not supported by this server yet; send one audio for the whole video")
    webhook = body.get("webhookUrl")
    if webhook is not None and (not isinstance(webhook, str) or not re.match(r"^https?://[^\s/]+", webhook)):
        problems.append("webhookUrl must be an http(s) URL")
    name = body.get("outputFileName")
    if name is not None and (not isinstance(name, str) or not OUTPUT_FILE_NAME_RE.fullmatch(name)):
        problems.append(f"outputFileName may only hold letters, digits, '_' and '-' "
                        f"(1 to {MAX_OUTPUT_FILE_NAME} of them)")
    if problems:
        raise WireError("; ".join(problems), messages=problems)
    request = GenerateRequest(model=model, input=items, options=options, segments=segments or None,
                              webhook_url=webhook, output_file_name=name)
    to_generate_options(request.model, request.options, text=None)  # last check: the engine's own rules
    return request


def to_generate_options(model: str, options: dict[str, Any] | None, *, text: str | None) -> GenerateOptions:
    """Wire options → engine options. lipsync models always run lips mode and ignore react-only keys."""
    opts = options or {}
    react = MODELS.get(model, {}).get("type") == "react"
    try:
        return GenerateOptions.parse(
            mode=opts.get("model_mode") if react else ModelMode.lips,
            emotion=opts.get("prompt") if react else None,
            temperature=opts.get("temperature"),
            sync_mode=opts.get("sync_mode"),
            text=text,
        )
    except InvalidOptions as exc:
        raise WireError(exc.message) from None


def text_script(items: list[dict[str, Any]]) -> tuple[str, str | None] | None:
    """``(script, voiceId)`` of the first text item, if the audio is to be synthesised."""
    for item in items:
        if item.get("type") == "text":
            provider = item.get("provider") or {}
            return provider.get("script", ""), provider.get("voiceId")
    return None


def model_list() -> list[dict[str, Any]]:
    out = []
    for model_id, info in MODELS.items():
        entry: dict[str, Any] = {"id": model_id, **info}
        if info["type"] == "react":
            entry["modes"] = REACT_MODES
        out.append(entry)
    return out
