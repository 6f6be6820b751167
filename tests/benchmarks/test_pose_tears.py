"""The unexplained-edge map of benchmarks/pose_tears.py (its sheets' red pixels) on a real face: a step
in the outline reads as a seam, the same frame and a smooth jaw motion do not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from benchmarks.measure import FaceMeasurer

from benchmarks import pose_tears as PT
from reperform import landmarks as L
from reperform import media

pytestmark = pytest.mark.media


@pytest.fixture(scope="module")
def face(media_dir):
    info = media.probe(media_dir / "videos" / "pcavs_00373.mp4")
    rgb = next(iter(media.iter_frames(info)))[2]
    with FaceMeasurer() as fm:
        lm = fm.landmarks(rgb)
    assert lm is not None
    return rgb, lm


def test_the_same_frame_has_no_tear(face):
    rgb, lm = face
    score, torn = PT.tear_map(rgb, rgb.copy(), lm, lm)
    assert score == 0.0 and not torn.any()


def test_a_lower_face_shifted_against_the_cheek_line_is_a_tear(face):
    """The judge's tear: the lower face cut out and moved a few pixels against the outline."""
    rgb, lm = face
    iod = float(L.interocular(lm))
    out = rgb.copy()
    y_cut = int(lm[L.NOSE_TIP, 1] + 0.4 * iod)
    x0 = int(lm[list(L.JAW_LINE), 0].min() - 0.3 * iod)
    x1 = int(lm[list(L.JAW_LINE), 0].max() + 0.3 * iod)
    shift = max(3, int(round(0.08 * iod)))
    out[y_cut:, x0 + shift:x1] = rgb[y_cut:, x0:x1 - shift]
    score, _ = PT.tear_map(rgb, out, lm, lm)
    assert score > 2 * PT.SEAM_FRAME_PX_IOD


def test_a_smooth_jaw_drop_is_not_a_tear(face):
    """The chin moved down by a smooth field, neck and outline with it: motion, not a tear."""
    rgb, lm = face
    iod = float(L.interocular(lm))
    h, w = rgb.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    chin = lm[L.CHIN, :2]
    d2 = ((xs - chin[0]) ** 2 + (ys - chin[1]) ** 2) / (0.6 * iod) ** 2
    drop = (0.08 * iod * np.exp(-d2)).astype(np.float32)
    out = cv2.remap(rgb, xs, ys - drop, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    moved = lm.copy()
    moved[:, 1] += 0.08 * iod * np.exp(-(((lm[:, 0] - chin[0]) ** 2 + (lm[:, 1] - chin[1]) ** 2) / (0.6 * iod) ** 2))
    score, _ = PT.tear_map(rgb, out, lm, moved)
    assert score < PT.SEAM_FRAME_PX_IOD
