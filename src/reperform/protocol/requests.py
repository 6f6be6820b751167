"""The sync v2 create request as pydantic models, and its mapping onto the engine's options.

Clients send what sync's SDKs send: camelCase at the top, snake_case inside ``options``, nulls for
"absent", nested fields as JSON strings in multipart forms, unknown keys from newer clients. We
accept all of that and refuse only what is wrong, with sync's error codes and a message per
problem.

The models are the one description of a valid request: :func:`parse_generate` validates with
them and the OpenAPI document shows their JSON schema. The ``options`` model is not written here
at all: :data:`GenerationOptions` is generated from :class:`reperform.options.GenerateOptions`
(types, choices, defaults, bounds, descriptions), under the wire names of :data:`WIRE_OPTIONS`.
"""

from __future__ import annotations

import re
from copy import copy
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from ..errors import InvalidOptions
from ..options import GenerateOptions, Segment, segments_from
from ..storage import MAX_NAME_BYTES
from .catalog import MODELS
from .errors import WireError
from .strictjson import loads_maybe, strict_loads

#: Engine options sync's ``options`` object carries: wire name → :class:`GenerateOptions` field.
WIRE_OPTIONS: dict[str, str] = {"model_mode": "mode", "prompt": "emotion", "temperature": "temperature",
                                "sync_mode": "sync_mode", "active_speaker_detection": "active_speaker",
                                "occlusion_detection_enabled": "occlusion"}
#: Options only react models honour: lipsync models run their one mode (see :mod:`.catalog`).
REACT_ONLY_OPTIONS = frozenset({"model_mode", "prompt"})
#: sync's limit on a TTS script (characters): a script must be shorter than this.
MAX_SCRIPT_CHARS = 5000
#: sync allows 255 characters, but the name becomes the file ``<name>.mp4`` in the store, and a file
#: name holds at most 255 bytes: so 251 — longer names would fail only after the whole job ran.
MAX_OUTPUT_FILE_NAME = MAX_NAME_BYTES - len(".mp4")
#: ``$`` is the end of the text in pydantic's (Rust) regex, not "before a final newline" as in
#: Python's, so a trailing newline cannot slip into the file name.
OUTPUT_FILE_NAME_PATTERN = rf"^[A-Za-z0-9_-]{{1,{MAX_OUTPUT_FILE_NAME}}}$"
URL_PATTERN = r"^https?://[^\s/]+"
#: What a value refused by a pattern should have looked like, for the error message.
PATTERN_WORDS = {URL_PATTERN: "must be an http(s) URL",
                 OUTPUT_FILE_NAME_PATTERN: f"may only hold letters, digits, '_' and '-' "
                                           f"(1 to {MAX_OUTPUT_FILE_NAME} of them)"}
#: Lines a batch file may hold (sync allows 20–500; smaller batches are accepted too, for testing).
MAX_BATCH_LINES = 500
#: Size of a batch file.
MAX_BATCH_BYTES = 5 * 1024 * 1024

HttpUrl = Annotated[str, Field(pattern=URL_PATTERN, description="an http(s) URL")]


def _wire_options_model() -> type[BaseModel]:
    """sync's ``options`` object, field by field from :class:`GenerateOptions`.

    Each field keeps the engine's type, choices, default, bounds and description; on the wire
    it may also be null (= absent: the engine's default applies). Numbers must be JSON numbers
    (``"0.5"`` and ``true`` are refused, as sync's API does), so they are validated strictly.
    """
    fields: dict[str, Any] = {}
    for wire, name in WIRE_OPTIONS.items():
        engine = GenerateOptions.model_fields[name]
        annotation: Any = engine.annotation
        if annotation in (float, bool):
            annotation = Annotated[annotation, Strict()]
        info = copy(engine)
        if wire in REACT_ONLY_OPTIONS:
            info.description = f"{engine.description}; honoured by react models only (lipsync models run lips mode)"
        fields[wire] = (annotation | None, info)
    return create_model(
        "GenerationOptions",
        __config__=ConfigDict(extra="allow"),
        __doc__="Options of a generation (snake_case, as sync sends them). Generated from the engine's "
                "GenerateOptions; legacy and unknown keys are accepted and ignored.",
        **fields,
    )


