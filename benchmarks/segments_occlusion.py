"""Segments and occluders (issue 17 part B): how seamless the joins are, whether what is in front of
the face comes out as filmed, and what occluder detection costs.

    .venv/bin/python -m benchmarks.segments_occlusion   # writes benchmarks/sections/segments_occlusion.md
                                                        # (benchmarks/run.py puts it into docs/benchmarks.md)

* **Segment joins** — videoretalking_2 with two segments speaking two real voices: the largest
  frame-to-frame step of the output's mouth opening (MediaPipe, inter-ocular units) across each
  join and its ease, against the 99th percentile of steps everywhere else in the clip; the same
  for a hard switch (no ease) worked out from the plan; PSNR of the frames outside the segments.
* **Occluders** — a real hand (cut from a frame of the Hamilton clip, where it is raised against a
  dark curtain) composited moving over videoretalking_2's mouth, with its exact mask: PSNR of the
  hand's pixels in the output against the input, with occlusion detection on and off, and how
  much the mouth beside the hand was still edited. On the Hamilton clip itself, the singer's
  microphone (boxed by hand in three frames), on and off.
* **Cost** — ms per frame of :class:`reperform.face.OcclusionFinder` on both clips, beside the
  whole job's ms per frame.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import reperform  # noqa: E402
from benchmarks import sections  # noqa: E402
from reperform import Options, Segment, SegmentAudio  # noqa: E402
from reperform.face import FaceTracker, OcclusionFinder  # noqa: E402
from reperform.media import iter_frames, probe  # noqa: E402
from reperform.media.encode import x264_options  # noqa: E402

log = logging.getLogger("benchmarks.segments_occlusion")

FACE_CLIP = "videos/videoretalking_2.mp4"
HAMILTON = "videos/facerecognition_short_hamilton_clip.mp4"
VOICE_A = "audio/sadtalker_RD_Radio36_000.wav"
VOICE_B = "audio/echomimic_movie_0_clip_0.wav"
#: The Hamilton frame whose raised open hand (against the dark curtain) is cut out, and the box
#: (x0, y0, x1, y1) around it.
HAND_FRAME = 192
HAND_BOX = (300, 100, 450, 240)
#: Length of the composited clip (frames of videoretalking_2, 25 fps).
OCCLUDED_FRAMES = 75
#: The hand's height in the composite, in the face's inter-ocular distances.
HAND_HEIGHT_IOD = 1.6
#: Hand pixels compared: alpha at least this, eroded by this many pixels (chroma subsampling
#: blends the hand's border with the face in both the input and the output).
SOLID_ALPHA = 0.99
ERODE_PX = 3


def frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    out = []
    for index, _t, rgb in iter_frames(probe(path)):
        if limit is not None and index >= limit:
            break
        out.append(rgb)
    return out


def track(path: Path, limit: int | None = None):
    info = probe(path)
    tracker = FaceTracker(info.width, info.height)
    for index, _t, rgb in iter_frames(info):
        if limit is not None and index >= limit:
            break
        tracker.update(index, rgb)
    return tracker.finish()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


# --- a real hand over a real face -------------------------------------------------------------

def cut_hand(media: Path) -> np.ndarray:
    """RGBA of the raised hand in the Hamilton clip: bright, skin-hued pixels against the dark
    curtain (the white cuff is left out by hue), the largest such blob, edges softened by 1 px."""
    rgb = frames(media / HAMILTON, HAND_FRAME + 1)[HAND_FRAME]
    x0, y0, x1, y1 = HAND_BOX
    crop = rgb[y0:y1, x0:x1].astype(np.float32)
    total = crop.sum(axis=2) + 1.0
    skin = (total / 3 > 60) & (crop[..., 0] / total > 0.38)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(skin.astype(np.uint8), connectivity=8)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    mask = cv2.morphologyEx((labels == biggest).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0.6)
    ys, xs = np.nonzero(mask)
    sub = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    return np.dstack([crop[sub], alpha[sub] * 255]).astype(np.uint8)


def make_occluded_clip(media: Path, out: Path, n_frames: int = OCCLUDED_FRAMES) -> np.ndarray:
    """``out``: the first ``n_frames`` of videoretalking_2 with the real hand moving in from the
    lower right over the mouth's corner and chin, holding, and leaving. Returns the hand's alpha
    per frame (float32[n, h, w])."""
    src = media / FACE_CLIP
    faces = track(src, n_frames)
    hand = cut_hand(media)
    masks, written = [], []
    for k, rgb in enumerate(frames(src, n_frames)):
        lm, iod = faces.landmarks[k, :, :2], float(faces.scale[k])
        scale = HAND_HEIGHT_IOD * iod / hand.shape[0]
        h = cv2.resize(hand, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        t = min(k, n_frames - 1 - k) / (n_frames / 3)  # in over a third, hold, out over a third
        ease = float(np.clip(t, 0.0, 1.0))
        ease = ease * ease * (3 - 2 * ease)
        corner = lm[291]  # the subject's left mouth corner (image right)
        far = corner + np.array([2.5, 2.0]) * iod
        near = corner + np.array([-0.9, -0.35]) * iod  # thumb over the chin, fingers over the mouth corner
        x, y = np.round(far + ease * (near - far)).astype(int)
        frame, alpha = rgb.astype(np.float32), np.zeros(rgb.shape[:2], np.float32)
        hh, hw = h.shape[:2]
        fx0, fy0, fx1, fy1 = max(x, 0), max(y, 0), min(x + hw, rgb.shape[1]), min(y + hh, rgb.shape[0])
        if fx1 > fx0 and fy1 > fy0:
            part = h[fy0 - y: fy1 - y, fx0 - x: fx1 - x].astype(np.float32)
            a = part[..., 3:] / 255.0
            frame[fy0:fy1, fx0:fx1] = a * part[..., :3] + (1 - a) * frame[fy0:fy1, fx0:fx1]
            alpha[fy0:fy1, fx0:fx1] = a[..., 0]
        written.append(np.clip(frame + 0.5, 0, 255).astype(np.uint8))
        masks.append(alpha)
    _write(out, written, src)
    return np.stack(masks)


def _write(path: Path, images: list[np.ndarray], like: Path) -> None:
    """H.264 at high quality (CRF 12), the source clip's frame rate, with the source's sound."""
    info = probe(like)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=info.fps)
        stream.width, stream.height = images[0].shape[1], images[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "12", **x264_options()}
        for img in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


#: The lower face, for "is the hand over the face": the jaw line up to the nose tip.
LOWER_FACE = (58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 1)


def solid(mask: np.ndarray) -> np.ndarray:
    """The occluder's solid pixels: alpha >= SOLID_ALPHA, eroded by ERODE_PX."""
    return cv2.erode((mask >= SOLID_ALPHA).astype(np.uint8), np.ones((2 * ERODE_PX + 1,) * 2, np.uint8)) > 0


