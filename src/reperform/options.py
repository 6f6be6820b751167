"""Per-request options: the single home of every option, its choices, its default and its rules.

Every other surface is generated from :class:`GenerateOptions`, never written beside it: the CLI's
flags (:mod:`reperform.cli`), sync's ``options`` object on the wire and its OpenAPI schema
(:mod:`reperform.protocol.requests`), and through that schema the Studio's form.
``tests/test_options_surfaces.py`` (and the Studio's browser test) check that they agree.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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

    @field_validator("text")
    @classmethod
    def _blank_text_is_none(cls, v: str | None) -> str | None:
        return v if v and v.strip() else None

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
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidOptions(f"invalid options: {problems}") from None


Options = GenerateOptions
