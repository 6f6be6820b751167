"""reperform: re-perform the face in a video to new audio — offline, on a CPU.

    >>> import reperform
    >>> reperform.generate("talk.mp4", "new_voice.wav", "out.mp4", reperform.Options(mode="lips"))

The same job in its three seams, reusing the analysis for a second emotion:

    >>> a = reperform.analyze("talk.mp4", "new_voice.wav")
    >>> reperform.render(a, reperform.plan(a, reperform.Options(emotion="happy")), "happy.mp4")
    >>> a.save("talk.analysis")  # later: reperform.Analysis.load("talk.analysis")
"""

from .analysis import Analysis, Plan
from .analysis_cache import AnalysisCache
from .api import analyze, generate, join, plan, probe, render, render_frames, synthesize_speech
from .config import EngineConfig
from .errors import ReperformError
from .options import (
    Emotion,
    GenerateOptions,
    ModelMode,
    Options,
    Segment,
    SegmentAudio,
    SegmentOptions,
    SyncMode,
)
from .records import GenerateResult, MediaInfo

__all__ = [
    "Analysis",
    "AnalysisCache",
    "EngineConfig",
    "Emotion",
    "GenerateOptions",
    "GenerateResult",
    "MediaInfo",
    "ModelMode",
    "Options",
    "Plan",
    "ReperformError",
    "Segment",
    "SegmentAudio",
    "SegmentOptions",
    "SyncMode",
    "analyze",
    "generate",
    "join",
    "plan",
    "probe",
    "render",
    "render_frames",
    "synthesize_speech",
]
__version__ = "0.1.0"
