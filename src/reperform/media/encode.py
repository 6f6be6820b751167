"""Streaming H.264 (yuv420p) + AAC MP4 writer that never leaves a half-written file.

Frames are written to ``<output>.part`` (hidden next to the output, same filesystem) and renamed
into place only after the container is finalised; on any error the part file is removed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import platform
import queue
import threading
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np

from ..errors import OutputNotWritable
from .audio import OUTPUT_RATE

log = logging.getLogger(__name__)

#: x264 settings: CRF 18 is visually lossless for talking heads; "veryfast" keeps the encoder
#: below the decode cost on 2 cores (see docs/benchmarks.md for the floor it sets). Tried and
#: dropped: ``subme=1`` (one sub-pixel refinement pass instead of two) cut the encoder's CPU by a
#: quarter (~0.3 s of a 6.6 s 720p job) but left moving heads measurably noisier — landmark
#: jitter of a head-mode output 0.99 → 1.21× its input's (target ≤ 1.2). "superfast" halves the
#: encoder's cost but turns off macroblock-tree rate control: files twice the size.
X264_PRESET = "veryfast"
X264_CRF = "18"
AUDIO_BITRATE = 160_000
AUDIO_CHUNK = 1024  # AAC frame size
#: Frames waiting for the encoder thread: enough to absorb jitter, small enough to bound memory.
ENCODE_QUEUE_FRAMES = 4
#: x264's CPU flag for its AVX-512 kernels (``X264_CPU_AVX512`` in x264.h, x86 builds).
X264_CPU_AVX512 = 1 << 16


@functools.cache
def x264_params() -> str | None:
    """The ``x264-params`` every output is encoded with (None: x264's defaults): on an AVX-512
    machine, every instruction set x264 detects except AVX-512.

    Why: x264's AVX-512 ``mbtree_propagate_list`` (macroblock-tree rate control, on in every
    preset from "veryfast" up) works through each macroblock row 8 macroblocks at a time with no
    mask for the last, partial group. When a row is not a multiple of 8 macroblocks wide (224 px
    = 14, 320 px = 20; 128, 256, 1280 and 1920 px are), it reads up to 7 entries past the row's
    end, and in the last row those are uninitialised heap memory, which it adds into the
    rate-control costs whenever they look like valid motion. The bitstream then depends on
    whatever this process's heap held before: the same frames encoded after Whisper had run on
    another thread came out different in most fresh processes (pcavs_00373 face/sad: 6 different
    MP4s in 7 runs), and ``MALLOC_PERTURB_=1`` alone changes a 224 px encode. The AVX2 kernels mask
    the tail; nothing else changes (720p encode CPU 6.83 vs 6.85 s per 256 frames, 3 runs each,
    with and without AVX-512). Where x264's own CPU detection cannot be reached, macroblock
    trees are turned off instead (stable too, at some cost in size for the same quality).
    """
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return None
    detect = _x264_cpu_detect()
    if detect is None:
        log.warning("x264's CPU detection is not reachable; encoding without macroblock trees so "
                    "outputs do not depend on memory contents")
        return "mbtree=0"
    flags = detect()
    return f"asm={flags & ~X264_CPU_AVX512}" if flags & X264_CPU_AVX512 else None


def x264_options() -> dict[str, str]:
    """:func:`x264_params` as PyAV stream options, for anything else that encodes with libx264
    (benchmarks writing their input clips) and wants the same bytes every run."""
    params = x264_params()
    return {"x264-params": params} if params else {}


def _x264_cpu_detect() -> Callable[[], int] | None:
    """``x264_cpu_detect`` of the libx264 PyAV encodes with (its wheel's copy, else the system's)."""
    libs = Path(av.__file__).resolve().parent.parent / "av.libs"
    candidates = [str(p) for p in sorted(libs.glob("libx264*.so*"))] + [ctypes.util.find_library("x264")]
    for name in filter(None, candidates):
        try:
            fn = ctypes.CDLL(name).x264_cpu_detect
        except (OSError, AttributeError):
            continue
        fn.restype, fn.argtypes = ctypes.c_uint32, []
        return fn
    return None


def add_audio_stream(container: av.container.OutputContainer) -> av.AudioStream:
    """The output's AAC stereo stream (the one audio format every output has)."""
    stream = container.add_stream("aac", rate=OUTPUT_RATE)
    stream.layout = "stereo"
    stream.bit_rate = AUDIO_BITRATE
    return stream


def encode_audio(container: av.container.OutputContainer, stream: av.AudioStream,
                 audio: np.ndarray | Iterable[np.ndarray] | None, n_total: int) -> None:
    """Encode ``n_total`` samples of stereo float ``audio`` (padded with silence, cut to length).

    ``audio`` is one [2, n] array or an iterable of [2, k] blocks in order (a long track is
    streamed from its file, never held whole: :func:`media.stream_audio_for_output`); either way
    the encoder gets the same 1024-sample frames, so the bytes do not depend on which was given.
    """
    blocks: Iterable[np.ndarray] = () if audio is None else (audio,) if isinstance(audio, np.ndarray) else audio
    pending: list[np.ndarray] = []  # samples read but not yet encoded, in order
    n_pending = 0
    start = 0
    source = iter(blocks)
    while start < n_total:
        want = min(AUDIO_CHUNK, n_total - start)
        while n_pending < want:
            block = next(source, None)
            if block is None:
                break
            block = np.asarray(block, np.float32)
            if block.size:
                pending.append(block)
                n_pending += block.shape[1]
        chunk = np.zeros((2, want), np.float32)  # silence past the end of the sound
        filled = 0
        while filled < want and pending:
            take = min(want - filled, pending[0].shape[1])
            chunk[:, filled : filled + take] = pending[0][:, :take]
            pending[0] = pending[0][:, take:]
            if not pending[0].shape[1]:
                pending.pop(0)
            filled += take
        n_pending -= filled
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = OUTPUT_RATE
        frame.pts = start
        for packet in stream.encode(frame):
            container.mux(packet)
        start += want
    close = getattr(source, "close", None)
    if close is not None:
        close()  # a file-backed stream cut short: release its decoder now
    for packet in stream.encode(None):
        container.mux(packet)


