"""Two-person videos made from the real single-person clips, with the truth of who speaks.

A composite is a list of shots; each shot shows two (or one) real talking clips as tiles side by
side (``layout="h"``) or one above the other (``"v"``) and carries the *own* sound of one of them
(its ``voice``): that person is the true speaker of the shot, the other one talks silently. Cuts
between shots may swap who is where and who is heard. The tests (``tests/face``, ``tests/e2e``)
and ``benchmarks/speakers.py`` build them; nothing here is synthetic but the arrangement.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from reperform import media

#: Audio rate of the composites' AAC track.
RATE = 44100


@dataclass(frozen=True)
class Shot:
    """``tiles``: (clip file name under videos/, start second in it) per tile; ``voice``: the tile
    whose own sound the shot carries; ``seconds``: the shot's length."""

    tiles: tuple[tuple[str, float], ...]
    voice: int
    seconds: float


@dataclass(frozen=True)
class Composite:
    path: Path
    fps: int
    tile: int
    layout: str
    shots: tuple[Shot, ...]
    starts: tuple[int, ...]  # first frame of each shot

    @property
    def n_frames(self) -> int:
        return self.starts[-1] + round(self.shots[-1].seconds * self.fps)

    def rect(self, position: int) -> tuple[int, int, int, int]:
        """x0, y0, x1, y1 of tile ``position``."""
        t = self.tile
        return (position * t, 0, position * t + t, t) if self.layout == "h" else (0, position * t, t, position * t + t)

    def shot_of(self, frame: int) -> int:
        return int(np.searchsorted(self.starts, frame, side="right") - 1)

    def speaker_rect(self, frame: int) -> tuple[int, int, int, int]:
        """The true speaker's tile on ``frame``."""
        return self.rect(self.shots[self.shot_of(frame)].voice)

    def rect_of(self, frame: int, clip: str) -> tuple[int, int, int, int] | None:
        """Where ``clip``'s person is on ``frame`` (None: not in that shot)."""
        tiles = [name for name, _ in self.shots[self.shot_of(frame)].tiles]
        return self.rect(tiles.index(clip)) if clip in tiles else None


def _clip_frames(path: Path, start_s: float, n: int, fps: int, tile: int) -> list[np.ndarray]:
    """``n`` frames of ``path`` from ``start_s`` at ``fps`` (nearest source frame), centre-cropped
    square and resized to ``tile``."""
    info = media.probe(path)
    want = start_s + np.arange(n) / fps
    out: list[np.ndarray] = []
    for _i, t_s, rgb in media.iter_frames(info):
        while len(out) < n and t_s + 0.5 / float(info.fps) >= want[len(out)]:
            out.append(_square(rgb, tile))
        if len(out) == n:
            break
    if len(out) < n:
        raise ValueError(f"{path.name} is too short for {n} frames from {start_s} s")
    return out


def _square(rgb: np.ndarray, tile: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 3, (w - s) // 2  # portraits: keep the upper part, where the face is
    return cv2.resize(rgb[y0:y0 + s, x0:x0 + s], (tile, tile), interpolation=cv2.INTER_AREA)


def _clip_audio(path: Path, start_s: float, seconds: float) -> np.ndarray:
    audio = media.load_audio(path, rate=RATE).samples
    a, n = int(start_s * RATE), int(round(seconds * RATE))
    part = audio[a:a + n]
    return np.pad(part, (0, n - len(part)))


def build(path: Path, videos: Path, shots: list[Shot], layout: str = "h", tile: int = 320, fps: int = 25) -> Composite:
    """Write the composite to ``path`` (H.264 CRF 16, AAC) and describe it."""
    starts, pics, sound = [], [], []
    n_total = 0
    for shot in shots:
        n = round(shot.seconds * fps)
        starts.append(n_total)
        n_total += n
        tiles = [_clip_frames(videos / name, s, n, fps, tile) for name, s in shot.tiles]
        pics.extend(np.concatenate(group, axis=1 if layout == "h" else 0) for group in zip(*tiles, strict=True))
        name, start = shot.tiles[shot.voice]
        sound.append(_clip_audio(videos / name, start, n / fps))
    _write(path, pics, np.concatenate(sound), fps)
    return Composite(path, fps, tile, layout, tuple(shots), tuple(starts))


def _write(path: Path, pics: list[np.ndarray], sound: np.ndarray, fps: int) -> None:
    h, w = pics[0].shape[:2]
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=Fraction(fps), options={"crf": "16", "preset": "veryfast",
                                                                     **media.encode.x264_options()})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = c.add_stream("aac", rate=RATE, layout="mono")
        for i, img in enumerate(pics):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        for start in range(0, len(sound), 1024):
            fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(sound[None, start:start + 1024], np.float32),
                                            format="fltp", layout="mono")
            fr.sample_rate, fr.pts = RATE, start
            for p in a.encode(fr):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)


