"""Per-request options: the single home of every option, its choices, its default and its rules.

Every other surface is generated from :class:`GenerateOptions`, never written beside it: the CLI's
flags (:mod:`reperform.cli`), sync's ``options`` object on the wire and its OpenAPI schema
(:mod:`reperform.protocol.requests`), and through that schema the Studio's form.
``tests/test_options_surfaces.py`` (and the Studio's browser test) check that they agree.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .errors import InvalidOptions


class ModelMode(StrEnum):
    """Which part of the performance is rewritten."""

    lips = "lips"  # mouth, lips, jaw and chin only
    face = "face"  # lips + facial expression
    head = "head"  # face + prosody-driven head motion


class Emotion(StrEnum):
    """Target emotion (sync's ``prompt``). ``None`` in options keeps the source's own mood."""

    happy = "happy"
    angry = "angry"
    sad = "sad"
    neutral = "neutral"
    disgusted = "disgusted"
    surprised = "surprised"


class SyncMode(StrEnum):
    """How to reconcile different video and audio lengths (sync.so semantics)."""

    cut_off = "cut_off"  # output = the shorter of the two
    loop = "loop"  # video restarts until the audio ends
    bounce = "bounce"  # video plays forward, then backward, ... until the audio ends
    silence = "silence"  # output = the longer; short audio padded with silence, short video holds its last frame
    remap = "remap"  # video time-stretched to the audio's length


#: The mode used when none is given: face, as in sync.so's react-1.
DEFAULT_MODE = ModelMode.face
#: Occluder detection is off unless asked for, as in sync's API (``occlusion_detection_enabled``
#: absent = off): it costs 9-14 ms per frame at load ~13 on the shared 2-core machine (46-64 ms at
#: load ~17-20; MediaPipe's hand model is most of it), +15-17 % of a lips-mode job's time per frame —
#: not cheap enough to charge every job that has nothing in front of the mouth, and turning it on
#: would change every existing output (benchmarks/sections/segments_occlusion.md).
OCCLUSION_DEFAULT = False

#: A face box on one frame: x1, y1, x2, y2 in pixels of the displayed (rotated) video.
Box = tuple[float, float, float, float]
#: ``--speaker X,Y@FRAME`` on the command line.
_POINT_TEXT = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*,\s*(\d+(?:\.\d*)?)\s*@\s*(\d+)\s*$")


class ActiveSpeaker(BaseModel):
    """Which person to edit when the video shows several (sync's ``active_speaker_detection``).

    Exactly one form: ``auto_detect`` (in each shot, the person whose mouth moves with the video's
    own sound), a point on one frame (the face under it, followed by identity through the whole
    video, across cuts), or one box per frame (null leaves that frame as filmed). Checks that need
    the video itself (frame in range, a face under the point, one box per frame) are made when the
    video is read, and fail the job with a message naming the problem.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    auto_detect: bool | None = Field(None, description="edit, in each shot, the person who speaks in the video's "
                                                       "own sound")
    frame_number: int | None = Field(None, ge=0, description="frame (from 0) on which `coordinates` point at the "
                                                             "face to edit")
    coordinates: tuple[float, float] | None = Field(None, description="x, y in pixels on `frame_number`: the face "
                                                                      "under this point is edited through the video")
    bounding_boxes: tuple[Box | None, ...] | None = Field(
        None, description="one [x1, y1, x2, y2] box (pixels) per video frame around the face to edit; null leaves "
                          "that frame as filmed")

    @field_validator("bounding_boxes", mode="before")
    @classmethod
    def _boxes_well_formed(cls, boxes: Any) -> Any:
        """Each item null or four numbers with x1 < x2 and y1 < y2, named by its index when not."""
        if not isinstance(boxes, (list, tuple)):
            return boxes  # pydantic names the type problem
        for i, box in enumerate(boxes):
            if box is None:
                continue
            if (not isinstance(box, (list, tuple)) or len(box) != 4
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
                raise PydanticCustomError("malformed_box", "item {i} must be null or [x1, y1, x2, y2] "
                                          "(four numbers); got {box}", {"i": i, "box": repr(box)})
            if not (box[0] < box[2] and box[1] < box[3]) or min(box) < 0:
                raise PydanticCustomError("malformed_box", "item {i} must have 0 <= x1 < x2 and "
                                          "0 <= y1 < y2; got {box}", {"i": i, "box": list(box)})
        return boxes

    @model_validator(mode="after")
    def _one_form(self) -> ActiveSpeaker:
        if (self.frame_number is None) != (self.coordinates is None):
            raise PydanticCustomError("speaker_point", "frame_number and coordinates go together")
        if self.coordinates is not None and min(self.coordinates) < 0:
            raise PydanticCustomError("speaker_point", "coordinates must be at least 0")
        forms = [bool(self.auto_detect), self.coordinates is not None, self.bounding_boxes is not None]
        if sum(forms) > 1:
            raise PydanticCustomError("speaker_form", "give one of auto_detect, frame_number with coordinates, or "
                                                      "bounding_boxes")
        if self.bounding_boxes is not None and all(b is None for b in self.bounding_boxes):
            raise PydanticCustomError("speaker_boxes", "bounding_boxes holds no box")
        return self

    @property
    def kind(self) -> str | None:
        """``"auto"``, ``"point"``, ``"boxes"``, or None (``{"auto_detect": false}``: the default face)."""
        if self.auto_detect:
            return "auto"
        if self.coordinates is not None:
            return "point"
        return "boxes" if self.bounding_boxes is not None else None

    @classmethod
    def from_text(cls, text: str) -> ActiveSpeaker:
        """The command line's form: ``auto``, ``X,Y@FRAME``, or a JSON file holding the boxes (a list,
        or this object)."""
        if text.strip().lower() == "auto":
            return cls(auto_detect=True)
        point = _POINT_TEXT.match(text)
        if point:
            return cls(frame_number=int(point[3]), coordinates=(float(point[1]), float(point[2])))
        path = Path(text)
        if not path.is_file():
            raise PydanticCustomError("speaker_text", "must be auto, X,Y@FRAME or a JSON file of boxes; {text} is "
                                                      "none of these", {"text": repr(text)})
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PydanticCustomError("speaker_text", "{path} is not readable JSON: {exc}",
                                      {"path": str(path), "exc": str(exc)}) from None
        return cls(**data) if isinstance(data, dict) else cls(bounding_boxes=data)


class SegmentAudio(BaseModel):
    """Which audio a segment speaks: an audio input by its ``refId``, optionally cropped.

    Field names are the engine's; the aliases are sync's wire keys, so the wire's
    ``{"refId", "startTime", "endTime"}`` object validates here unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    ref_id: str = Field(alias="refId", min_length=1, description="refId of the audio (or text) input to speak")
    start_s: float | None = Field(None, alias="startTime", ge=0.0, description="crop start in that audio, s")
    end_s: float | None = Field(None, alias="endTime", gt=0.0, description="crop end in that audio, s")

    @model_validator(mode="after")
    def _crop_is_a_pair(self) -> SegmentAudio:
        if (self.start_s is None) != (self.end_s is None):
            raise ValueError("audioInput startTime and endTime come as a pair (both or neither)")
        if self.start_s is not None and self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError(f"audioInput endTime ({self.end_s:g} s) must be after its startTime ({self.start_s:g} s)")
        return self


class SegmentOptions(BaseModel):
    """What a segment may set differently from the request (sync's ``optionsOverride``).

    What one render pass can vary per frame: the emotion, its temperature, and whom to edit (a
    point or auto — one request dubs a conversation: segment 1 edits person A, segment 2 person
    B). The mode may be named too, but every segment must end up in the same mode (one pass
    renders one mode); :class:`GenerateOptions` refuses a mix by name rather than silently
    ignoring it. Per-segment ``bounding_boxes`` are refused: boxes already address every frame of
    the video, so the request's own boxes (null where a frame is to stay as filmed) say it all.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: ModelMode | None = None
    emotion: Emotion | None = None
    temperature: float | None = Field(None, ge=0.0, le=1.0)
    active_speaker: ActiveSpeaker | None = None

    @field_validator("active_speaker")
    @classmethod
    def _no_boxes(cls, speaker: ActiveSpeaker | None) -> ActiveSpeaker | None:
        if speaker is not None and speaker.kind == "boxes":
            raise PydanticCustomError(
                "segment_boxes", "bounding_boxes cannot vary per segment: they give one box per frame of the whole "
                                 "video already; send them once in the request's options (null leaves a frame as "
                                 "filmed), or use a point or auto_detect per segment")
        return speaker


class Segment(BaseModel):
    """A span of the video that speaks one audio; the video outside every segment stays as filmed,
    with its own sound. Times are seconds on the video's timeline."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    start_s: float = Field(alias="startTime", ge=0.0, description="segment start in the video, s")
    end_s: float = Field(alias="endTime", gt=0.0, description="segment end in the video, s")
    audio: SegmentAudio = Field(alias="audioInput")
    overrides: SegmentOptions = Field(default_factory=SegmentOptions, alias="optionsOverride")

    @model_validator(mode="after")
    def _ordered(self) -> Segment:
        if self.end_s <= self.start_s:
            raise ValueError(f"endTime ({self.end_s:g} s) must be after startTime ({self.start_s:g} s)")
        return self

    @property
    def span(self) -> str:
        return f"{self.start_s:g}-{self.end_s:g} s"


class GenerateOptions(BaseModel):
    """What to generate. Frozen: a request's options never change once validated.

    The descriptions are user-facing: they are the CLI's help and the OpenAPI document's text.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    mode: ModelMode = Field(DEFAULT_MODE, description="what is re-performed: the lips (mouth, jaw, chin), the face "
                                                      "(lips and facial expression) or the head (face and head motion)")
    emotion: Emotion | None = Field(None, description="target emotion in face and head mode; none keeps the "
                                                      "video's own mood")
    temperature: float = Field(0.5, ge=0.0, le=1.0, description="expressiveness, from 0 (subtle) to 1 (strong)")
    sync_mode: SyncMode = Field(SyncMode.cut_off, description="when the video and the audio differ in length: cut "
                                                              "to the shorter, loop or bounce the video, keep the "
                                                              "longer (silence), or stretch the video (remap)")
    text: str | None = Field(
        None,
        description="transcript of the audio (improves English articulation); never required",
        max_length=20000,
    )
    active_speaker: ActiveSpeaker | None = Field(
        None, description="which face to edit when the video shows several: auto (who speaks in the video's own "
                          "sound, shot by shot), a point on a frame (that person, through the video), or a box per "
                          "frame; none edits the largest, most central face")

    @field_validator("active_speaker", mode="before")
    @classmethod
    def _speaker_from_text(cls, v: Any) -> Any:
        """The CLI gives the option as text (``auto``, ``X,Y@FRAME``, a boxes file)."""
        return ActiveSpeaker.from_text(v) if isinstance(v, str) else v

    occlusion: bool = Field(
        OCCLUSION_DEFAULT,
        description="keep hands, microphones and other objects in front of the lower face as filmed, the mouth "
                    "edited around them (found in every edited frame)",
    )
    segments: tuple[Segment, ...] = Field(
        (),
        description="spans of the video that each speak their own audio (by refId, optionally cropped); "
                    "the video outside every segment is left as filmed with its own sound",
        json_schema_extra={"surface": "custom"},  # not a plain flag or wire option: see cli/protocol
    )

    @field_validator("text")
    @classmethod
    def _blank_text_is_none(cls, v: str | None) -> str | None:
        return v if v and v.strip() else None

    @model_validator(mode="after")
    def _segments_fit_together(self) -> GenerateOptions:
        """Rules that need every segment at once; each problem names its segment (``segments[i]``,
        zero-based as sent). Rules that need the media (times within the video, known refIds,
        crops within their audio) are checked when the inputs are probed."""
        if not self.segments:
            return self
        if self.sync_mode is not SyncMode.cut_off:
            raise ValueError("sync_mode does not apply with segments: the output keeps the video's own length "
                             "and timing (leave sync_mode out or use cut_off)")
        if self.text is not None:
            raise ValueError("text (one transcript) cannot describe several segments' audio; leave it out")
        order = sorted(range(len(self.segments)), key=lambda i: self.segments[i].start_s)
        for a, b in zip(order, order[1:], strict=False):
            sa, sb = self.segments[a], self.segments[b]
            if sb.start_s < sa.end_s:
                raise ValueError(f"segments[{b}] ({sb.span}) overlaps segments[{a}] ({sa.span})")
        speaker = self.active_speaker
        if speaker is not None and speaker.kind == "boxes":
            for i, seg in enumerate(self.segments):
                if seg.overrides.active_speaker is not None:
                    raise ValueError(f"segments[{i}] overrides active_speaker, but the request's bounding_boxes "
                                     "already choose the face on every frame; leave the segment's out")
        modes = {i: self.segment_options(i).mode for i in range(len(self.segments))}
        if len(set(modes.values())) > 1:
            listed = ", ".join(f"segments[{i}] {m.value}" for i, m in modes.items())
            raise ValueError(f"the segments ask for different modes ({listed}); one request renders one mode: "
                             "send one request per mode")
        return self

    def segment_options(self, index: int) -> GenerateOptions:
        """The options segment ``index`` is planned and rendered with: the request's, with its
        overrides applied (and no segments of its own)."""
        given = self.segments[index].overrides
        over = {name: getattr(given, name) for name in SegmentOptions.model_fields if getattr(given, name) is not None}
        return self.model_copy(update={**over, "segments": ()})

    @property
    def render_mode(self) -> ModelMode:
        """The one mode the render pass runs: the segments' common mode, or the request's."""
        return self.segment_options(0).mode if self.segments else self.mode

    @property
    def speaker_key(self) -> str | None:
        """Whom to edit, as the analysis records it (JSON); None for the default face. With
        segments that choose their own speaker, every segment's choice is part of it."""
        own = _speaker_json(self.active_speaker)
        if not self.segments_choose_speakers:
            return own
        each = [_speaker_json(self.segment_options(i).active_speaker) for i in range(len(self.segments))]
        return json.dumps({"request": own, "segments": each}, separators=(",", ":"))

    @property
    def segments_choose_speakers(self) -> bool:
        """Whether some segment names its own speaker (``optionsOverride.active_speaker``)."""
        return any(seg.overrides.active_speaker is not None for seg in self.segments)

    @property
    def follows_every_face(self) -> bool:
        """Whether the analysis must follow every face (a speaker is chosen for the request or for
        a segment), not only the largest, most central one."""
        speakers = [self.active_speaker, *(seg.overrides.active_speaker for seg in self.segments)]
        return any(s is not None and s.kind is not None for s in speakers)

    @property
    def edits_expression(self) -> bool:
        """Whether the face's expression is re-performed (emotion prompt, brows, blinks): face and
        head modes. Lips mode leaves everything outside the mouth region as filmed."""
        return self.mode is not ModelMode.lips

    @property
    def edits_head(self) -> bool:
        """Whether the head moves to the speech: head mode only (lips and face modes keep the
        source's pose exactly)."""
        return self.mode is ModelMode.head

    @classmethod
    def parse(cls, **values: object) -> GenerateOptions:
        """Build options from loose values (CLI, wire), raising :class:`InvalidOptions` on bad input."""
        try:
            return cls(**{k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            raise InvalidOptions(f"invalid options: {describe(exc)}") from None


def _speaker_json(speaker: ActiveSpeaker | None) -> str | None:
    return speaker.model_dump_json(exclude_none=True) if speaker is not None and speaker.kind else None


def describe(exc: ValidationError, root: str = "") -> str:
    """A validation failure as one line, each problem at its place (``segments[1].endTime: ...``)."""
    return "; ".join(f"{_where(e['loc'], root)}: {_message(e)}" if e["loc"] or root else _message(e)
                     for e in exc.errors())


def _where(loc: tuple[int | str, ...], root: str = "") -> str:
    out = root
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _plain_msg(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden" and "optionsOverride" in err["loc"]:
        return "cannot vary per segment (a segment may set mode, emotion, temperature and active_speaker)"
    return _plain_msg(err["msg"])


def segments_from(values: Any) -> tuple[Segment, ...]:
    """Segments from their wire form (a list of sync's segment objects); :class:`InvalidOptions`
    naming the segment (``segments[i]``) if one is malformed."""
    try:
        return _SEGMENTS.validate_python(values or ())
    except ValidationError as exc:
        raise InvalidOptions(f"invalid segments: {describe(exc, 'segments')}") from None


_SEGMENTS: TypeAdapter[tuple[Segment, ...]] = TypeAdapter(tuple[Segment, ...])


Options = GenerateOptions

#: Command-line flag names that differ from the field's (``--speaker``, not ``--active-speaker``).
CLI_NAMES: dict[str, str] = {"active_speaker": "speaker"}
#: Options whose command-line value is text that :class:`GenerateOptions` parses, and its forms.
TEXT_FORMS: dict[str, str] = {"active_speaker": "auto | X,Y@FRAME | boxes.json"}


def _plain(name: str) -> bool:
    extra = GenerateOptions.model_fields[name].json_schema_extra
    return not (isinstance(extra, dict) and extra.get("surface") == "custom")


#: Options every surface shows as one value (a CLI flag, a key of the wire's ``options``); the
#: others (``segments``) have a surface of their own: ``--segment`` and the wire's top level.
PLAIN_FIELDS: tuple[str, ...] = tuple(name for name in GenerateOptions.model_fields if _plain(name))