GenerationOptions: type[BaseModel] = _wire_options_model()


class _Item(BaseModel):
    # Items are echoed back as sent, so keys we do not know (segments_secs, refId, ...) are kept.
    model_config = ConfigDict(extra="allow")


class MediaItem(_Item):
    """A video (``image``: a still picture) or an audio input, by URL or by an uploaded asset's id."""

    type: Literal["video", "image", "audio"]
    url: HttpUrl | None = None
    assetId: str | None = None  # noqa: N815 - wire name

    @model_validator(mode="after")
    def _url_or_asset(self) -> MediaItem:
        if self.url is None and not self.assetId:
            raise PydanticCustomError("url_or_asset", "needs a url or an assetId")
        return self


class TtsProvider(BaseModel):
    """Text to speak. Spoken offline with espeak-ng whatever the provider ``name`` says."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    script: Annotated[str, Field(min_length=1, max_length=MAX_SCRIPT_CHARS - 1)]
    voiceId: str | None = Field(None, description="an espeak-ng voice, e.g. en-us (the default)")  # noqa: N815

    @field_validator("script")
    @classmethod
    def _not_blank(cls, script: str) -> str:
        if not script.strip():
            raise PydanticCustomError("blank_script", "must hold some text")
        return script


class TextItem(_Item):
    """Speech to synthesise instead of an audio input."""

    type: Literal["text"]
    provider: TtsProvider


InputItem = Annotated[MediaItem | TextItem, Discriminator("type")]
#: ``type`` values of :data:`InputItem`, for messages.
INPUT_TYPES = ("video", "image", "audio", "text")
ModelName = Literal[tuple(MODELS)]  # type: ignore[valid-type]


class GenerateBody(BaseModel):
    """``POST /v2/generate`` (and ``/v2/analyze/cost``) as JSON: one video and one audio (or text)."""

    model_config = ConfigDict(extra="allow")  # newer clients send keys such as projectId: ignored

    model: ModelName
    input: list[InputItem] = Field(description="exactly one video (or image) item and one audio or text item")
    options: GenerationOptions | None = None  # type: ignore[valid-type]
    segments: list[dict[str, Any]] | None = Field(
        None, description="spans of the video that each speak their own audio: [{startTime, endTime, audioInput: "
                          "{refId, startTime?, endTime?}, optionsOverride?: {model_mode?, prompt?, temperature?, "
                          "active_speaker_detection? (a point or auto_detect: whom this segment edits)}}] (seconds); every audio or text input then carries a refId. The video outside every "
                          "segment is left as filmed, with its own sound")
    webhookUrl: HttpUrl | None = None  # noqa: N815 - wire name
    outputFileName: Annotated[str, Field(pattern=OUTPUT_FILE_NAME_PATTERN)] | None = Field(  # noqa: N815
        None, description="base name of the output file; .mp4 is appended")

    @field_validator("input", mode="before")
    @classmethod
    def _one_video_and_one_audio(cls, items: Any) -> Any:
        """The media that must be there, checked before the items themselves: their absence has its
        own sync codes (and a wrong item does not hide that the video is missing)."""
        if items is None:
            raise PydanticCustomError("video_missing", "is required: one video and one audio (or text) item")
        if isinstance(items, list) and all(isinstance(i, dict) for i in items):
            kinds = [i.get("type") for i in items]
            if not any(k in ("video", "image") for k in kinds):
                raise PydanticCustomError("video_missing", "has no video item")
            if not any(k in ("audio", "text") for k in kinds):
                raise PydanticCustomError("audio_missing", "has no audio or text item")
            if sum(k in ("video", "image") for k in kinds) > 1:
                raise PydanticCustomError("one_video", "must hold exactly one video item")
        return items



#: Form field → the input type an upload in it becomes.
UPLOAD_FIELDS = {"video": "video", "image": "video", "audio": "audio"}


class GenerateForm(GenerateBody):
    """``POST /v2/generate`` as multipart/form-data: files as uploads, nested fields as JSON text.

    Each uploaded file becomes an asset and an input item; ``input`` then only holds URL inputs
    (one JSON array, or repeated fields of one JSON object each).
    """

    video: bytes | None = Field(None, description="the video or still image (its bytes decide which)")
    image: bytes | None = Field(None, description="a still image (newer sync clients); used as the video")
    audio: bytes | None = Field(None, description="the driving audio (or a video whose sound to use)")
    input: list[InputItem] | None = None  # type: ignore[assignment]


# --- errors -----------------------------------------------------------------------------------

#: Problems that have their own sync code, by the priority sync reports them with: a request
#: with several problems gets the first code that applies (and only its messages).
SPECIAL_CODES = {"unsupported_model": "generation_unsupported_model",
                 "text_length_exceeded": "generation_text_length_exceeded",
                 "video_missing": "generation_video_missing",
                 "audio_missing": "generation_audio_missing"}


def _kind(err: ErrorDetails) -> str:
    """The sync-level kind of a pydantic error (a key of :data:`SPECIAL_CODES`, or its own type)."""
    loc, kind = err["loc"], err["type"]
    if loc[:1] == ("model",):
        return "unsupported_model"
    if loc == ("input",) and kind == "missing":
        return "video_missing"
    if kind == "string_too_long" and loc[-1:] == ("script",):
        return "text_length_exceeded"
    return kind


def _where(loc: tuple[int | str, ...]) -> str:
    """``('input', 0, 'video', 'url')`` → ``input[0].url`` (a union's tag is not part of the path)."""
    out = ""
    after_index = False
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not (after_index and part in INPUT_TYPES):
            out += f".{part}" if out else str(part)
        after_index = isinstance(part, int)
    return out


def _choices(expected: str) -> str:
    return ", ".join(re.findall(r"'([^']*)'", expected)) or expected


def _message(err: ErrorDetails) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    where = _where(err["loc"])
    if _kind(err) == "unsupported_model":
        got = None if kind == "missing" else err.get("input")
        return f"model must be one of {', '.join(MODELS)}; got {got!r}"
    if kind in ("enum", "literal_error"):
        what = f"must be one of {_choices(str(ctx.get('expected', '')))}"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        where, what = f"{where}.type", f"must be one of {', '.join(INPUT_TYPES)}"
    elif kind in ("float_type", "float_parsing", "int_type"):
        what = "must be a number"
    elif kind in ("bool_type", "bool_parsing"):
        what = "must be true or false"
    elif kind in ("greater_than_equal", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("le"))
        what = f"must be {'at least' if kind == 'greater_than_equal' else 'at most'} {bound:g}"
    elif kind == "string_pattern_mismatch":
        what = PATTERN_WORDS.get(str(ctx.get("pattern")), err["msg"])
    elif kind == "string_too_long" and _kind(err) == "text_length_exceeded":
        what = f"must be under {MAX_SCRIPT_CHARS} characters"
    elif kind == "missing":
        what = "is required"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        what = "must be an object"
    elif kind in ("list_type", "tuple_type"):
        what = "must be an array"
    elif kind == "extra_forbidden":
        what = "is not a known field"
    else:
        what = err["msg"]
    return f"{where} {what}" if where else what


def wire_error(exc: ValidationError) -> WireError:
    """Every problem pydantic found, as one :class:`WireError` with sync's code."""
    errors = exc.errors()
    for kind, code in SPECIAL_CODES.items():
        messages = [_message(e) for e in errors if _kind(e) == kind]
        if messages:
            return WireError("; ".join(messages), code=code, messages=messages)
    messages = [_message(e) for e in errors]
    return WireError("; ".join(messages), messages=messages)


# --- parsing --------------------------------------------------------------------------------------

@dataclass
class GenerateRequest:
    """A validated create request, normalised to what the job row stores (as the client sent it)."""

    model: str
    input: list[dict[str, Any]]
    options: dict[str, Any] | None
    segments: list[Any] | None
    webhook_url: str | None
    output_file_name: str | None

    def job_fields(self) -> dict[str, Any]:
        return {"model": self.model, "input": self.input, "options": self.options, "segments": self.segments,
                "webhook_url": self.webhook_url, "output_file_name": self.output_file_name}


def parse_generate(body: Any) -> GenerateRequest:
    """Validate a create body (JSON, or a decoded multipart form); raises :class:`WireError` with
    every problem. What is stored is the body as sent, nulls dropped, not the models' rendering."""
    if not isinstance(body, dict):
        raise WireError("the request body must be a JSON object")
    body = {**body, **{k: loads_maybe(body.get(k), k) for k in ("input", "options", "segments") if k in body}}
    try:
        GenerateBody.model_validate(body)
    except ValidationError as exc:
        raise wire_error(exc) from None
    options = body.get("options")
    request = GenerateRequest(
        model=body["model"],
        input=[{k: v for k, v in item.items() if v is not None} for item in body["input"]],
        options={k: v for k, v in options.items() if v is not None} if options is not None else None,
        segments=body.get("segments") or None,
        webhook_url=body.get("webhookUrl"),
        output_file_name=body.get("outputFileName"),
    )
    # Last check: the engine's own rules, segments included (with the video's deprecated spans in
    # frames, the frame rate is not known before the video is probed: a job-time check then).
    to_generate_options(request.model, request.options, text=None,
                        segments=request_segments(request.model, request.input, request.segments, fps=None))
    return request


# --- segments ---------------------------------------------------------------------------------

#: Deprecated fields of the video item: spans of the video to re-perform, ``[[start, end], ...]``
#: in seconds or in frames; each span speaks the same span of the (one) audio.
DEPRECATED_SPANS = ("segments_secs", "segments_frames")
#: refId given to the one audio input of a request that uses the deprecated spans without one.
DEFAULT_REF = "audio"


def audio_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The audio and text inputs, in order."""
    return [i for i in items if i.get("type") in ("audio", "text")]


def ref_of(item: dict[str, Any]) -> str:
    """An audio or text input's refId (the default one for the single input of an unsegmented request)."""
    ref = item.get("refId")
    return ref if isinstance(ref, str) and ref else DEFAULT_REF


def request_segments(model: str, items: list[dict[str, Any]], segments: list[Any] | None, *,
                     fps: float | None) -> tuple[Segment, ...]:
    """The request's segments as the engine's: from ``segments`` (``optionsOverride`` under the
    wire's option names) or from the video item's deprecated spans; the audio inputs' refIds
    checked against them. ``fps`` converts ``segments_frames`` (None: shape checked only).
    Raises :class:`WireError` naming the segment."""
    video = next(i for i in items if i.get("type") in ("video", "image"))
    deprecated = {k: video[k] for k in DEPRECATED_SPANS if video.get(k)}
    audios = audio_items(items)
    if segments and deprecated:
        raise WireError(f"send segments or the video's deprecated {' / '.join(deprecated)}, not both")
    if deprecated:
        if len(audios) != 1:
            raise WireError(f"the video's {' / '.join(deprecated)} need exactly one audio or text input")
        segments = _spans_as_segments(deprecated, ref_of(audios[0]), fps)
    elif segments:
        _check_refs(items, segments)
    elif len(audios) > 1:
        raise WireError("several audio or text inputs need segments saying which span of the video speaks which")
    return _engine_segments(model, segments or [])


def _check_refs(items: list[dict[str, Any]], segments: list[Any]) -> None:
    audios = [(n, i) for n, i in enumerate(items) if i.get("type") in ("audio", "text")]
    refs = [a.get("refId") for _, a in audios]
    problems = [f"input[{n}].refId is required when segments are used (the {a.get('type')} input)"
                for n, a in audios if not isinstance(a.get("refId"), str) or not a.get("refId")]
    dup = sorted({r for r in refs if isinstance(r, str) and refs.count(r) > 1})
    problems += [f"refId {r!r} is given to more than one input" for r in dup]
    known = sorted(r for r in set(refs) if isinstance(r, str) and r)
    for n, seg in enumerate(segments):
        ref = (seg.get("audioInput") or {}).get("refId") if isinstance(seg, dict) else None
        if isinstance(ref, str) and ref and ref not in known:
            problems.append(f"segments[{n}].audioInput.refId {ref!r} is not the refId of any audio or text input "
                            f"(refIds: {', '.join(known) or 'none'})")
    if problems:
        raise WireError("; ".join(problems), messages=problems)


def _spans_as_segments(deprecated: dict[str, Any], ref: str, fps: float | None) -> list[dict[str, Any]]:
    """The deprecated spans as segments on the audio's own timeline (span [a, b] speaks the audio's [a, b])."""
    if len(deprecated) > 1:
        raise WireError("send the video's segments_secs or segments_frames, not both")
    ((name, spans),) = deprecated.items()
    if not isinstance(spans, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, int | float) and not isinstance(x, bool)
                                                          for x in p) for p in spans):
        raise WireError(f"input video {name} must be a list of [start, end] pairs")
    if name == "segments_frames" and not all(isinstance(x, int) for p in spans for x in p):
        raise WireError("input video segments_frames must hold whole frame numbers")
    # Frames before the frame rate is known (at parse time) are checked as they are: order and overlap.
    scale = 1.0 / fps if name == "segments_frames" and fps else 1.0
    return [{"startTime": a * scale, "endTime": b * scale, "audioInput": {"refId": ref, "startTime": a * scale,
                                                                            "endTime": b * scale}}
            for a, b in spans]


