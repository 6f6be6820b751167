"""Media stage: probing, decoding, audio loading, time mapping and atomic MP4 encoding (PyAV)."""

from . import segments
from .audio import load_audio, load_audio_for_output, stream_audio_for_output
from .decode import FrameSource, FrameStore, iter_frames, prefetch
from .encode import Mp4Writer
from .join import join_chunks
from .probe import probe
from .timemap import build_timemap

__all__ = [
    "FrameSource",
    "FrameStore",
    "Mp4Writer",
    "build_timemap",
    "iter_frames",
    "join_chunks",
    "load_audio",
    "load_audio_for_output",
    "stream_audio_for_output",
    "prefetch",
    "probe",
    "segments",
]