def over_face(faces, masks: np.ndarray, min_px: int = 200) -> list[int]:
    """Frames whose solid occluder pixels cover part of the lower face (where an edit could reach them)."""
    out = []
    for k in range(len(masks)):
        face = np.zeros(masks[k].shape, np.uint8)
        cv2.fillPoly(face, [cv2.convexHull(np.round(faces.landmarks[k, list(LOWER_FACE), :2]).astype(np.int32))], 1)
        if (solid(masks[k]) & (face > 0)).sum() > min_px:
            out.append(k)
    return out


@dataclass
class OccluderScore:
    clip: str
    occlusion: bool
    hand_psnr_db: float  # worst frame's PSNR over the occluder's pixels, output vs input, hand over the face
    hand_psnr_median_db: float
    hand_psnr_anywhere_db: float  # worst frame wherever the hand is (beside the face: re-encoding only)
    beside_psnr_db: float  # median PSNR over the mouth box minus the occluder, hand over the face (edited: low)
    frames: int
    ms_per_frame_job: float


def score_occluded(clip: Path, masks: np.ndarray, drive: Path, out: Path, occlusion: bool) -> OccluderScore:
    t0 = time.perf_counter()
    reperform.generate(clip, drive, out, Options(mode="lips", occlusion=occlusion))
    job_s = time.perf_counter() - t0
    src, dst, faces = frames(clip), frames(out), track(clip)
    covering = set(over_face(faces, masks))
    per: dict[int, float] = {}
    beside = []
    for k in range(min(len(src), len(dst), len(masks))):
        hand = solid(masks[k])
        if hand.sum() < 50:
            continue
        per[k] = psnr(src[k][hand], dst[k][hand])
        if k in covering and faces.present[k]:
            lips = faces.landmarks[k, [61, 291, 0, 17], :2]
            (bx0, by0), (bx1, by1) = lips.min(0).astype(int), lips.max(0).astype(int)
            free = np.zeros_like(hand)
            free[by0:by1, bx0:bx1] = True
            free &= ~(cv2.dilate(masks[k], np.ones((9, 9), np.uint8)) > 0.01)
            if free.sum() > 50:
                beside.append(psnr(src[k][free], dst[k][free]))
    over = [per[k] for k in covering if k in per]
    return OccluderScore(clip.name, occlusion, min(over, default=99.0), float(np.median(over)) if over else 99.0,
                         min(per.values(), default=99.0), float(np.median(beside)) if beside else 99.0, len(over),
                         1000 * job_s / max(len(dst), 1))


