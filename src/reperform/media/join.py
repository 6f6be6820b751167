"""Join separately encoded video chunks into one MP4 without re-encoding, and mux the sound once.

Why: a long job is rendered in chunks by several processes (or machines); each chunk is its own
x264 encode with the writer's fixed settings, so each starts with an IDR frame (a closed GOP)
and carries the same parameter sets. Their compressed packets can then be laid end to end with
shifted timestamps: no second encode (no quality loss, no extra minutes), no frame lost or
doubled, and the audio is encoded once over the whole length so it cannot drift at the joins.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import EngineError, OutputNotWritable
from .audio import OUTPUT_RATE
from .encode import add_audio_stream, check_writable, encode_audio

log = logging.getLogger(__name__)


def _chunk_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    if not container.streams.video:
        raise EngineError(f"chunk {path.name} has no video stream")
    return container.streams.video[0]


def join_chunks(chunks: list[Path], output: Path, fps: Fraction,
                audio: np.ndarray | Iterable[np.ndarray] | None) -> int:
    """Concatenate the video of ``chunks`` (in order) into ``output`` with ``audio`` muxed once.

    Every chunk must come from :class:`media.Mp4Writer` with the same size and frame rate (so the
    same encoder settings); timestamps are re-based on the frame count so far. The output is
    written atomically (a hidden part file, renamed when complete). Returns the frame count.
    """
    if not chunks:
        raise EngineError("no chunks to join")
    output = Path(output)
    check_writable(output)
    part = output.with_name(f".{output.name}.{os.getpid()}.join.part")
    fps = Fraction(fps)
    frames = 0
    try:
        with av.open(str(part), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            first = av.open(str(chunks[0]))
            try:
                template = _chunk_stream(first, chunks[0])
                size, extradata = (template.codec_context.width, template.codec_context.height), \
                    template.codec_context.extradata
                vout = out.add_stream_from_template(template)
            finally:
                first.close()
            aout = add_audio_stream(out)
            delay = max(_reorder_delay(path, fps) for path in chunks)
            for path in chunks:
                frames += _copy_chunk(path, out, vout, size, extradata, fps, frames, delay)
            encode_audio(out, aout, audio, int(round(frames / float(fps) * OUTPUT_RATE)))
        os.replace(part, output)
    except (av.FFmpegError, OSError) as exc:
        part.unlink(missing_ok=True)
        raise OutputNotWritable(f"cannot join chunks into {output}: {exc}") from exc
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    log.info("joined %d chunks into %s: %d frames", len(chunks), output.name, frames)
    return frames


def _reorder_delay(path: Path, fps: Fraction) -> int:
    """How many frames a chunk's first decode time sits before its first shown frame (B-frame
    reordering; 0 for a chunk too short to have B-frames)."""
    with av.open(str(path)) as src:
        stream = _chunk_stream(src, path)
        for packet in src.demux(stream):
            if packet.dts is not None:
                return max(0, -int(round(packet.dts * stream.time_base * fps)))
    return 0


def _copy_chunk(path: Path, out: av.container.OutputContainer, vout: av.VideoStream, size: tuple[int, int],
                extradata: bytes | None, fps: Fraction, offset: int, delay: int) -> int:
    """Append one chunk's packets to ``vout``, ``offset`` frames later. Returns its frame count.

    Presentation times move by ``offset``. Decode times are renumbered over the whole output
    (``offset`` + the packet's place in its chunk − ``delay``, the largest reordering delay of
    any chunk): chunks short enough to have no B-frames have a smaller delay than the rest, and
    their shifted decode times would otherwise run backwards at the join. A packet's decode time
    never passes its presentation time this way, since no chunk reorders by more than ``delay``.
    """
    with av.open(str(path)) as src:
        stream = _chunk_stream(src, path)
        ctx = stream.codec_context
        if (ctx.width, ctx.height) != size or ctx.extradata != extradata:
            raise EngineError(f"chunk {path.name} was encoded differently from the first chunk")
        if stream.average_rate is not None and Fraction(stream.average_rate) != fps and stream.frames > 1:
            raise EngineError(f"chunk {path.name} has {stream.average_rate} fps, not {fps}")
        # Timestamps in frames: each chunk's pts run 0..n-1 (its writer numbers frames).
        scale = stream.time_base * fps
        frame_time = Fraction(1, 1) / fps
        count = 0
        for packet in src.demux(stream):
            if packet.dts is None:  # the demuxer's end-of-stream flush packet
                continue
            packet.pts = offset + int(round(packet.pts * scale))
            packet.dts = offset + count - delay
            packet.duration = max(1, int(round((packet.duration or 0) * scale)))
            packet.stream = vout
            packet.time_base = frame_time  # the muxer rebases to its own time base
            out.mux(packet)
            count += 1
    return count
