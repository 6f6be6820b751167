"""Text to speech with espeak-ng: robotic but offline, any of espeak's ~100 languages.

The WAV goes through a temporary file (espeak-ng writes files, not pipes, reliably), is read
with the standard library and resampled to the analysis rate.
"""

from __future__ import annotations

import logging
import os
import tempfile
import wave
from pathlib import Path

import numpy as np

from ..errors import EngineError, InvalidOptions, OutputNotWritable
from ..records import Audio
from .acoustic import to_analysis_rate
from .espeak import check_voice, speak_to_wav

log = logging.getLogger(__name__)

#: Longest text accepted (characters): ~10 minutes of speech, beyond any sensible request.
MAX_TEXT_CHARS = 10_000
#: Output rate of :func:`synthesize`: the engine's analysis rate.
RATE_HZ = 16000


def _check_text(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidOptions("text to speak is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidOptions(f"text to speak is too long ({len(text)} > {MAX_TEXT_CHARS} characters)")
    return text.strip()


def _read_wav(path: Path) -> Audio:
    """16-bit PCM WAV → float32 mono Audio at RATE_HZ."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
            data = wav.readframes(wav.getnframes())
    except (OSError, wave.Error, EOFError) as exc:
        raise EngineError(f"espeak-ng wrote an unreadable WAV: {exc}") from exc
    if width != 2:
        raise EngineError(f"espeak-ng wrote {8 * width}-bit audio; 16-bit expected")
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    samples = to_analysis_rate(Audio(samples=samples, rate=rate)).samples
    return Audio(samples=np.clip(samples, -1.0, 1.0).astype(np.float32), rate=RATE_HZ)


def synthesize(text: str, voice: str = "en-us") -> Audio:
    """Speak ``text`` with espeak-ng voice ``voice``; float32 mono 16 kHz.

    Raises :class:`InvalidOptions` for empty or too long text or an unknown voice, and
    :class:`EngineError` when espeak-ng is missing or fails.
    """
    text = _check_text(text)
    check_voice(voice)
    with tempfile.TemporaryDirectory(prefix="reperform-tts-") as tmp:
        wav_path = Path(tmp) / "speech.wav"
        speak_to_wav(text, wav_path, voice)
        return _read_wav(wav_path)


def synthesize_to_file(text: str, path: Path, voice: str = "en-us") -> Path:
    """Speak ``text`` into the WAV file ``path`` (espeak's native 22.05 kHz), written atomically:
    to ``path.part`` first, renamed when complete, so no reader sees half a file."""
    text = _check_text(text)
    check_voice(voice)
    path = Path(path)
    part = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputNotWritable(f"cannot create folder for {path}: {exc}") from exc
    try:
        speak_to_wav(text, part, voice)
        os.replace(part, path)
    except OSError as exc:
        raise OutputNotWritable(f"cannot write {path}: {exc}") from exc
    finally:
        if part.exists():
            part.unlink()
    return path
