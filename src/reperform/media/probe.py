"""file → MediaInfo without decoding the whole file."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av

from ..errors import MediaMetadataMissing, MediaUnreadable
from ..records import MediaInfo

log = logging.getLogger(__name__)

#: Frame rate given to still images (the output of a photo is a video at this rate).
IMAGE_FPS = Fraction(25)
#: Codecs that mean "a still picture" when a container holds a single frame of them.
IMAGE_CODECS = {"png", "mjpeg", "jpeg2000", "bmp", "webp", "tiff", "gif", "jpegls", "qoi"}
IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif", "j2k_pipe"}
#: Refuse visuals above 4K: the pipeline's memory budget is sized for it.
MAX_PIXELS = 4096 * 2304


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise MediaUnreadable(f"file not found: {path}")
    if path.is_dir():
        raise MediaUnreadable(f"is a directory, not a media file: {path}")
    if path.stat().st_size == 0:
        raise MediaUnreadable(f"file is empty: {path}")
    try:
        return av.open(str(path), "r")
    except (av.FFmpegError, UnicodeDecodeError, OSError) as exc:
        raise MediaUnreadable(f"not a readable media file: {path.name} ({exc.__class__.__name__})") from exc


def _rotation(stream: av.video.stream.VideoStream, container: av.container.InputContainer) -> int:
    """Display rotation from the first decoded frame (PyAV reads the display matrix)."""
    try:
        for frame in container.decode(stream):
            rot = int(round(getattr(frame, "rotation", 0) or 0)) % 360
            return (-rot) % 360 if rot else 0
    except av.FFmpegError:
        return 0
    return 0


def probe(path: str | Path) -> MediaInfo:
    """Read what a file holds. Raises :class:`MediaUnreadable` for anything that is not media."""
    path = Path(path)
    container = _open(path)
    try:
        vstreams = [s for s in container.streams.video if s.codec_context is not None]
        astreams = list(container.streams.audio)
        fmt = container.format.name.split(",")[0] if container.format else ""
        audio_rate = int(astreams[0].rate or 0) if astreams else 0
        tb_dur = float(container.duration / av.time_base) if container.duration else 0.0
        a_dur = 0.0
        if astreams:
            s = astreams[0]
            a_dur = float(s.duration * s.time_base) if s.duration and s.time_base else tb_dur
        if not vstreams:
            if not astreams:
                raise MediaUnreadable(f"no audio or video stream in {path.name}")
            return MediaInfo(
                path=path, kind="audio", width=0, height=0, fps=Fraction(0), n_frames=0,
                duration_s=a_dur, video_start_s=0.0, rotation_deg=0, has_audio=True,
                audio_rate=audio_rate, video_codec="", audio_duration_s=a_dur,
            )
        vs = vstreams[0]
        codec = vs.codec_context.name or ""
        width, height = int(vs.codec_context.width or 0), int(vs.codec_context.height or 0)
        if width <= 0 or height <= 0:
            raise MediaMetadataMissing(f"video stream of {path.name} has no frame size")
        is_image = fmt in IMAGE_FORMATS or (codec in IMAGE_CODECS and (vs.frames or 0) <= 1 and tb_dur < 0.2)
        rotation = 0 if is_image else _rotation(vs, container)
        if rotation in (90, 270):
            width, height = height, width
        if width * height > MAX_PIXELS:
            raise MediaUnreadable(f"{path.name} is {width}x{height}; the largest supported size is 4K")
        if is_image:
            return MediaInfo(
                path=path, kind="image", width=width, height=height, fps=IMAGE_FPS, n_frames=1,
                duration_s=0.0, video_start_s=0.0, rotation_deg=0, has_audio=False, audio_rate=0,
                video_codec=codec,
            )
        fps = vs.average_rate or vs.guessed_rate or vs.base_rate
        if not fps or float(fps) <= 0 or float(fps) > 240:
            raise MediaMetadataMissing(f"video stream of {path.name} has no usable frame rate")
        fps = Fraction(fps).limit_denominator(1001)
        v_dur = float(vs.duration * vs.time_base) if vs.duration and vs.time_base else tb_dur
        v_start = float(vs.start_time * vs.time_base) if vs.start_time is not None and vs.time_base else 0.0
        a_start = 0.0
        if astreams and astreams[0].start_time is not None and astreams[0].time_base:
            a_start = float(astreams[0].start_time * astreams[0].time_base)
        n_frames = int(vs.frames or round(v_dur * float(fps)))
        return MediaInfo(
            path=path, kind="video", width=width, height=height, fps=fps, n_frames=n_frames,
            duration_s=v_dur, video_start_s=max(0.0, v_start - a_start) if astreams else 0.0,
            rotation_deg=rotation, has_audio=bool(astreams), audio_rate=audio_rate, video_codec=codec,
            audio_duration_s=a_dur,
        )
    finally:
        container.close()