def finder_cost(clip: Path, limit: int | None = None) -> tuple[float, float]:
    """(ms per frame of OcclusionFinder.find, share of frames with an occluder found)."""
    faces = track(clip, limit)
    finder = OcclusionFinder(faces)
    times, found = [], 0
    try:
        for k, rgb in enumerate(frames(clip, limit)):
            t0 = time.perf_counter()
            occ = finder.find(k, rgb)
            times.append(time.perf_counter() - t0)
            found += occ is not None
    finally:
        finder.close()
    return 1000 * float(np.mean(times)), found / max(len(times), 1)


#: Hamilton frames (as decoded from the full clip) with the box around the microphone's dark head
#: under his chin (x0, y0, x1, y1), read off a pixel grid of each frame; its pixels are those
#: darker than MIC_DARK (mean of r, g, b) in the box.
MIC_BOXES = {170: (237, 146, 262, 158), 185: (222, 120, 260, 132), 190: (240, 121, 268, 131)}
MIC_DARK = 60.0


def hamilton_mic(media: Path, drive: Path, tmp: Path) -> dict[bool, list[float]]:
    """PSNR (output vs input) over the microphone's pixels in MIC_BOXES' frames, lips mode with
    occlusion on and off."""
    clip = media / HAMILTON
    src = frames(clip, max(MIC_BOXES) + 1)
    out: dict[bool, list[float]] = {}
    for occlusion in (True, False):
        path = tmp / f"hamilton_{occlusion}.mp4"
        reperform.generate(clip, drive, path, Options(mode="lips", occlusion=occlusion))
        dst = frames(path, max(MIC_BOXES) + 1)
        scores = []
        for k, (x0, y0, x1, y1) in MIC_BOXES.items():
            box = np.zeros(src[k].shape[:2], bool)
            box[y0:y1, x0:x1] = True
            mic = box & (src[k].astype(np.float32).mean(axis=2) < MIC_DARK)
            scores.append(psnr(src[k][mic], dst[k][mic]))
        out[occlusion] = scores
    return out


# --- segment joins ----------------------------------------------------------------------------

SEGMENTS = [(0.8, 2.4, "a", None), (3.0, 4.6, "b", (1.0, 2.6))]


@dataclass
class JoinScore:
    edge_step: float  # largest opening step across a join and its ease (inter-ocular units)
    hard_step: float  # the step a switch without the ease would make (plan vs filmed at the joins)
    p99_elsewhere: float
    outside_psnr_db: float  # worst frame outside every segment


def score_joins(media: Path, out: Path) -> JoinScore:
    from reperform.motion.ease import EASE_S

    segments = [Segment(start_s=a, end_s=b, audio=SegmentAudio(ref_id=ref, start_s=crop[0] if crop else None,
                                                               end_s=crop[1] if crop else None))
                for a, b, ref, crop in SEGMENTS]
    clip = media / FACE_CLIP
    reperform.generate(clip, {"a": media / VOICE_A, "b": media / VOICE_B}, out,
                       Options(mode="lips", segments=segments))
    fps = float(probe(clip).fps)
    opening = track(out).mouth[:, 0]
    filmed = track(clip).mouth[:, 0]
    steps = np.abs(np.diff(opening))
    ease_n = int(round(EASE_S * fps))
    near = np.zeros(len(steps), bool)
    hard = []
    for a, b, _, _ in SEGMENTS:
        for edge, inside in ((int(round(a * fps)), int(round(a * fps)) + ease_n),
                             (int(round(b * fps)), int(round(b * fps)) - ease_n - 1)):
            near[max(0, edge - ease_n - 1): edge + ease_n + 1] = True
            # Without the ease the mouth would jump from the filmed shape to the plan's fully
            # eased-in shape (the output's opening just inside the ease) in one frame.
            hard.append(abs(float(opening[inside]) - float(filmed[edge if edge < len(filmed) else -1])))
    src, dst = frames(clip), frames(out)
    outside = [k for k in range(min(len(src), len(dst))) if not any(a <= k / fps < b for a, b, _, _ in SEGMENTS)]
    return JoinScore(float(np.nanmax(steps[near])), float(np.max(hard)),
                     float(np.percentile(steps[~near & np.isfinite(steps)], 99)),
                     min(psnr(src[k], dst[k]) for k in outside))


