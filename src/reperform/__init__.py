"""reperform: re-perform the face in a video to new audio — offline, on a CPU.

    >>> import reperform
    >>> reperform.generate("talk.mp4", "new_voice.wav", "out.mp4", reperform.Options(mode="lips"))
"""

from .api import generate, probe, synthesize_speech
from .config import EngineConfig
from .errors import ReperformError
from .options import Emotion, GenerateOptions, ModelMode, Options, SyncMode
from .records import GenerateResult, MediaInfo

__all__ = [
    "EngineConfig",
    "Emotion",
    "GenerateOptions",
    "GenerateResult",
    "MediaInfo",
    "ModelMode",
    "Options",
    "ReperformError",
    "SyncMode",
    "generate",
    "probe",
    "synthesize_speech",
]
__version__ = "0.1.0"
