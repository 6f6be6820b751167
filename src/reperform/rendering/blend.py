"""Edit mask, low-frequency colour match and compositing of the synthesised lower face.

The warped exemplar comes from another moment of the clip: lighting, white balance or exposure
may differ slightly. A *low-frequency* correction (normalised convolution of the difference
between frame and exemplar, measured on skin only — mouth interiors excluded, since they are
supposed to differ) removes that without touching detail, so teeth and lip texture stay sharp
and the feathered seam has nothing to reveal.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Colour-match blur (inter-ocular units): larger than any facial feature, smaller than the face.
COLOUR_SIGMA_IOD = 0.22
#: Feather of the edit mask's edge (inter-ocular units).
FEATHER_SIGMA_IOD = 0.06
#: Occluder detection: blurred colour difference (levels) between frame and colour-matched exemplar
#: that starts/saturates the "something is in front" mask, the blur, and how far the mask grows.
OCCLUDER_DIFF_LO = 28.0
OCCLUDER_DIFF_HI = 55.0
OCCLUDER_SIGMA_IOD = 0.025
OCCLUDER_GROW_IOD = 0.05
#: Share of the ring around the mouth that may be covered before the whole edit fades out.
OCCLUDED_RING_SHARE = 0.25
#: Colour-match field is computed at most at this size (px) and upsampled: it is smooth anyway.
COLOUR_GRID_PX = 64


def fill_mask(shape: tuple[int, int], polys: list[np.ndarray]) -> np.ndarray:
    """Union of filled polygons (ROI pixels) as float32 0/1."""
    m = np.zeros(shape, np.uint8)
    for p in polys:
        cv2.fillPoly(m, [np.round(p * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return m.astype(np.float32)


def feather(mask: np.ndarray, sigma_px: float) -> np.ndarray:
    """Soft alpha from a hard mask; forced to exactly 0 on the ROI border so nothing leaks past it.

    Large feathers are blurred at half resolution (a Gaussian of σ > 4 px has nothing a half-size
    grid cannot carry) to keep the per-frame cost flat for big faces.
    """
    h, w = mask.shape
    if sigma_px > 4 and min(h, w) > 16:
        small = cv2.resize(mask, (w // 2, h // 2), interpolation=cv2.INTER_LINEAR)  # exact ½: a 2×2 mean
        a = cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma_px / 2), (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        a = cv2.GaussianBlur(mask, (0, 0), max(sigma_px, 0.5))
    a[a < 1.0 / 512] = 0.0
    a[0, :] = a[-1, :] = 0.0
    a[:, 0] = a[:, -1] = 0.0
    return a


def colour_match(warped: np.ndarray, frame: np.ndarray, weight: np.ndarray, sigma_px: float) -> np.ndarray:
    """float32 ``warped`` (uint8) plus the smooth frame−warped difference measured where ``weight`` > 0.

    Everything is computed on a grid of at most COLOUR_GRID_PX: the correction is low-frequency by
    construction, so this loses nothing and costs ~1 ms.
    """
    h, w = weight.shape
    levels = 0
    while max(h, w) >> levels > COLOUR_GRID_PX and levels < 6:
        levels += 1
    f = 2**levels
    ws, fs, wp = weight, frame, warped
    for _ in range(levels):  # Gaussian pyramid: anti-aliased and ~10× cheaper than INTER_AREA
        ws, fs, wp = cv2.pyrDown(ws), cv2.pyrDown(fs), cv2.pyrDown(wp)
    fs, wp = fs.astype(np.float32), wp.astype(np.float32)
    diff = (fs - wp) * ws[..., None]
    s = max(sigma_px / f, 0.5)
    num = cv2.GaussianBlur(diff, (0, 0), s)
    den = cv2.GaussianBlur(ws, (0, 0), s)
    total_w = float(ws.sum())
    mean = diff.reshape(-1, 3).sum(0) / total_w if total_w > 0 else np.zeros(3, np.float32)
    # Where no skin was measured nearby, fall back smoothly to the mean difference.
    k = np.clip(den / 0.2, 0, 1)[..., None]
    corr = k * num / np.maximum(den, 1e-6)[..., None] + (1 - k) * mean[None, None, :]
    corr = cv2.resize(corr.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.add(warped, corr, dtype=cv2.CV_32F)


def composite(frame_roi: np.ndarray, synth: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 ROI: frame where alpha is 0 (bit-exact), the synthesised face where it is 1."""
    a = np.ascontiguousarray(alpha, np.float32)
    out = cv2.blendLinear(synth, frame_roi.astype(np.float32), a, 1.0 - a)
    # Rounded and saturated (negative values clamped first: convertScaleAbs takes |x|); frame
    # values are integers, so alpha == 0 gives them back exactly.
    return cv2.convertScaleAbs(cv2.max(out, 0.0))


