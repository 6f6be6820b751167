"""Streaming frame decode (PyAV, threaded) and random access for the render pass.

Frames are RGB ``uint8[H, W, 3]`` already rotated for display. Only a handful of frames are ever
held in memory, whatever the clip's length.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import TypeVar

import av
import numpy as np

from ..errors import MediaUnreadable
from ..records import MediaInfo

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Frames kept around a backward seek (bounce mode plays the video backwards); the frame count
#: shrinks with frame size (see FrameSource). Forward-only playback keeps just a few frames.
REVERSE_CACHE_BYTES = 256 * 1024 * 1024
FORWARD_CACHE_FRAMES = 4


def _rotate(img: np.ndarray, rotation_deg: int) -> np.ndarray:
    if rotation_deg == 90:
        return np.ascontiguousarray(np.rot90(img, k=-1))
    if rotation_deg == 180:
        return np.ascontiguousarray(img[::-1, ::-1])
    if rotation_deg == 270:
        return np.ascontiguousarray(np.rot90(img, k=1))
    return img


def _picture(frame: av.VideoFrame, rotation_deg: int) -> np.ndarray:
    """A decoded frame as RGB ``uint8[H, W, 3]``, rotated for display."""
    return _rotate(frame.to_ndarray(format="rgb24"), rotation_deg)


def _read_image(info: MediaInfo) -> np.ndarray:
    try:
        with av.open(str(info.path)) as c:
            for frame in c.decode(video=0):
                return frame.to_ndarray(format="rgb24")
    except av.FFmpegError as exc:
        raise MediaUnreadable(f"cannot decode image {info.path.name}: {exc}") from exc
    raise MediaUnreadable(f"image {info.path.name} holds no picture")


def prefetch(frames: Iterator[T], depth: int = 4) -> Iterator[T]:
    """Run an iterator (of frames, or of anything costly to make) on a background thread, ``depth`` items ahead.

    Decoding and colour conversion release the GIL, so on 2 cores this overlaps decode with the
    consumer's work (face tracking). Exceptions are re-raised in the consumer.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def worker() -> None:
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()  # release the decoder on this thread, where the generator runs

    t = threading.Thread(target=worker, name="frame-prefetch", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join(timeout=5)


class FrameStore:
    """Decoded pictures kept from the analysis pass, so the render pass need not decode again.

    Holds PyAV's decoded frames themselves (YUV 4:2:0, reference-counted: 1.5 bytes per pixel,
    half of RGB) and converts one to RGB only when it is asked for (~0.4 ms at 720p, against
    ~3 ms to decode it again). All or nothing: :meth:`for_clip` returns None when the clip
    will not fit the byte budget, and a store that overflows anyway (a wrong frame-count
    estimate) drops everything, so the render pass then decodes as before. Memory therefore
    never exceeds the budget.
    """

    def __init__(self, budget_bytes: int, rotation_deg: int = 0) -> None:
        self.budget_bytes = budget_bytes
        self.rotation_deg = rotation_deg
        self._frames: list[av.VideoFrame] = []
        self.nbytes = 0
        self.overflowed = False

    @classmethod
    def for_clip(cls, info: MediaInfo, budget_bytes: int) -> FrameStore | None:
        """A store for this clip, or None when its frames will not fit ``budget_bytes``."""
        if info.kind != "video" or budget_bytes <= 0:
            return None
        need = 1.5 * info.width * info.height * max(1, info.n_frames) * 1.05  # 5 % for VFR estimates
        return cls(budget_bytes, info.rotation_deg) if need <= budget_bytes else None

    def add(self, index: int, frame: av.VideoFrame) -> None:
        """Keep frame ``index`` (frames must come in order, from 0)."""
        if self.overflowed:
            return
        if index != len(self._frames):
            raise ValueError(f"frames must be stored in order: got {index}, expected {len(self._frames)}")
        self.nbytes += int(1.5 * frame.width * frame.height)
        if self.nbytes > self.budget_bytes:
            log.info("frame store over its %d MB budget: the render pass will decode again",
                     self.budget_bytes >> 20)
            self.clear()
            self.overflowed = True
            return
        self._frames.append(frame)

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, index: int) -> np.ndarray:
        """RGB picture of frame ``index``, rotated for display."""
        return _picture(self._frames[index], self.rotation_deg)

    def clear(self) -> None:
        self._frames = []
        self.nbytes = 0