def _engine_segments(model: str, segments: list[Any]) -> tuple[Segment, ...]:
    """Wire segments → engine segments: ``optionsOverride`` keys renamed to the engine's; a
    model that runs one mode ignores react-only keys there, as it does in ``options``."""
    info = MODELS[model]
    engine_names = {engine: wire for wire, engine in WIRE_OPTIONS.items()}
    out = []
    for seg in segments:
        over = seg.get("optionsOverride") if isinstance(seg, dict) else None
        if isinstance(over, dict):
            renamed = {WIRE_OPTIONS.get(k, k): v for k, v in over.items()
                       if v is not None and (info.is_react or k not in REACT_ONLY_OPTIONS)}
            seg = {**seg, "optionsOverride": renamed}
        out.append(seg)
    try:
        return segments_from(out)
    except InvalidOptions as exc:
        message = exc.message
        for engine, wire in engine_names.items():
            for after in (":", "."):
                message = message.replace(f".optionsOverride.{engine}{after}", f".optionsOverride.{wire}{after}")
        raise WireError(message) from None


def to_generate_options(model: str, options: dict[str, Any] | None, *, text: str | None,
                        segments: tuple[Segment, ...] = ()) -> GenerateOptions:
    """Wire options (and the request's segments, see :func:`request_segments`) → engine options.
    A model that runs one mode runs it and ignores react-only keys."""
    info = MODELS.get(model)
    if info is None:
        raise WireError(f"model must be one of {', '.join(MODELS)}; got {model!r}",
                        code=SPECIAL_CODES["unsupported_model"])
    values: dict[str, Any] = {name: (options or {}).get(wire) for wire, name in WIRE_OPTIONS.items()
                              if info.is_react or wire not in REACT_ONLY_OPTIONS}
    if not info.is_react:
        values["mode"] = info.modes[0]
    try:
        return GenerateOptions.parse(**values, text=text, segments=segments)
    except InvalidOptions as exc:
        raise WireError(exc.message) from None


