"""Benchmark inputs made from the shared clips with PyAV, and the do-nothing baseline.

All files go under ``benchmarks/.work/`` and are rebuilt only when missing. The baseline is the
engine's own media path with the edit left out — same time map, same decoder, same H.264/AAC
writer and settings — so any difference between it and an output is the edit alone.
"""

from __future__ import annotations

import logging
import wave
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from reperform import media
from reperform.media.audio import OUTPUT_RATE
from reperform.options import SyncMode

log = logging.getLogger(__name__)

WORK_DIR = Path(__file__).resolve().parent / ".work"
#: Height (px) of each speed-test resolution; frames are padded to 16:9 so pixel counts are the
#: real 480p/720p/1080p ones.
SPEED_HEIGHTS = (480, 720, 1080)
#: Length of the long input the memory target is stated for.
LONG_INPUT_S = 60.0
#: A typical clip length for the speed table (react-1's own limit is 15 s; talking-head clips
#: are usually 10-60 s).
TYPICAL_INPUT_S = 30.0


@dataclass(frozen=True, slots=True)
class HalfSplit:
    """A clip cut in two: its first half (pictures and sound) and its second half's sound."""

    video: Path  # first half, with the sound under it
    audio: Path  # second half's audio (WAV)
    half_frame: int  # first source frame of the second half (ground truth starts here)
    fps: float


@dataclass(frozen=True, slots=True)
class Window:
    """One cross-segment task cut from a clip: a source window (its pictures with the sound under
    them, as a user's video) driven by the audio of the target window that follows it; the
    target window's real mouth is the truth."""

    clip: str
    index: int  # 0-based, in clip order
    pairs: int  # how many windows the clip was cut into
    video: Path  # source window: frames [source_start, target_start) with their sound
    audio: Path  # the target window's audio (WAV)
    source_start: int  # first source frame (index in the clip)
    target_start: int  # first truth frame (index in the clip)
    n_frames: int  # frames in the source window
    fps: float

    @property
    def label(self) -> str:
        return self.clip if self.pairs == 1 else f"{self.clip} #{self.index + 1}/{self.pairs}"


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Mono float samples → 16-bit PCM WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def count_frames(clip: Path) -> int:
    """Frames the engine's decoder yields for ``clip`` (the container's count can be an estimate)."""
    info = media.probe(clip)
    return sum(1 for _ in media.iter_frames(info))


def split_windows(clip: Path, pairs: int, work: Path = WORK_DIR) -> list[Window]:
    """Cut ``clip`` into ``pairs`` disjoint (source, target) windows of equal length, in order.

    With ``n`` frames and ``L = n // (2·pairs)``, window ``i``'s source is frames
    ``[2iL, (2i+1)L)`` and its target ``[(2i+1)L, (2i+2)L)``; the last target runs to the end of
    the clip (for one pair: the two halves). Source windows keep their own sound, as a user's
    video has — the engine learns the speaker's mouth habits from it (``motion.adapt``). Cuts are
    made at frames *as shown against the audio* (the video stream may start after the audio, as in
    the Hamilton clip), so each source keeps its sound in sync. Frames are streamed, never all held.
    """
    info = media.probe(clip)
    fps = float(info.fps)
    n = count_frames(clip)
    size = n // (2 * pairs)
    tag = f"w{{}}of{pairs}"
    windows = [
        Window(clip.stem, i, pairs, work / f"{clip.stem}.{tag.format(i + 1)}.source.mp4",
               work / f"{clip.stem}.{tag.format(i + 1)}.target.wav", 2 * i * size, (2 * i + 1) * size, size, fps)
        for i in range(pairs)
    ]
    if all(w.video.exists() and w.audio.exists() for w in windows):
        return windows
    work.mkdir(parents=True, exist_ok=True)
    sound = media.load_audio_for_output(clip)

    def at(frame: int, rate: int) -> int:
        return int(round((info.video_start_s + frame / fps) * rate))

    writers: dict[int, media.Mp4Writer] = {}
    try:
        for index, _t, rgb in media.iter_frames(info):
            w = next((w for w in windows if w.source_start <= index < w.target_start), None)
            if w is None:
                continue
            if w.index not in writers:
                part = sound[:, at(w.source_start, OUTPUT_RATE):at(w.target_start, OUTPUT_RATE)]
                writers[w.index] = media.Mp4Writer(w.video, rgb.shape[1], rgb.shape[0], info.fps, part, w.n_frames)
            writers[w.index].write(rgb)
    except BaseException:
        for wr in writers.values():
            wr.abort()
        raise
    for wr in writers.values():
        wr.close()
    audio = media.load_audio(clip, rate=48000)
    for w in windows:
        end = len(audio.samples) if w.index == pairs - 1 else at(w.target_start + size, audio.rate)
        write_wav(w.audio, audio.samples[at(w.target_start, audio.rate):end], audio.rate)
    return windows


