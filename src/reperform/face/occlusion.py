"""What is in front of the lower face in a frame: hands, microphones, pens — the occluders.

The renderer re-draws the mouth, jaw and chin; anything in front of them must come out as
filmed (and the mouth be edited around and behind it). Two kinds of evidence, measured on
``facerecognition_short_hamilton_clip`` (a singer's microphone and hand) and on a real hand
composited over a talking face (``tests/face/test_occlusion.py``):

* **hands** — MediaPipe's bundled hand model on a crop around the lower face (a hand in front of
  a face is the most common occluder and is skin-coloured, so colour alone cannot see it). Its
  landmarks become a mask: the palm polygon plus each finger as a thick stroke.
* **colour outliers** against *this person's own* skin and lips (sampled every frame on the
  cheeks, the nose and the lip bodies, kept as a running median so a hand over one cheek does
  not poison it): pixels of another hue, or far darker than the skin (a black microphone), are
  foreign. Inside the face they count only as blobs that reach the face's edge (an occluder
  comes from outside the face; a moustache, a nostril or the mouth's own dark gap does not), and
  around a detected hand they grow into what the hand holds (the microphone's head).

Not used, because they measured worse: MediaPipe's selfie segmentation marks the microphone and
the hand as "person" like the face behind them (no signal in front of a face); face-mesh
landmark visibility is not produced by the bundled face mesh.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from .. import landmarks as L
from ..records import FaceTrack, Occlusion
from .detect import _import_mediapipe

#: While no hand has been seen for HAND_MEMORY frames, the hand model runs on every
#: HAND_IDLE_STRIDE-th frame only (it is most of the finder's cost): a hand entering the crop
#: near its edge is found within two frames, before it reaches the mouth.
HAND_IDLE_STRIDE = 3
HAND_MEMORY = 10
#: A mouth exemplar is refused when more than this share of its lips, grown by MOUTH_AROUND_IOD
#: (the exemplar's pasted region), is covered.
MOUTH_COVERED_SHARE = 0.03
MOUTH_AROUND_IOD = 0.22
#: Inter-ocular size (px) of the grid the finder works on.
GRID_IOD_PX = 40.0
#: The hand model sees a square crop this many inter-ocular distances wide around the mouth,
#: resized to HAND_CROP_PX (its palm detector works at 192 px).
HAND_CROP_IOD = 4.4
HAND_CROP_PX = 192
MIN_HAND_SCORE = 0.5
#: The forearm is drawn from the wrist this many palm lengths (wrist to middle knuckle) long.
FOREARM_SHARE = 0.8
#: Finger strokes are this share of the palm's width thick; the palm polygon is grown by it too.
FINGER_WIDTH_SHARE = 0.36
#: The point between the nostrils and the upper lip.
SUBNASALE = 2
#: Landmarks the person's skin is sampled at (cheeks, nose; rarely covered, never lips or beard).
SKIN_POINTS = (50, 101, 118, 117, 280, 330, 347, 346, 205, 425, 36, 266, 4, 195, 197, 5, 123, 352)
#: Frames of skin/lip colour samples the running reference keeps.
REFERENCE_FRAMES = 15
#: A pixel is foreign when its chromaticity (r and g shares of r+g+b) is this far from both the
#: skin's and the lips' ...
FOREIGN_CHROMA = 0.06
#: ... or its brightness is below this share of the skin's (a black microphone; a beard's
#: shadow is ~0.5-0.7 of the skin on the clips we have, the shaded side of a stage-lit face
#: ~0.3).
DARK_SHARE = 0.2
#: Foreign blobs inside the face smaller than this (inter-ocular units squared) are noise, a
#: nostril or a moustache's shadow.
MIN_BLOB_IOD2 = 0.03
#: Inside the face, colour is checked this far (inter-ocular units) inside the tracked jaw line:
#: the mesh's outline strays onto hair and background by about this much.
EDGE_BAND_IOD = 0.12
#: Around a hand, foreign pixels this far away (inter-ocular units) join it (what it holds).
HELD_REACH_IOD = 0.6
#: Below the jaw line, the checked band reaches this far (inter-ocular units): a microphone under
#: the chin is in front of the skin the jaw warp moves.
BELOW_JAW_IOD = 0.45
#: The lips' outline is widened by this much (inter-ocular units) before colour is ignored there.
LIPS_MARGIN_IOD = 0.05
#: The mask is grown by this much and feathered (inter-ocular units): the warp's edge must not
#: drag the occluder's border pixels.
GROW_IOD = 0.06


class OcclusionFinder:
    """Finds occluders in front of the tracked face, one frame at a time (frames in order)."""

    def __init__(self, track: FaceTrack, *, hands: bool = True, stills: bool = False) -> None:
        """``stills=True``: for unrelated images (the mouth bank's exemplars), not a video's frames
        in order — the hand model then looks at every image afresh."""
        self.track = track
        self._hands = None
        self._stills = stills
        if hands:
            mp = _import_mediapipe()
            # Tracking mode for frames in order: the crop follows the face smoothly, so the palm
            # detector (most of the cost) runs only when no hand is being followed.
            self._hands = mp.solutions.hands.Hands(static_image_mode=stills, max_num_hands=1, model_complexity=0,
                                                   min_detection_confidence=MIN_HAND_SCORE,
                                                   min_tracking_confidence=MIN_HAND_SCORE)
        self._calls = 0
        self._since_hand = HAND_MEMORY  # calls since a hand was last found
        self._skin: deque[np.ndarray] = deque(maxlen=REFERENCE_FRAMES)
        self._lips: deque[np.ndarray] = deque(maxlen=REFERENCE_FRAMES)

    def close(self) -> None:
        if self._hands is not None:
            self._hands.close()
            self._hands = None

    def find(self, s: int, rgb: np.ndarray) -> Occlusion | None:
        """Occluders in front of source frame ``s``'s lower face (its pixels ``rgb``), or None."""
        if not (0 <= s < self.track.n and self.track.present[s]):
            return None
        return self._find(rgb, self.track.landmarks[s, :, :2].astype(np.float64), float(max(self.track.scale[s], 4.0)))

    def mouth_covered(self, rgb: np.ndarray, landmarks: np.ndarray) -> bool:
        """Whether something covers the mouth region of an image (a mouth exemplar's crop, its
        landmarks in its pixels): more than MOUTH_COVERED_SHARE of the lips grown by
        MOUTH_AROUND_IOD. Such an exemplar would paste its occluder beside the frame's own."""
        lm = np.asarray(landmarks, np.float64)[:, :2]
        iod = float(max(L.interocular(lm), 4.0))
        occ = self._find(rgb, lm, iod)
        if occ is None:
            return False
        x0, y0, x1, y1 = occ.box
        region = np.zeros(rgb.shape[:2], np.uint8)
        lips = np.round(lm[list(L.LIPS_OUTER)]).astype(np.int32)
        cv2.fillPoly(region, [lips], 1)
        cv2.polylines(region, [lips], True, 1, thickness=max(1, int(round(2 * MOUTH_AROUND_IOD * iod))))
        inside = region[y0:y1, x0:x1] > 0
        return bool(inside.any() and (occ.mask[inside] > 0.5).mean() > MOUTH_COVERED_SHARE)

    def _find(self, rgb: np.ndarray, lm: np.ndarray, iod: float) -> Occlusion | None:
        box = _box(lm, iod, rgb.shape[:2])
        if box is None:
            return None
        x0, y0, x1, y1 = box
        # Worked out where the face is GRID_IOD_PX across the eyes (an occluder is a big, smooth
        # thing), then upsampled: the cost does not grow with the face's size.
        f = min(1.0, GRID_IOD_PX / iod)
        roi = rgb[y0:y1, x0:x1]
        small = cv2.resize(roi, (max(8, round(roi.shape[1] * f)), max(8, round(roi.shape[0] * f))),
                           interpolation=cv2.INTER_AREA) if f < 1 else roi
        f_xy = np.array([small.shape[1] / roi.shape[1], small.shape[0] / roi.shape[0]])
        local = (lm - (x0, y0)) * f_xy
        hand = self._hand_mask(small, local, iod * f)
        foreign, face, below = self._foreign(small, local, iod * f)
        mask = _combine(hand, foreign, face, below, iod * f)
        if not mask.any():
            return None
        grow = max(1, int(round(GROW_IOD * iod * f)))
        soft = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
        soft = np.maximum(cv2.GaussianBlur(soft.astype(np.float32), (0, 0), grow / 2 + 0.5), mask.astype(np.float32))
        if f < 1:
            soft = cv2.resize(soft, (roi.shape[1], roi.shape[0]), interpolation=cv2.INTER_LINEAR)
        return Occlusion(box=box, mask=soft)

    # --- hands ----------------------------------------------------------------------------------

    def _hand_mask(self, roi: np.ndarray, lm: np.ndarray, iod: float) -> np.ndarray:
        mask = np.zeros(roi.shape[:2], np.uint8)
        self._calls += 1
        idle = self._since_hand >= HAND_MEMORY and not self._stills
        if self._hands is None or (idle and self._calls % HAND_IDLE_STRIDE != 1):
            self._since_hand += 1
            return mask
        cx, cy = lm[13]
        half = HAND_CROP_IOD * iod / 2
        cx0, cy0 = int(round(cx - half)), int(round(cy - half))
        side = int(round(2 * half))
        pad = max(0, -cx0, -cy0, cx0 + side - roi.shape[1], cy0 + side - roi.shape[0])
        src = cv2.copyMakeBorder(roi, pad, pad, pad, pad, cv2.BORDER_CONSTANT) if pad else roi
        crop = cv2.resize(src[cy0 + pad: cy0 + pad + side, cx0 + pad: cx0 + pad + side], (HAND_CROP_PX,) * 2,
                          interpolation=cv2.INTER_LINEAR)
        found = self._hands.process(np.ascontiguousarray(crop)).multi_hand_landmarks or []
        self._since_hand = 0 if found else self._since_hand + 1
        for hand in found:
            pts = np.array([(p.x, p.y) for p in hand.landmark]) * side + (cx0, cy0)
            _draw_hand(mask, pts)
        return mask

    # --- colour ---------------------------------------------------------------------------------

    def _foreign(self, roi: np.ndarray, lm: np.ndarray, iod: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(foreign pixels, the lower face region, the band below the jaw), all over ``roi``."""
        img = cv2.GaussianBlur(roi, (3, 3), 0).astype(np.float32) + 1.0
        total = img.sum(axis=2)
        chroma = img[..., :2] / total[..., None]
        lum = total / 3.0
        skin = self._reference(self._skin, _sample(chroma, lum, lm[list(SKIN_POINTS)]))
        lips = self._reference(self._lips, _sample(chroma, lum, (lm[list(L.LIPS_OUTER)] + lm[list(L.LIPS_INNER)]) / 2))
        far = np.minimum(np.abs(chroma - skin[:2]).max(axis=2), np.abs(chroma - lips[:2]).max(axis=2))
        foreign = (far > FOREIGN_CHROMA) | (lum < DARK_SHARE * skin[2])
        face, below, lips, mouth = _regions(roi.shape[:2], lm, iod)
        # On the lips only another hue counts (their dark line and the mouth's shadow are dark but
        # lip-hued), never inside the mouth's opening (teeth, tongue); a hand over them is still
        # found by the hand model.
        return (foreign & ~lips) | (lips & ~mouth & (far > 2 * FOREIGN_CHROMA)), face, below

    @staticmethod
    def _reference(history: deque[np.ndarray], sample: np.ndarray) -> np.ndarray:
        history.append(sample)
        return np.median(np.stack(history), axis=0)


def _sample(chroma: np.ndarray, lum: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Median (r share, g share, brightness) at points ``pts`` (clipped into the image)."""
    h, w = lum.shape
    xs = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
    ys = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
    return np.array([np.median(chroma[ys, xs, 0]), np.median(chroma[ys, xs, 1]), np.median(lum[ys, xs])])


def _box(lm: np.ndarray, iod: float, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The frame box the finder looks at: the hand crop around the mouth (which holds the lower face)."""
    h, w = shape
    cx, cy = lm[13]
    half = HAND_CROP_IOD * iod / 2
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(w, int(np.ceil(cx + half))), min(h, int(np.ceil(cy + half)))
    return (x0, y0, x1, y1) if x1 - x0 >= 8 and y1 - y0 >= 8 else None


def _regions(shape: tuple[int, int], lm: np.ndarray,
             iod: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lower face: inside the jaw line up to below the cheekbones; a band below the jaw; the
    lips and the mouth between them, grown by a little; the mouth's opening), bool over ``shape``."""
    jaw = lm[list(L.JAW_LINE[2:-2])]
    top = float(lm[SUBNASALE, 1]) + 0.05 * iod  # below the nostrils (dark, but never in front)
    outline = np.vstack([jaw, [[lm[425, 0], top], [lm[205, 0], top]]])
    face = np.zeros(shape, np.uint8)
    cv2.fillPoly(face, [cv2.convexHull(np.round(outline).astype(np.int32))], 1)
    centre = lm[list(L.LIPS_OUTER)].mean(0)
    d = jaw - centre
    lower = jaw + BELOW_JAW_IOD * iod * d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
    band = np.zeros(shape, np.uint8)
    cv2.fillPoly(band, [cv2.convexHull(np.round(np.vstack([jaw, lower])).astype(np.int32))], 1)
    lips = np.zeros(shape, np.uint8)
    outer = np.round(lm[list(L.LIPS_OUTER)]).astype(np.int32)
    cv2.fillPoly(lips, [outer], 1)
    cv2.polylines(lips, [outer], True, 1, thickness=max(1, int(round(LIPS_MARGIN_IOD * iod))))
    mouth = np.zeros(shape, np.uint8)
    cv2.fillPoly(mouth, [np.round(lm[list(L.LIPS_INNER)]).astype(np.int32)], 1)
    return face > 0, (band > 0) & (face == 0), lips > 0, mouth > 0


def _combine(hand: np.ndarray, foreign: np.ndarray, face: np.ndarray, below: np.ndarray, iod: float) -> np.ndarray:
    """The occluder mask: hands; foreign blobs well inside the face that reach its edge (they
    come from outside); foreign pixels in the face or below the jaw close to a hand (what it
    holds)."""
    out = hand > 0
    band = max(1, int(round(EDGE_BAND_IOD * iod)))
    core = cv2.erode(face.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1,) * 2)) > 0
    edge = core & ~(cv2.erode(core.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    n, labels, stats, _ = cv2.connectedComponentsWithStats((foreign & core).astype(np.uint8), connectivity=8)
    for i in np.unique(labels[edge & (labels > 0)]):
        if stats[i, cv2.CC_STAT_AREA] >= MIN_BLOB_IOD2 * iod * iod:
            out |= labels == i
    if hand.any():
        reach = max(1, int(round(HELD_REACH_IOD * iod)))
        near = cv2.dilate(hand, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)) > 0
        out |= near & foreign & (face | below)
    return out


#: MediaPipe hand landmarks: the palm's outline and each finger's chain (from the wrist side).
PALM = (0, 1, 5, 9, 13, 17)
FINGERS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))


def _draw_hand(mask: np.ndarray, pts: np.ndarray) -> None:
    """Palm polygon plus thick finger strokes, into ``mask`` (uint8)."""
    palm = pts[list(PALM)]
    width = float(np.linalg.norm(pts[5] - pts[17]))
    thick = max(2, int(round(FINGER_WIDTH_SHARE * width)))
    poly = np.round(palm).astype(np.int32)
    cv2.fillPoly(mask, [cv2.convexHull(poly)], 1)
    cv2.polylines(mask, [cv2.convexHull(poly)], True, 1, thickness=thick)
    # The wrist and forearm continue from the palm's base, away from the middle finger: the hand
    # model has no landmark there, but whatever holds a hand up is in front of the face too.
    wrist, knuckle = pts[0], pts[9]
    forearm = wrist + FOREARM_SHARE * (wrist - knuckle)
    cv2.line(mask, tuple(np.round(wrist).astype(int)), tuple(np.round(forearm).astype(int)), 1,
             thickness=max(2, int(round(width))))
    for chain in FINGERS:
        cv2.polylines(mask, [np.round(pts[list(chain)]).astype(np.int32)], False, 1, thickness=thick)
