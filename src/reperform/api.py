"""The public entry points: validate at the edge, then hand over to the pipeline."""

from __future__ import annotations

from pathlib import Path

from .config import EngineConfig
from .options import GenerateOptions
from .progress import ProgressSink, null_sink
from .records import GenerateResult, MediaInfo


def generate(
    video: str | Path,
    audio: str | Path,
    output: str | Path,
    options: GenerateOptions | None = None,
    *,
    progress: ProgressSink = null_sink,
    config: EngineConfig | None = None,
) -> GenerateResult:
    """Re-perform the face in ``video`` (a video or a still image) to ``audio``; write ``output`` (MP4).

    Raises a :class:`reperform.errors.ReperformError` subclass for bad input; the output path is
    never left half-written. ``progress`` receives ``(stage, overall_fraction, detail)``.
    """
    from .pipeline import run  # the pipeline pulls in the heavy stage libraries; import lazily

    return run(
        Path(video), Path(audio), Path(output), options or GenerateOptions(), progress=progress,
        config=config or EngineConfig(),
    )


def warm_up(config: EngineConfig | None = None) -> None:
    """Load the engine's libraries and models now instead of in the first :func:`generate`.

    For long-lived processes (job workers): ~1 s of imports and model loads moves out of the
    first job's time. Calling it is never required; calling it twice costs nothing.
    """
    from .pipeline import warm_up as _warm_up

    _warm_up(config or EngineConfig())


def probe(path: str | Path) -> MediaInfo:
    """What a media file holds (kind, size, fps, duration, streams); raises on non-media."""
    from .media import probe as _probe

    return _probe(path)


def synthesize_speech(text: str, output: str | Path, *, voice: str = "en-us") -> Path:
    """Speak ``text`` offline (espeak-ng) into a WAV file at ``output``; returns the path."""
    from .speech import synthesize_to_file

    return synthesize_to_file(text, Path(output), voice=voice)
