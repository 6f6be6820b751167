"""Occluders in front of the lower face come out as filmed; the mouth is edited around them.

Two real cases: a real hand (cut from the Hamilton clip, where it is raised against a dark
curtain) composited moving over videoretalking_2's mouth — its exact mask is known — and the
Hamilton singer's own microphone under his lower lip (its dark head marked by hand in two frames).
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from benchmarks.segments_occlusion import (
    MIC_BOXES,
    MIC_DARK,
    VOICE_A,
    VOICE_B,
    frames,
    make_occluded_clip,
    over_face,
    psnr,
    solid,
    track,
)

import reperform
from reperform import Options
from reperform.face import OcclusionFinder
from reperform.media import probe

pytestmark = [pytest.mark.e2e, pytest.mark.media]

HAND_FRAMES = 60
#: Hamilton frames 150-214 (the singer with the microphone at his chin; MIC_BOXES's frames are
#: numbered as in the original clip).
HAMILTON_FIRST, HAMILTON_LAST = 150, 215


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory, media_dir: Path):
    tmp = tmp_path_factory.mktemp("hand")
    clip = tmp / "hand.mp4"
    masks = make_occluded_clip(media_dir, clip, HAND_FRAMES)
    out = tmp / "out.mp4"
    reperform.generate(clip, media_dir / VOICE_B, out, Options(mode="lips", occlusion=True))
    return clip, masks, out


def test_a_real_hand_over_the_mouth_comes_out_as_filmed_and_the_mouth_beside_it_is_edited(hand) -> None:
    clip, masks, out = hand
    src, dst = frames(clip), frames(out)
    covering = over_face(track(clip), masks)
    assert len(covering) >= 10, covering  # the composite does put the hand over the face
    worst = min(psnr(src[k][solid(masks[k])], dst[k][solid(masks[k])]) for k in covering)
    assert worst >= 40.0, worst
    faces = track(clip)
    beside = []
    for k in covering:
        lips = faces.landmarks[k, [61, 291, 0, 17], :2]
        (x0, y0), (x1, y1) = lips.min(0).astype(int), lips.max(0).astype(int)
        free = np.zeros(masks[k].shape, bool)
        free[y0:y1, x0:x1] = True
        free &= ~(cv2.dilate(masks[k], np.ones((9, 9), np.uint8)) > 0.01)
        if free.sum() > 50:
            beside.append(psnr(src[k][free], dst[k][free]))
    assert beside and np.median(beside) < 32.0, beside  # re-performed, not left as filmed


def test_the_finder_marks_the_hand_where_it_covers_the_face(hand) -> None:
    clip, masks, _ = hand
    faces = track(clip)
    covering = set(over_face(faces, masks))
    finder = OcclusionFinder(faces)
    covered = []
    try:
        for k, rgb in enumerate(frames(clip)):
            occ = finder.find(k, rgb)  # every frame, in order, as the render pass calls it
            if k not in covering:
                continue
            pixels = solid(masks[k])
            found = np.zeros(pixels.shape, np.float32)
            if occ is not None:
                x0, y0, x1, y1 = occ.box
                found[y0:y1, x0:x1] = occ.mask
            covered.append(float((found[pixels] > 0.5).mean()))
    finally:
        finder.close()
    assert len(covered) >= 10 and np.median(covered) > 0.9, covered



def _trimmed_hamilton(media_dir: Path, clip: Path) -> Path:
    src = frames(media_dir / "videos" / "facerecognition_short_hamilton_clip.mp4", HAMILTON_LAST)
    info = probe(media_dir / "videos" / "facerecognition_short_hamilton_clip.mp4")
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=info.fps)
        stream.width, stream.height, stream.pix_fmt = info.width, info.height, "yuv420p"
        stream.options = {"crf": "12"}
        for img in src[HAMILTON_FIRST:]:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return clip


@pytest.fixture(scope="module")
def hamilton(tmp_path_factory: pytest.TempPathFactory, media_dir: Path):
    tmp = tmp_path_factory.mktemp("hamilton")
    clip = _trimmed_hamilton(media_dir, tmp / "mic.mp4")
    outs = {}
    for occlusion in (True, False):
        outs[occlusion] = tmp / f"out_{occlusion}.mp4"
        reperform.generate(clip, media_dir / VOICE_A, outs[occlusion], Options(mode="lips", occlusion=occlusion))
    return clip, outs


def test_the_singers_microphone_is_kept_far_closer_to_filmed_with_occlusion_on(hamilton) -> None:
    """The microphone under his chin: its dark head's pixels (PSNR, output vs input) with
    occlusion on against off; his lips just above are re-performed either way.

    Not yet the 40 dB of the hand: the face mesh puts his jaw line across the microphone, and
    the hand holding it is not found in every frame, so part of the head is still dragged by
    the jaw's warp (measured: 34/25/24 dB on, 26/15/14 dB off; benchmarks/segments_occlusion.py).
    """
    clip, outs = hamilton
    src, on, off = frames(clip), frames(outs[True]), frames(outs[False])
    for original, (x0, y0, x1, y1) in MIC_BOXES.items():
        k = original - HAMILTON_FIRST
        box = np.zeros(src[k].shape[:2], bool)
        box[y0:y1, x0:x1] = True
        mic = box & (src[k].astype(np.float32).mean(axis=2) < MIC_DARK)
        assert mic.sum() > 60, mic.sum()
        kept, dragged = psnr(src[k][mic], on[k][mic]), psnr(src[k][mic], off[k][mic])
        assert kept >= dragged + 6.0 and kept >= 22.0, (original, kept, dragged)
        above = np.zeros_like(box)
        above[y0 - 14: y0 - 2, x0 - 6: x1 + 6] = True  # the lips and chin just above the microphone
        assert psnr(src[k][above], on[k][above]) < 35.0  # re-performed
