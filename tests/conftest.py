"""Shared fixtures: where the real test media lives, and small media files made with PyAV."""

from __future__ import annotations

import os
import wave
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_media_dir() -> Path:
    return Path(os.environ.get("REPERFORM_SHARED_MEDIA", REPO.parent / "shared" / "media"))


@pytest.fixture(scope="session")
def media_dir() -> Path:
    d = shared_media_dir()
    if not d.is_dir():
        pytest.fail(f"real test media not found at {d} (set REPERFORM_SHARED_MEDIA)")
    return d


def make_tone_wav(path: Path, seconds: float, rate: int = 16000, freq: float = 220.0, amp: float = 0.3,
                  channels: int = 1) -> Path:
    """A 16-bit WAV file of a sine tone (amp 0 gives digital silence; 0 s gives a valid empty file)."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = np.clip(amp * np.sin(2 * np.pi * freq * t), -1, 1)
    pcm = (np.repeat(x[:, None], channels, axis=1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def make_video(path: Path, n_frames: int, size: tuple[int, int] = (64, 48), fps: int = 25,
               codec: str = "libx264") -> Path:
    """A small synthetic video without sound: a moving gradient (no face)."""
    w, h = size
    with av.open(str(path), "w") as c:
        v = c.add_stream(codec, rate=Fraction(fps))
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        mux_video(c, v, (_gradient(w, h, i) for i in range(n_frames)))
    return path


def _gradient(w: int, h: int, i: int) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (np.arange(w)[None, :] * 4 + i * 3) % 256
    img[..., 1] = (np.arange(h)[:, None] * 4) % 256
    return img


def mux_video(container: av.container.OutputContainer, stream: av.VideoStream, frames: Iterable[np.ndarray]) -> None:
    """Encode RGB ``uint8[H, W, 3]`` frames (any iterable, in order; pts = their index) into
    ``stream``, then flush it."""
    for i, img in enumerate(frames):
        f = av.VideoFrame.from_ndarray(img, format="rgb24")
        f.pts = i
        for p in stream.encode(f):
            container.mux(p)
    for p in stream.encode(None):
        container.mux(p)


def mux_audio(container: av.container.OutputContainer, stream: av.AudioStream, samples: np.ndarray,
              frame_size: int = 1024, pad_last: bool = False) -> None:
    """Encode planar float ``samples`` (``[channels, n]`` at the stream's rate, layout as set on
    the stream) into ``stream`` in frames of ``frame_size``, then flush it. ``pad_last`` fills the
    last frame with silence, for encoders that take whole frames only (Opus)."""
    rate = stream.rate
    for start in range(0, samples.shape[1], frame_size):
        chunk = np.ascontiguousarray(samples[:, start:start + frame_size], np.float32)
        if pad_last and chunk.shape[1] < frame_size:
            chunk = np.pad(chunk, ((0, 0), (0, frame_size - chunk.shape[1])))
        fr = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=stream.layout.name)
        fr.sample_rate = rate
        fr.pts = start
        for p in stream.encode(fr):
            container.mux(p)
    for p in stream.encode(None):
        container.mux(p)


@pytest.fixture(scope="session")
def two_people(media_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Two-person videos made from real clips (``benchmarks/composites.py``), each built on first
    use and kept for the session: ``two_people("side_left")`` etc. side_left/side_right: vr2 | vr4
    heard vr2 / vr4; stacked: vr4 above vr2, heard vr2; swap: three shots whose cuts swap places."""
    from benchmarks import composites

    root = tmp_path_factory.mktemp("two_people")
    videos = media_dir / "videos"
    makers = {
        "side_left": lambda p: composites.side_by_side(p, videos, voice=0),
        "side_right": lambda p: composites.side_by_side(p, videos, voice=1),
        "stacked": lambda p: composites.stacked(p, videos, voice=1),
        "swap": lambda p: composites.swap_cut(p, videos),
    }
    built: dict[str, object] = {}

    def get(name: str):
        if name not in built:
            built[name] = makers[name](root / f"{name}.mp4")
        return built[name]

    return get


def speech_excerpt(source: Path, path: Path, seconds: float) -> Path:
    """The first ``seconds`` of a real recording as a 16 kHz mono 16-bit WAV at ``path``.

    Why: an output is as long as its driving audio, so a test that needs real speech through every
    stage but not a long result renders a fraction of the frames with an excerpt (real words, not
    a tone). Written once per path; later calls reuse the file."""
    from reperform import media
    from reperform.media.segments import write_wav

    if not path.exists():
        audio = media.load_audio(source)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, audio.samples[: int(seconds * audio.rate)], audio.rate)
    return path
