"""One exception tree for the whole product.

Every class carries the HTTP status and the sync.so ``error_code`` it maps to, so the CLI, the
server and the job runner translate failures the same way. Constructor arguments all land in
``.args`` (plain ``Exception.__init__``), which keeps them picklable across Celery.
"""

from __future__ import annotations


class ReperformError(Exception):
    """Base class. ``str(err)`` is a one-line human message."""

    code: str = "generation_failed"
    http_status: int = 500
    #: True when the caller's input (not the engine) is at fault: CLI exit 2, HTTP 4xx.
    is_input_error: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class InputError(ReperformError):
    """Something about the request or its media is wrong."""

    code = "generation_input_validation_failed"
    http_status = 400
    is_input_error = True


class InvalidOptions(InputError):
    """An option value is unknown or out of range."""


class MediaUnreadable(InputError):
    """A file is missing, empty, corrupt, or not media at all."""

    code = "generation_unsupported_media"


class VideoMissing(InputError):
    """The visual input has no video stream (and is not an image)."""

    code = "generation_video_missing"


class AudioMissing(InputError):
    """The audio input has no audio stream, or it is empty."""

    code = "generation_audio_missing"


class MediaMetadataMissing(InputError):
    """The media has no usable duration or frame rate."""

    code = "generation_media_metadata_missing"


class NoFaceFound(InputError):
    """No face was detected in any frame of the visual input."""

    code = "generation_no_face_detected"


class OutputNotWritable(InputError):
    """The output path cannot be written."""

    code = "generation_output_not_writable"


class AnalysisOutdated(InputError):
    """A saved analysis cannot be used: another engine version made it, its files are unreadable,
    or the inputs it was made from have changed or gone. Analyse the inputs again."""

    code = "generation_analysis_outdated"


class ModeNotImplemented(ReperformError):
    """A requested mode exists in the API but is not built yet; never silently downgraded."""

    code = "generation_mode_not_implemented"
    http_status = 400
    is_input_error = True


class EngineError(ReperformError):
    """An internal failure of a stage (a bug or an environment problem), with context."""

    code = "generation_engine_failed"