# --- report -----------------------------------------------------------------------------------

def section(media: Path) -> str:
    """The body of the "Segments and occluders" section (markdown)."""
    with tempfile.TemporaryDirectory(prefix="bench-segocc-") as tmp_dir:
        tmp = Path(tmp_dir)
        log.info("segment joins")
        joins = score_joins(media, tmp / "segments.mp4")
        log.info("a real hand over a real face")
        clip = tmp / "hand_over_mouth.mp4"
        masks = make_occluded_clip(media, clip)
        off = score_occluded(clip, masks, media / VOICE_B, tmp / "off.mp4", False)
        on = score_occluded(clip, masks, media / VOICE_B, tmp / "on.mp4", True)
        log.info("the Hamilton microphone")
        mic = hamilton_mic(media, media / VOICE_A, tmp)
        log.info("finder cost")
        cost_hand, found_hand = finder_cost(clip)
        cost_ham, found_ham = finder_cost(media / HAMILTON)

    def dbs(values: list[float]) -> str:
        return " / ".join(f"{v:.1f}" for v in values)

    lines = [
        "`benchmarks/segments_occlusion.py`. Joins: videoretalking_2 with two segments speaking two real "
        "voices (0.8-2.4 s and 3.0-4.6 s, the second cropped), lips mode; the output's mouth opening measured "
        "with MediaPipe (inter-ocular units). Occluders: a real hand cut from the Hamilton clip composited "
        "moving over videoretalking_2's mouth (its exact mask; PSNR over its solid pixels, output vs input, "
        "frames where it is in the picture), lips mode driven by a real voice; the Hamilton singer's microphone "
        "under his chin (its dark head boxed by hand in three frames).", "",
        "| measure | result |", "|---|---|",
        f"| largest mouth-opening step across a join (with its ease) | {joins.edge_step:.3f} |",
        f"| the same switch without the ease (eased-in plan vs filmed shape) | {joins.hard_step:.3f} |",
        f"| 99th percentile of steps elsewhere in the clip | {joins.p99_elsewhere:.3f} |",
        f"| worst PSNR of a frame outside every segment (re-encoding only) | {joins.outside_psnr_db:.1f} dB |",
        f"| hand pixels while the hand covers the lower face ({on.frames} frames), occlusion on: worst / median "
        f"| {on.hand_psnr_db:.1f} / {on.hand_psnr_median_db:.1f} dB |",
        f"| the same, occlusion off: worst / median | {off.hand_psnr_db:.1f} / {off.hand_psnr_median_db:.1f} dB |",
        f"| hand pixels in any frame (beside the face too), worst, on / off | {on.hand_psnr_anywhere_db:.1f} / "
        f"{off.hand_psnr_anywhere_db:.1f} dB |",
        f"| mouth beside the hand (re-performed, so low), on / off | {on.beside_psnr_db:.1f} / "
        f"{off.beside_psnr_db:.1f} dB |",
        f"| Hamilton microphone pixels, frames {', '.join(map(str, MIC_BOXES))}: on | {dbs(mic[True])} dB |",
        f"| Hamilton microphone pixels, same frames: off | {dbs(mic[False])} dB |",
        f"| occluder finder, composite (844x844) / Hamilton (640x360) | {cost_hand:.1f} / {cost_ham:.1f} ms per "
        f"frame (occluder found in {found_hand:.0%} / {found_ham:.0%} of frames) |",
        f"| whole lips-mode job on the composite, occlusion off / on | {off.ms_per_frame_job:.0f} / "
        f"{on.ms_per_frame_job:.0f} ms per frame |",
        "",
        "Beside the face, away from any edit, the hand's PSNR is x264's re-encoding of its sharp edges alone "
        "(the same with occlusion off). Timings are on the shared 2-core machine under the load stamped above.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=Path(os.environ.get("REPERFORM_SHARED_MEDIA",
                                                                      REPO.parent / "shared" / "media")))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    path = sections.write("segments_occlusion", "Segments and occluders (issue 17)", section(args.media),
                          argv=["python", "-m", "benchmarks.segments_occlusion", *(argv or [])])
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
