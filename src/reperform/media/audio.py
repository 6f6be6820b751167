"""Audio loading: any format PyAV reads, any rate or layout → float32 mono for analysis, or
interleaved stereo at the output rate for muxing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from ..errors import AudioMissing, MediaUnreadable
from ..records import Audio

#: Analysis rate: what pocketsphinx, Whisper and the acoustic features expect.
ANALYSIS_RATE = 16000
#: Output audio: AAC at 48 kHz stereo plays everywhere.
OUTPUT_RATE = 48000


def _decode(path: Path, rate: int, layout: str) -> np.ndarray:
    """Decode the first audio stream to float32 samples shaped [channels, n]."""
    n_ch = 1 if layout == "mono" else 2
    chunks = list(_decode_blocks(path, rate, layout))
    if not chunks:
        return np.zeros((n_ch, 0), np.float32)
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False)


def _decode_blocks(path: Path, rate: int, layout: str) -> Iterator[np.ndarray]:
    """The first audio stream as float32 blocks shaped [channels, k], in order, as decoded.

    A generator: the file is opened on the first ``next()``, so a caller can hand it on and
    have it read only where the samples are needed (the muxer, after the last video frame)."""
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise MediaUnreadable(f"not a readable media file: {path.name}") from exc
    try:
        if not container.streams.audio:
            raise AudioMissing(f"{path.name} has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        got = False
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    got = True
                    yield out.to_ndarray().astype(np.float32, copy=False)
            for out in resampler.resample(None):
                got = True
                yield out.to_ndarray().astype(np.float32, copy=False)
        except av.FFmpegError as exc:
            if not got:
                raise MediaUnreadable(f"cannot decode audio of {path.name}: {exc}") from exc
    finally:
        container.close()


def load_audio(path: str | Path, rate: int = ANALYSIS_RATE) -> Audio:
    """Mono float32 at ``rate``. Raises :class:`AudioMissing` for no stream or zero length."""
    path = Path(path)
    data = _decode(path, rate, "mono")[0]
    if data.size < rate * 0.05:
        raise AudioMissing(f"audio of {path.name} is empty (shorter than 50 ms)")
    return Audio(samples=np.clip(data, -1.0, 1.0), rate=rate)


def load_audio_for_output(path: str | Path) -> np.ndarray:
    """Stereo float32 [2, n] at OUTPUT_RATE, for the muxed AAC track."""
    return _decode(Path(path), OUTPUT_RATE, "stereo")


def stream_audio_for_output(path: str | Path) -> Iterator[np.ndarray]:
    """:func:`load_audio_for_output`'s samples as a stream of stereo float32 blocks [2, k].

    Why: the whole track of a long output is large (48 kHz stereo float32 is 23 MiB a minute,
    and decoding it whole held it about three times over: ~0.7 GiB for 10 minutes), and the
    muxer only needs it block by block. Lazy: the file is read when the muxer asks."""
    return _decode_blocks(Path(path), OUTPUT_RATE, "stereo")
