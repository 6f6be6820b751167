"""espeak-ng, the Debian binary: grapheme-to-phoneme for words the CMU dictionary lacks, and TTS.

Run as a subprocess with arguments as a list (no shell) and the text on stdin, so no text can be
read as an option or a shell word.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

from ..errors import EngineError, InvalidOptions
from .phonetics import ipa_to_arpabet

log = logging.getLogger(__name__)

#: G2P of a few hundred words takes ~50 ms; a hung process must not hang the job. The limit is
#: only that safety net, so it is generous: giving up changes the output (the alignment loses its
#: pronunciations), and a loaded machine once took more than 20 s to start espeak-ng — the same
#: job then gave other bytes than on a quiet one.
G2P_TIMEOUT_S = 180.0
#: Voices are names like "en-us", "en-gb-x-rp", "de", "mb-en1"; anything else is refused.
VOICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+\-/]{0,39}$")


def espeak_binary() -> str:
    """Path of ``espeak-ng``; :class:`EngineError` when it is not installed."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise EngineError("espeak-ng is not installed (Debian package 'espeak-ng'); it is needed for TTS")
    return path


def check_voice(voice: str) -> str:
    """Refuse malformed voice names (before they reach a command line)."""
    if not isinstance(voice, str) or not VOICE_RE.match(voice):
        raise InvalidOptions(f"invalid espeak-ng voice name: {voice!r}")
    return voice


def known_voices(binary: str) -> set[str]:
    """Language codes and voice names espeak-ng has (it silently uses its default voice for an
    unknown one when reading stdin, so a typo would otherwise speak the wrong language)."""
    try:
        proc = subprocess.run([binary, "--voices"], capture_output=True, timeout=G2P_TIMEOUT_S, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise EngineError(f"espeak-ng --voices failed: {exc}") from exc
    names: set[str] = set()
    for line in proc.stdout.decode("utf-8", "replace").splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            names.update({cols[1].lower(), cols[3].lower(), cols[4].split("/")[-1].lower()})
            names.update(c.strip("()").lower() for c in cols[5::2])  # "(en 3)": also answers to "en"
    return names


def require_voice(binary: str, voice: str) -> str:
    """``voice`` (optionally ``+variant``) when espeak-ng has it, else :class:`InvalidOptions`."""
    check_voice(voice)
    base = voice.split("+", 1)[0].lower()
    if base not in known_voices(binary):
        raise InvalidOptions(f"espeak-ng has no voice {voice!r} (see `espeak-ng --voices`)")
    return voice


def g2p(words: list[str], voice: str = "en-us") -> dict[str, list[tuple[str, int]]]:
    """ARPAbet phones with stress for each word, read by espeak-ng in isolation.

    One process for all words: each word goes on its own line ending in a full stop, which makes
    espeak print one line per word. Returns {} (and logs) when espeak is missing or fails, because
    callers can always fall back to dropping the word.
    """
    unique = list(dict.fromkeys(w for w in words if w))
    if not unique:
        return {}
    path = shutil.which("espeak-ng")
    if path is None:
        log.warning("espeak-ng not installed: %d words without pronunciation", len(unique))
        return {}
    text = "".join(f"{w}.\n" for w in unique)
    try:
        proc = subprocess.run(
            [path, "-q", "--ipa", "--sep=_", "--stdin", "-v", check_voice(voice)],
            input=text.encode("utf-8"), capture_output=True, timeout=G2P_TIMEOUT_S, check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("espeak-ng G2P failed: %s", exc)
        return {}
    lines = [ln.strip() for ln in proc.stdout.decode("utf-8", "replace").splitlines() if ln.strip()]
    if len(lines) != len(unique):
        log.warning("espeak-ng G2P returned %d lines for %d words; ignored", len(lines), len(unique))
        return {}
    result: dict[str, list[tuple[str, int]]] = {}
    for word, line in zip(unique, lines, strict=True):
        phones = [p for part in line.split() for p in ipa_to_arpabet(part)]
        if phones:
            result[word] = phones
    return result


def speak_to_wav(text: str, wav_path: Path, voice: str = "en-us", timeout_s: float = 120.0) -> None:
    """Synthesize ``text`` into ``wav_path`` (22.05 kHz 16-bit mono WAV, espeak's native format)."""
    binary = espeak_binary()
    require_voice(binary, voice)
    try:
        # No -q here: with -q espeak-ng writes no WAV at all.
        proc = subprocess.run(
            [binary, "--stdin", "-v", voice, "-w", str(wav_path)],
            input=text.encode("utf-8"), capture_output=True, timeout=timeout_s,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EngineError(f"espeak-ng failed: {exc}") from exc
    if proc.returncode != 0 or not wav_path.exists() or wav_path.stat().st_size <= 44:
        err = proc.stderr.decode("utf-8", "replace").strip()[:300]
        if "voice" in err.lower():
            raise InvalidOptions(f"espeak-ng does not know voice {voice!r}: {err}")
        raise EngineError(f"espeak-ng produced no audio (exit {proc.returncode}): {err}")