def iter_frames(info: MediaInfo, store: FrameStore | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(index, time_s, rgb)`` for every frame; ``time_s`` counts from the first frame.

    With a ``store``, each decoded frame is also kept there for a later pass.

    Variable-frame-rate input keeps its real timestamps; the time map resamples to a fixed rate.
    """
    if info.kind == "image":
        yield 0, 0.0, _read_image(info)
        return
    try:
        container = av.open(str(info.path))
    except av.FFmpegError as exc:
        raise MediaUnreadable(f"cannot open {info.path.name}: {exc}") from exc
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        t0: float | None = None
        index = 0
        last_t = -1.0
        try:
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else (last_t + 1.0 / float(info.fps))
                if t0 is None:
                    t0 = t
                t_rel = t - t0
                if t_rel <= last_t:  # broken/duplicate timestamps: keep time monotonic
                    t_rel = last_t + 1e-3
                last_t = t_rel
                if store is not None:
                    store.add(index, frame)
                yield index, t_rel, _picture(frame, info.rotation_deg)
                index += 1
        except av.FFmpegError as exc:
            if index == 0:
                raise MediaUnreadable(f"cannot decode video of {info.path.name}: {exc}") from exc
            log.warning("decode stopped early at frame %d of %s: %s", index, info.path.name, exc)
    finally:
        container.close()


class FrameSource:
    """Random access to decoded frames by index, efficient for the access patterns of sync modes.

    Forward access (the common case) streams; a backward jump seeks to the nearest keyframe before
    the wanted frame and decodes a window of frames into a small cache, so bounce mode costs
    roughly one extra decode instead of one per frame.
    """

    def __init__(
        self, info: MediaInfo, frame_times_s: np.ndarray, *, backward: bool = True,
        store: FrameStore | None = None,
    ) -> None:
        """``backward=False`` promises forward-only access (no cache needed: memory stays small).
        Frames held in ``store`` (from the analysis pass) are served from it instead of decoded."""
        self._info = info
        self._store = store  # an overflowed store is empty: every frame is decoded
        self._times = np.asarray(frame_times_s, dtype=np.float64)
        self._n = len(self._times)
        self._image: np.ndarray | None = _read_image(info) if info.kind == "image" else None
        self._iter: Iterator[tuple[int, float, np.ndarray]] | None = None
        self._pos = -1  # index of the last frame produced by the forward iterator
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        frame_bytes = max(1, info.width * info.height * 3)
        self._cache_frames = (
            int(np.clip(REVERSE_CACHE_BYTES // frame_bytes, 4, 48)) if backward else FORWARD_CACHE_FRAMES
        )

    @property
    def n_frames(self) -> int:
        return self._n

    def get(self, index: int) -> np.ndarray:
        """The frame at ``index`` (0 ≤ index < n_frames)."""
        if self._image is not None:
            return self._image
        index = int(np.clip(index, 0, self._n - 1))
        if self._store is not None and index < len(self._store):
            return self._store.get(index)
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        if self._iter is None or index <= self._pos:
            # Backward jump (or first use): decode a window ending at `index` into the cache.
            self._restart(max(0, index - self._cache_frames + 1))
        assert self._iter is not None
        for i, _t, img in self._iter:
            self._pos = i
            self._remember(i, img)
            if i >= index:
                return img
        # Fewer frames than the analysis pass counted (should not happen): repeat the last one.
        return self._cache[next(reversed(self._cache))]

    def _remember(self, i: int, img: np.ndarray) -> None:
        self._cache[i] = img
        while len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)

    def _restart(self, start_index: int) -> None:
        """Position the forward iterator so its next frame is at or before ``start_index``."""
        self.close()
        # Decode on a background thread, a few frames ahead of the renderer.
        self._iter = prefetch(self._decode_from(start_index), depth=3)
        self._pos = -1

    def _decode_from(self, start_index: int) -> Iterator[tuple[int, float, np.ndarray]]:
        container = av.open(str(self._info.path))
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            first_pts: float | None = None
            if start_index > 0:
                # Seek by time (relative to the first frame) to the keyframe at or before it.
                probe_t0 = None
                for frame in container.decode(stream):
                    probe_t0 = float(frame.time or 0.0)
                    break
                target = probe_t0 + self._times[start_index] if probe_t0 is not None else 0.0
                container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
                first_pts = probe_t0
            t0 = first_pts
            for frame in container.decode(stream):
                t = float(frame.time or 0.0)
                if t0 is None:
                    t0 = t
                idx = int(np.clip(np.searchsorted(self._times, t - t0 - 1e-4), 0, self._n - 1))
                if idx < start_index - 1 and start_index > 0:
                    continue
                yield idx, t - t0, _picture(frame, self._info.rotation_deg)
        finally:
            container.close()

    def close(self) -> None:
        if self._iter is not None:
            self._iter.close()  # type: ignore[attr-defined]
            self._iter = None