def check_writable(output: Path) -> None:
    """Fail early (before hours of work) if the output cannot be created."""
    parent = output.parent if str(output.parent) else Path(".")
    if output.exists() and output.is_dir():
        raise OutputNotWritable(f"output path is a directory: {output}")
    if not parent.exists():
        raise OutputNotWritable(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise OutputNotWritable(f"output folder is not writable: {parent}")


class Mp4Writer:
    """Write RGB frames and a stereo float audio track to an MP4, atomically.

    Use as a context manager; :meth:`write` takes ``uint8[H, W, 3]`` frames in output order.
    Encoding runs on a background thread (PyAV releases the GIL inside x264), so rendering the next
    frame overlaps encoding this one — on 2 cores that is most of the speed of the render pass.
    """

    def __init__(
        self, output: str | Path, width: int, height: int, fps: Fraction,
        audio: np.ndarray | Iterable[np.ndarray] | None, n_frames: int,
        *, with_audio: bool = True,
    ) -> None:
        """``with_audio=False`` writes a video-only file: a chunk of a longer output, whose sound is
        muxed once over the whole length when the chunks are joined (:mod:`media.join`)."""
        self.output = Path(output)
        check_writable(self.output)
        self._part = self.output.with_name(f".{self.output.name}.{os.getpid()}.part")
        # H.264 4:2:0 needs even dimensions; pad by one pixel (edge copy) rather than scale.
        self._w, self._h = width + (width % 2), height + (height % 2)
        self._src_w, self._src_h = width, height
        self._fps = Fraction(fps)
        self._n_frames = n_frames
        self._audio = audio
        self._written = 0
        try:
            self._c = av.open(str(self._part), "w", format="mp4")
        except (av.FFmpegError, OSError) as exc:
            raise OutputNotWritable(f"cannot write {self.output}: {exc}") from exc
        self._v = self._c.add_stream("libx264", rate=self._fps)
        self._v.width, self._v.height = self._w, self._h
        self._v.pix_fmt = "yuv420p"
        self._v.time_base = Fraction(1, 1) / self._fps
        self._v.options = {"preset": X264_PRESET, "crf": X264_CRF, "movflags": "+faststart", **x264_options()}
        self._v.codec_context.thread_count = 0
        self._a = add_audio_stream(self._c) if with_audio else None
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=ENCODE_QUEUE_FRAMES)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._encode_loop, name="mp4-encode", daemon=True)
        self._thread.start()

    def _encode_loop(self) -> None:
        while True:
            rgb = self._queue.get()
            if rgb is None:
                return
            if self._error is not None:
                continue  # drain so the producer never blocks after a failure
            try:
                # OpenCV's BT.601 RGB→I420 matches swscale's to within a level on average and
                # costs ~1 ms at 720p; handing PyAV RGB made swscale convert at ~4 ms per frame.
                yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
                frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
                frame.pts = self._written
                for packet in self._v.encode(frame):
                    self._c.mux(packet)
                self._written += 1
            except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
                self._error = exc

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise OutputNotWritable(f"encoding {self.output.name} failed: {self._error}") from self._error

    def write(self, rgb: np.ndarray) -> None:
        """Queue one frame (a copy is not made: don't modify ``rgb`` afterwards)."""
        self._raise_pending()
        if rgb.shape[0] != self._h or rgb.shape[1] != self._w:
            rgb = np.pad(rgb, ((0, self._h - rgb.shape[0]), (0, self._w - rgb.shape[1]), (0, 0)), mode="edge")
        self._queue.put(rgb)

    def _join(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _write_audio(self) -> None:
        if self._a is not None:
            encode_audio(self._c, self._a, self._audio, int(round(self._written / float(self._fps) * OUTPUT_RATE)))

    def close(self) -> Path:
        """Finalise and move into place; returns the output path."""
        self._join()
        self._raise_pending()
        try:  # the sound may be streamed from its file only now: a failure there leaves no part file
            for packet in self._v.encode(None):
                self._c.mux(packet)
            self._write_audio()
            self._c.close()
        except BaseException:
            self.abort()
            raise
        try:
            os.replace(self._part, self.output)
        except OSError as exc:
            self.abort()
            raise OutputNotWritable(f"cannot move output into place at {self.output}: {exc}") from exc
        return self.output

    def abort(self) -> None:
        """Drop everything written so far; the output path is untouched."""
        self._error = self._error or RuntimeError("aborted")
        self._join()
        try:
            self._c.close()
        except Exception:  # noqa: BLE001 - closing a broken container may fail in many ways
            log.debug("closing aborted container failed", exc_info=True)
        self._part.unlink(missing_ok=True)

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