def text_script(items: list[dict[str, Any]]) -> tuple[str, str | None] | None:
    """``(script, voiceId)`` of the first text item, if the audio is to be synthesised."""
    for item in items:
        if item.get("type") == "text":
            provider = item.get("provider") or {}
            return provider.get("script", ""), provider.get("voiceId")
    return None


def parse_batch(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """A JSONL batch file → ``(request_id, job fields)`` per line; every line's problems at once."""
    problems: list[str] = []
    out: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("the batch file is not valid UTF-8") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise WireError("the batch file has no requests")
    if len(lines) > MAX_BATCH_LINES:
        raise WireError(f"a batch holds at most {MAX_BATCH_LINES} requests; got {len(lines)}")
    for n, line in enumerate(lines, 1):
        try:
            entry = strict_loads(line, "the line")
            if not isinstance(entry, dict):
                raise WireError("each line must be a JSON object")
            rid = entry.get("request_id")
            if not isinstance(rid, str) or not rid:
                raise WireError("request_id is required")
            if rid in seen:
                raise WireError(f"request_id {rid!r} is repeated")
            seen.add(rid)
            if entry.get("endpoint", "/v2/generate") != "/v2/generate":
                raise WireError("endpoint must be /v2/generate")
            out.append((rid, parse_generate(entry.get("payload")).job_fields()))
        except WireError as exc:
            problems.extend(f"line {n}: {m}" for m in exc.messages)
    if problems:
        raise WireError("; ".join(problems[:20]), messages=problems)
    return out
