"""Errors of the sync protocol, each carrying its sync ``error_code`` and HTTP status.

They are :class:`reperform.errors.InputError` subclasses: the caller's request or media is at
fault, so the server answers 4xx and a job ends FAILED with the code, never as an engine bug.
"""

from __future__ import annotations

from ..errors import InputError


class WireError(InputError):
    """A request refused synchronously: the HTTP status, the sync code and one message per problem."""

    def __init__(self, message: str, code: str = "generation_input_validation_failed", status: int = 400,
                 messages: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = status
        self.messages = messages or [message]


class UrlNotAllowed(InputError):
    """The URL is malformed, not http(s), or its host resolves to an address that is not public."""


class VideoInaccessible(InputError):
    """The video URL could not be downloaded."""

    code = "generation_input_video_inaccessible"


class AudioInaccessible(InputError):
    """The audio URL could not be downloaded."""

    code = "generation_input_audio_inaccessible"