def split_halves(clip: Path, work: Path = WORK_DIR) -> HalfSplit:
    """First half of ``clip`` (its frames and the sound under them) and the audio under its second
    half: :func:`split_windows` with one pair."""
    w = split_windows(clip, 1, work)[0]
    return HalfSplit(w.video, w.audio, w.target_start, w.fps)


def without_sound(video: Path) -> Path:
    """``video``'s pictures alone (a silent copy, written once beside it): a picture-only source."""
    out = video.with_name(video.stem + ".mute.mp4")
    if not out.exists():
        info = media.probe(video)
        with media.Mp4Writer(out, info.width, info.height, info.fps, None, info.n_frames) as w:
            for _i, _t, rgb in media.iter_frames(info):
                w.write(rgb)
    return out


def make_baseline(video: Path, audio: Path, out: Path, sync_mode: SyncMode = SyncMode.cut_off) -> Path:
    """The do-nothing output: ``video``'s frames on the engine's time map, ``audio`` muxed, no edit.

    """
    info = media.probe(video)
    times = np.array([t for _i, t, _rgb in media.iter_frames(info)])  # what the analysis pass records
    drive = media.load_audio(audio)
    tm = media.build_timemap(times, info.fps, drive.duration_s, sync_mode, still=info.kind == "image")
    source = media.FrameSource(info, times)
    try:
        with media.Mp4Writer(out, info.width, info.height, tm.fps, media.load_audio_for_output(audio), tm.n_out) as w:
            for k in range(tm.n_out):
                w.write(source.get(int(tm.src_frame[k])))
    finally:
        source.close()
    return out


def decode_encode_floor(video: Path, out: Path) -> Path:
    """The speed floor: one plain decode of ``video`` into the engine's writer with its own audio.

    Any generator must at least decode and encode every frame; this is that cost and nothing else.
    """
    info = media.probe(video)
    audio = media.load_audio_for_output(video) if info.has_audio else None
    with media.Mp4Writer(out, info.width, info.height, info.fps, audio, info.n_frames) as w:
        for _i, _t, rgb in media.iter_frames(info):
            w.write(rgb)
    return out


def _letterbox(rgb: np.ndarray, height: int) -> np.ndarray:
    """Scale to ``height`` keeping aspect, then pad with black to 16:9 (even sizes)."""
    h, w = rgb.shape[:2]
    new_w = int(round(w * height / h)) // 2 * 2
    scaled = cv2.resize(rgb, (new_w, height), interpolation=cv2.INTER_AREA if height < h else cv2.INTER_CUBIC)
    width = max(new_w, int(round(height * 16 / 9)) // 2 * 2)
    out = np.zeros((height, width, 3), np.uint8)
    x0 = (width - new_w) // 2
    out[:, x0 : x0 + new_w] = scaled
    return out


def make_scaled(clip: Path, height: int, work: Path = WORK_DIR, min_duration_s: float = 0.0) -> Path:
    """``clip`` scaled to a 16:9 frame of ``height`` px with its own audio; looped (picture and
    sound together) until at least ``min_duration_s`` long."""
    suffix = f".{int(min_duration_s)}s" if min_duration_s else ""
    out = work / f"{clip.stem}.{height}p{suffix}.mp4"
    if out.exists():
        return out
    work.mkdir(parents=True, exist_ok=True)
    info = media.probe(clip)
    frames = [_letterbox(rgb, height) for _i, _t, rgb in media.iter_frames(info)]
    audio = media.load_audio_for_output(clip)
    clip_s = len(frames) / float(info.fps)
    loops = max(1, int(np.ceil(min_duration_s / clip_s))) if min_duration_s else 1
    per_loop = int(round(clip_s * OUTPUT_RATE))
    audio = np.pad(audio[:, :per_loop], ((0, 0), (0, max(0, per_loop - audio.shape[1]))))
    audio = np.tile(audio, (1, loops))
    h, w = frames[0].shape[:2]
    with media.Mp4Writer(out, w, h, info.fps, audio, len(frames) * loops) as wr:
        for _ in range(loops):
            for rgb in frames:
                wr.write(rgb)
    log.info("made %s (%dx%d, %d frames)", out.name, w, h, len(frames) * loops)
    return out


def extract_audio(clip: Path, work: Path = WORK_DIR) -> Path:
    """The clip's own audio as a WAV (the driving audio of the speed runs)."""
    out = work / f"{clip.stem}.audio.wav"
    if not out.exists():
        a = media.load_audio(clip, rate=48000)
        write_wav(out, a.samples, a.rate)
    return out