# The standard set: the tests use the first three, the benchmark all of them.
VR2, VR4, PCAVS, DFRF, GERMAN = ("videoretalking_2.mp4", "videoretalking_4.mp4", "pcavs_00373.mp4",
                                  "dfrf_cnn2_25fps.mp4", "mimictalk_German_20s.mp4")


def side_by_side(path: Path, videos: Path, voice: int = 0, seconds: float = 4.0) -> Composite:
    """vr2 left, vr4 right, one shot with the sound of ``voice``."""
    return build(path, videos, [Shot(((VR2, 0.0), (VR4, 0.0)), voice, seconds)], "h")


def stacked(path: Path, videos: Path, voice: int = 1, seconds: float = 4.0) -> Composite:
    """vr4 above vr2, one shot with the sound of ``voice``."""
    return build(path, videos, [Shot(((VR4, 0.0), (VR2, 0.0)), voice, seconds)], "v")


def swap_cut(path: Path, videos: Path) -> Composite:
    """Three shots, people swapping places at each cut: [vr2 | vr4] heard vr2; [vr4 | vr2] heard
    vr4; [vr2 | vr4] heard vr2 (later in both clips)."""
    return build(path, videos, [
        Shot(((VR2, 0.0), (VR4, 0.0)), 0, 2.0),
        Shot(((VR4, 2.0), (VR2, 2.0)), 0, 2.0),
        Shot(((VR2, 3.0), (VR4, 4.0)), 0, 1.6),
    ], "h")


# --- measuring an output ------------------------------------------------------------------------


def frames(path: Path) -> list[np.ndarray]:
    """Every decoded RGB frame of ``path``."""
    return [rgb for _i, _t, rgb in media.iter_frames(media.probe(path))]


def reencode(src: Path, dst: Path) -> Path:
    """``src``'s frames through the engine's own encoder, untouched: what "as filmed" can mean
    once the output is H.264 again (the codec's loss, not the edit's)."""
    info = media.probe(src)
    pics = frames(src)
    with media.Mp4Writer(dst, info.width, info.height, info.fps, None, len(pics)) as w:
        for pic in pics:
            w.write(pic)
    return dst


def without_sound(src: Path, dst: Path) -> Path:
    """``src``'s video stream alone, remuxed (not re-encoded): a real clip with no sound of its own,
    the case where auto speaker selection cannot listen and says so in the result's warnings."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is None:  # the demuxer's flush packet
                continue
            packet.stream = stream
            out.mux(packet)
    return dst


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) of two uint8 images; 99 when identical."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def crop(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return img[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]


def face_boxes(pics: list[np.ndarray]) -> list[list[tuple[int, int, int, int]]]:
    """MediaPipe's face detections on every frame (x0, y0, x1, y1 px): where to measure."""
    from reperform.face.detect import MeshRunner

    runner = MeshRunner()
    try:
        return [[tuple(int(v) for v in d.box) for d in runner.detect(p)] for p in pics]
    finally:
        runner.close()


def face_in(boxes: list[tuple[int, int, int, int]], rect: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    """The detected face whose centre lies in ``rect`` (a tile), or None."""
    for b in boxes:
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        if rect[0] <= cx < rect[2] and rect[1] <= cy < rect[3]:
            return b
    return None


def lower_half(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The mouth and chin part of a detector box."""
    return box[0], (box[1] + box[3]) // 2, box[2], box[3]
