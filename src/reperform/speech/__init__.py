"""Speech stage: what is said and when (phones, words, pauses), articulation tracks, prosody, TTS.

``analyze_speech`` turns audio into a :class:`~reperform.records.SpeechTimeline` (forced-aligned
phones for English, phone recognition or acoustic tracks otherwise); ``analyze_prosody`` adds
pitch, intensity, accents and phrases; ``synthesize`` speaks text with espeak-ng.
"""

from .analyzer import SpeechAnalyzer, analyze_speech, warm_up
from .prosody import analyze_prosody
from .tts import synthesize, synthesize_to_file

__all__ = ["SpeechAnalyzer", "analyze_prosody", "analyze_speech", "synthesize", "synthesize_to_file", "warm_up"]
