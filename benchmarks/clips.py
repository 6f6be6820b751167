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


def split_halves(clip: Path, work: Path = WORK_DIR) -> HalfSplit:
    """First half of ``clip`` (its frames and the sound under them) and the audio under its second half.

    The first half keeps its own sound, as a user's video has: the engine learns the speaker's
    mouth habits from it (``motion.adapt``). Both cuts are made at frames *as shown against the
    audio* (the video stream may start after the audio, as in the Hamilton clip), so the first
    half's sound stays in sync with its pictures.
    """
    info = media.probe(clip)
    fps = float(info.fps)
    frames = [rgb for _i, _t, rgb in media.iter_frames(info)]
    half = len(frames) // 2
    out_v, out_a = work / f"{clip.stem}.first_half.av.mp4", work / f"{clip.stem}.second_half.wav"
    if not out_v.exists():
        out_v.parent.mkdir(parents=True, exist_ok=True)
        sound = media.load_audio_for_output(clip)
        a, b = (int(round(t * OUTPUT_RATE)) for t in (info.video_start_s, info.video_start_s + half / fps))
        h, w = frames[0].shape[:2]
        with media.Mp4Writer(out_v, w, h, info.fps, sound[:, a:b], half) as wr:
            for rgb in frames[:half]:
                wr.write(rgb)
    if not out_a.exists():
        audio = media.load_audio(clip, rate=48000)
        start = int(round((info.video_start_s + half / fps) * audio.rate))
        write_wav(out_a, audio.samples[start:], audio.rate)
    return HalfSplit(out_v, out_a, half, fps)


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