def occluder_mask(
    frame_roi: np.ndarray, synth: np.ndarray, region: np.ndarray, mouth_ring: np.ndarray, iod_px: float,
    also: np.ndarray | None = None,
) -> np.ndarray:
    """Where something covers the face (a hand, a microphone), 0..1 per ROI pixel.

    The colour-matched exemplar and the frame show the same skin wherever nothing moved; a large,
    smooth difference in ``region`` (skin away from the lips and jaw lines, where differences are
    expected) means an occluder in front of the face in one of them. The frame must win there.
    If occluders surround the mouth (``mouth_ring`` share above OCCLUDED_RING_SHARE), the mouth
    itself is taken as covered and the whole edit fades out, rather than painting lips over a hand.
    ``also``: a second view of the frame (the frame warped onto the edit's geometry); only what
    differs from both counts — an occluder is in both, a moved chin or a stretched old mouth in one.
    """
    sigma = max(OCCLUDER_SIGMA_IOD * iod_px, 0.8)
    diff = cv2.absdiff(frame_roi.astype(np.float32), synth).max(axis=2)
    if also is not None:
        diff = np.minimum(diff, cv2.absdiff(also.astype(np.float32), synth).max(axis=2))
    diff = cv2.GaussianBlur(diff, (0, 0), sigma)
    occ = np.clip((diff - OCCLUDER_DIFF_LO) / (OCCLUDER_DIFF_HI - OCCLUDER_DIFF_LO), 0, 1) * region
    ring_w = float(mouth_ring.sum())
    covered = float((occ * mouth_ring).sum()) / ring_w if ring_w > 0 else 0.0
    grow = max(int(round(OCCLUDER_GROW_IOD * iod_px)), 1)
    occ = cv2.dilate(occ, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    occ = cv2.GaussianBlur(occ, (0, 0), sigma)
    whole = np.clip((covered - OCCLUDED_RING_SHARE) / OCCLUDED_RING_SHARE, 0, 1)
    return np.maximum(occ, whole)


def fade_edit(frame: np.ndarray, edited: np.ndarray, box: tuple[int, int, int, int], alpha: float) -> np.ndarray:
    """``edited`` shown at ``alpha`` over ``frame`` inside ``box`` (an edge frame of a segment
    easing in or out); outside the box ``edited`` is the frame already. Returns ``edited``,
    changed in place (it is the renderer's own copy)."""
    x0, y0, x1, y1 = box
    roi = edited[y0:y1, x0:x1]
    cv2.addWeighted(roi, alpha, frame[y0:y1, x0:x1], 1.0 - alpha, 0.0, dst=roi)
    return edited


def keep_filmed(out: np.ndarray, frame: np.ndarray, box: tuple[int, int, int, int], mask: np.ndarray) -> np.ndarray:
    """``out`` with the filmed ``frame`` put back where ``mask`` (0..1 over ``box``) marks an
    occluder: a hand or a microphone in front of the face comes out as filmed, the re-performed
    mouth stays around and behind it. Changes ``out`` in place (the caller's own copy)."""
    x0, y0, x1, y1 = box
    out[y0:y1, x0:x1] = composite(frame[y0:y1, x0:x1], out[y0:y1, x0:x1].astype(np.float32), 1.0 - mask)
    return out
