"""The renderer: one output frame = source frame + re-performed lower face.

Per output frame ``k`` (source frame ``s``):

1. the exemplar chosen by the Viterbi search (at construction) is aligned to frame ``s`` by a
   similarity on the STABLE landmarks, in the person's normalised frame;
2. its lips and jaw are moved to the planned MOUTH_PARAMS exactly (:class:`MouthShaper`), the nose
   and cheeks above are pulled onto frame ``s``'s own geometry;
3. a piecewise-affine warp carries the exemplar's pixels onto that geometry (anchors outside the
   jaw keep the neck rigid), bicubic, on the face ROI only;
4. if the plan opens the mouth further than any exemplar could, a procedural cavity with teeth
   fills the gap (stills and closed-mouth clips);
5. a low-frequency colour match and a feathered mask covering both jaws (old and new) plus a band
   under the chin blend it in, so a closing jaw never leaves a double chin;
6. where the frame and the exemplar disagree on skin that should not have moved, something is in
   front of the face (a hand, a microphone): the frame wins there.

Over time: the Viterbi search prefers playing source frames consecutively; where it must jump,
the old run's next frame is dissolved in for one frame, and the lip contour's fine details are
carried over from the previous frame (the planned parameters stay exact).

Everything outside the returned edit box is the input frame, bit for bit.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from .. import landmarks as L
from ..records import FaceProfile, FaceTrack, MotionPlan
from . import blend, cavity, expression
from .exemplars import MouthBank, choose_exemplars
from .geometry import (
    INNER_LOWER,
    INNER_UPPER,
    INTERIOR_ROWS,
    LOWER_JAW,
    OUTER_LOWER,
    OUTER_UPPER,
    MouthShaper,
    WarpMesh,
    apply,
    build_template,
    invert,
    mouth_interior,
    to_norm,
)
from .warp import backward_map, map_step, sample

log = logging.getLogger(__name__)

#: Frames sampled to build the person's normalised template face.
TEMPLATE_SAMPLES = 120
#: Band beyond the jaw covered by the edit mask (inter-ocular units): hides the old chin (the
#: feather, σ = 0.06, leaves < 1 % of it) while exposing as little stale background as possible.
CHIN_BAND_IOD = 0.16
#: The mask's upper edge sits this far below the nose tip (inter-ocular units).
MASK_TOP_BELOW_NOSE_IOD = 0.10
#: Procedural cavity fades in when the plan opens the mouth this many times wider than the exemplar
#: (below that, the interior rows already keep real teeth their size and stretch only the dark gap).
CAVITY_RATIO_START = 2.0
CAVITY_RATIO_FULL = 3.5
#: Openings below this (inter-ocular units) never need a cavity.
CAVITY_MIN_OPEN = 0.04
#: When lips close over an open exemplar (or part a closed one), sample them from this share of
#: the lip's thickness away from the inner contour: MediaPipe's inner contour does not hug the
#: lips exactly, and the fringe it leaves (teeth, the dark crease) would show as streaks.
LIP_FRINGE_SHARE = 0.2
#: Band (inter-ocular units) around lips and jaw lines where frame and exemplar are *expected* to
#: differ (the mouth moved), excluded from occluder detection.
OCC_EXPECTED_BAND_IOD = 0.06
#: Inter-ocular size (px) of the grid the occluder check runs on.
OCC_GRID_IOD_PX = 40.0
#: Share of the previous frame's lip-contour details carried into this frame's geometry.
GEOMETRY_CARRY = 0.5
#: Share of the previous run's exemplar in the one-frame dissolve at an exemplar jump.
DISSOLVE_WEIGHT = 0.5
#: Mouth thumbnails closer than this (mean grey levels) need no dissolve at a jump.
DISSOLVE_MIN_DIFF = 6.0
#: Film grain (grey levels, σ) added to the procedural cavity so it is not cleaner than the video.
CAVITY_GRAIN = 1.2
#: "Closing" means the target is this much more closed than the exemplar (inter-ocular units).
CLOSING_MARGIN = 0.02
#: Inner lips closer than this many map-grid steps anywhere get the exact (per-pixel) warp map
#: around them: a narrower mouth hole makes the map jump faster than the grid can follow.
EXACT_MAP_GAP_STEPS = 2.0


class Renderer:
    """Renders output frames for a motion plan. Construct once per job, then call :meth:`render`."""

    def __init__(
        self,
        track: FaceTrack,
        bank: MouthBank,
        plan: MotionPlan,
        profile: FaceProfile | None = None,
        options: object | None = None,
    ) -> None:
        self.track = track
        self.bank = bank
        self.plan = plan
        self.profile = profile
        self.options = options
        self.warnings: list[str] = []
        present = np.nonzero(track.present)[0]
        self._ok = len(present) > 0 and len(bank) > 0
        n_out = plan.n_out
        self.choice = np.full(n_out, -1, np.int64)
        if not self._ok:
            if len(present):
                self.warnings.append("no mouth exemplars were collected; frames are left unchanged")
            return
        pick = present[np.linspace(0, len(present) - 1, min(TEMPLATE_SAMPLES, len(present))).astype(int)]
        self.template = build_template(track.landmarks[pick, :, :2].astype(np.float64))
        self.shaper = MouthShaper(self.template)
        self.mesh = WarpMesh(self.template, self.shaper)
        src = np.clip(plan.src_frame.astype(np.int64), 0, track.n - 1)
        self.src = src
        self.targets = self._sanitise_targets(plan.mouth, src)
        # Face mode: jaw drop and mouth width of the planned expression go through the mouth targets.
        self.targets = expression.adjust_targets(self.targets, plan.au, plan.closure)
        self.expression = expression.from_plan(self.template, plan, options, bank)
        valid = track.present[src]
        feats = bank.arrays()
        self.choice = choose_exemplars(
            feats, self.targets, plan.closure.astype(bool), src, valid, bank.frames, track.scale
        )
        self._ex_norm: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._prev_shape: tuple[int, np.ndarray] | None = None
        pos = {int(i): j for j, i in enumerate(self.mesh.indices)}
        self._fringe = (np.array([pos[i] for i in INNER_UPPER + INNER_LOWER]),
                        np.array([pos[i] for i in OUTER_UPPER + OUTER_LOWER]))
        ex_open = feats["params"][:, 0].max()
        want_open = float(np.nanmax(self.targets[:, 0])) if n_out else 0.0
        if want_open > CAVITY_RATIO_START * max(ex_open, 0.01) and want_open > CAVITY_MIN_OPEN:
            self.warnings.append(
                "the source shows no open mouth wide enough; the mouth interior and teeth are synthesised"
            )
        n_switch = int(((self.choice[1:] != self.choice[:-1] + np.diff(src)) & (self.choice[1:] >= 0)).sum())
        log.info("exemplar search: %d exemplars, %d output frames, %d jumps", len(bank), n_out, n_switch)

    def _sanitise_targets(self, mouth: np.ndarray, src: np.ndarray) -> np.ndarray:
        """Fill missing targets with the source's own mouth; never a negative opening."""
        t = np.array(mouth, np.float32, copy=True)
        own = self.track.mouth[src]
        bad = ~np.isfinite(t)
        t[bad] = own[bad]
        still_bad = ~np.isfinite(t)
        if still_bad.any():
            fallback = L.mouth_params(self.template)
            t[still_bad] = np.broadcast_to(fallback, t.shape)[still_bad]
        t[:, 0] = np.maximum(t[:, 0], 0.0)
        t[self.plan.closure.astype(bool), 0] = 0.0
        return t

    def _exemplar(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(crop→normalised 2×3, normalised landmarks) of a bank exemplar, cached."""
        got = self._ex_norm.get(index)
        if got is None:
            ex = self.bank.exemplars[index]
            # Align with the track's smoothed landmarks (mapped into the crop): raw per-frame
            # landmarks jitter by a pixel or so, and consecutive exemplars would carry that jitter
            # into the output. The lips themselves keep their raw positions (they sample pixels).
            align = ex.landmarks
            if 0 <= index < self.track.n and self.track.present[index]:
                align = ((self.track.landmarks[index, :, :2] - ex.origin) * ex.scale).astype(np.float32)
            m = to_norm(align, self.template)
            got = (m, apply(m, ex.landmarks))
            if len(self._ex_norm) > 64:
                self._ex_norm.clear()
            self._ex_norm[index] = got
        return got

    def _mask_poly(self, norm_lm: np.ndarray, top_y: float) -> np.ndarray:
        """Lower-face polygon (normalised): jaw line pushed out by the chin band, cut at ``top_y``."""
        jaw = norm_lm[list(LOWER_JAW)]
        centre = norm_lm[list(L.MOUTH_CORNERS)].mean(0)
        d = jaw - centre
        d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
        ring = jaw + CHIN_BAND_IOD * d
        ring[:, 1] = np.maximum(ring[:, 1], top_y)
        return np.concatenate([ring, [[ring[-1, 0], top_y], [ring[0, 0], top_y]]])

    def _dissolve_partner(self, k: int) -> int:
        """At a jump between exemplar runs, the exemplar the previous run would have shown next.

        Showing it half-and-half with the new one for one frame turns a texture pop (teeth
        appearing from nowhere) into something the eye reads as motion blur. -1 if none.
        """
        if k == 0 or self.choice[k - 1] < 0:
            return -1
        cont = int(self.choice[k - 1] + (self.src[k] - self.src[k - 1]))
        if cont == int(self.choice[k]) or cont not in self.bank.exemplars:
            return -1
        a, b = self.bank.exemplars[cont].thumb, self.bank.exemplars[int(self.choice[k])].thumb
        if float(np.abs(a - b).mean()) < DISSOLVE_MIN_DIFF:
            return -1  # the two mouths look alike: nothing would pop, save the second warp
        return cont

    def _warp(self, ex_index: int, target: np.ndarray, n_cur: np.ndarray, m_cur: np.ndarray,
              roi: tuple[int, int, int, int], iod_px: float, shaped: np.ndarray | None = None):
        """Warp one exemplar onto the target geometry inside ``roi``: (pixels, valid, shaped landmarks)."""
        ex = self.bank.exemplars[ex_index]
        m_ex, n_ex = self._exemplar(ex_index)
        if shaped is None:
            shaped = self.shaper.shape(n_ex, target)
        mesh = self.mesh
        idx = mesh.indices
        w = mesh.blend_w[:, None]
        up, lo = list(INNER_UPPER), list(INNER_LOWER)
        # Teeth keep their size when the plan opens wider than the exemplar: the interior rows sit
        # at the exemplar's distances from the lips, only the space between them stretches.
        gap_s = np.linalg.norm(n_ex[lo] - n_ex[up], axis=1)
        gap_t = np.maximum(np.linalg.norm(shaped[lo] - shaped[up], axis=1), 1e-6)
        rows = np.array(INTERIOR_ROWS)[:, None]
        wider = gap_t > gap_s
        frac_t = np.where(wider, np.where(rows < 0.5, rows * gap_s / gap_t, 1 - (1 - rows) * gap_s / gap_t), rows)
        frac_t = np.broadcast_to(frac_t, (len(INTERIOR_ROWS), len(up)))
        t_norm = mesh.control_points(n_cur[idx] + w * (shaped[idx] - n_cur[idx]),
                                     mouth_interior(shaped[up], shaped[lo], frac_t), mesh.anchors)
        img_from_norm = invert(m_cur)
        x0, y0, x1, y1 = roi
        origin = np.array([x0, y0], np.float64)
        t_roi = apply(img_from_norm, t_norm) - origin
        lm_ex = ex.landmarks.astype(np.float64)
        rows_s = np.broadcast_to(rows, (len(INTERIOR_ROWS), len(up)))
        src_pts = mesh.control_points(lm_ex[idx], mouth_interior(lm_ex[up], lm_ex[lo], rows_s),
                                      apply(invert(m_ex), mesh.anchors))
        share = self._fringe_share(float(target[0]), float(ex.params[0]))
        if share > 0:
            inner, outer = self._fringe
            src_pts[inner] += share * (src_pts[outer] - src_pts[inner])
        roi_shape = (y1 - y0, x1 - x0)
        # ROI pixel → image → normalised → exemplar crop.
        roi_to_norm = _compose(m_cur, np.array([[1.0, 0, x0], [0, 1.0, y0]]))
        rigid = _compose(invert(m_ex), roi_to_norm)
        lips = apply(img_from_norm, shaped[list(L.LIPS_OUTER)]) - origin
        m = 0.12 * iod_px
        dx0, dy0 = np.maximum(np.floor(lips.min(0) - m).astype(int), 0)
        dx1, dy1 = np.ceil(lips.max(0) + m).astype(int)
        detail = (int(dx0), int(dy0), int(min(dx1, roi_shape[1])), int(min(dy1, roi_shape[0])))
        map_x, map_y, valid = backward_map(roi_shape, t_roi, src_pts, mesh.triangles, rigid, iod_px,
                                           ex.crop.shape[:2], exact_box=_seam_box(shaped, img_from_norm, origin, iod_px))
        return sample(ex.crop, map_x, map_y, detail), valid, shaped

    def render(self, k: int, rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
        """Output frame ``k`` from its source frame ``rgb``; returns (frame, edit box or None).

        ``rgb`` is never modified (the decoder may hand the same array out again, e.g. in bounce
        mode); an edited frame is a copy.
        """
        if not self._ok or k >= len(self.choice) or self.choice[k] < 0:
            return rgb, None
        s = int(self.src[k])
        ex = self.bank.exemplars[int(self.choice[k])]
        _, n_ex = self._exemplar(ex.index)
        lm_cur = self.track.landmarks[s, :, :2].astype(np.float64)
        m_cur = to_norm(lm_cur, self.template)
        n_cur = apply(m_cur, lm_cur)
        target = self.targets[k]
        shaped = self._temporal_shape(k, n_ex, target)
        img_from_norm = invert(m_cur)
        iod_px = float(L.interocular(lm_cur))
        polys_img, roi = self._edit_region(n_cur, shaped, img_from_norm, iod_px, rgb.shape[:2])
        if roi is None:
            return rgb, None
        warped, valid, _ = self._warp(ex.index, target, n_cur, m_cur, roi, iod_px, shaped)
        partner = self._dissolve_partner(k)
        if partner >= 0:
            w2, v2, _ = self._warp(partner, target, n_cur, m_cur, roi, iod_px)
            warped = cv2.addWeighted(w2, DISSOLVE_WEIGHT, warped, 1 - DISSOLVE_WEIGHT, 0.0)
            valid = valid * v2
        x0, y0, x1, y1 = roi
        frame_roi = rgb[y0:y1, x0:x1]
        alpha, synth = self._blend_layer(k, rgb, frame_roi, warped, valid, polys_img, roi, n_cur, shaped,
                                         m_cur, lm_cur, iod_px, float(target[0]), float(ex.params[0]))
        rows = np.nonzero(alpha.any(axis=1))[0]
        cols = np.nonzero(alpha.any(axis=0))[0]
        if len(rows) == 0:
            return rgb, None
        out = rgb.copy()
        out[y0:y1, x0:x1] = blend.composite(frame_roi, synth, alpha)
        box = (x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1)
        if self.expression is not None:  # face mode: the expression warp on top of the new mouth
            n_out = expression.rendered_landmarks(n_cur, shaped, self.mesh.indices, self.mesh.blend_w)
            out, box = self.expression.apply(k, out, n_out, m_cur, box, inplace=True)  # out is our copy
        return out, box

    def _temporal_shape(self, k: int, n_ex: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Exemplar landmarks moved to the target, with the previous frame's lip *details* carried over.

        Two exemplars with the same MOUTH_PARAMS still differ in contour details (a lopsided upper
        lip, a corner a little higher); switching exemplars would make those details pop. Blending
        with the previous frame's shape and re-shaping to the target keeps the planned parameters
        exact while the details glide. Needs frames in order; any other order simply restarts.
        """
        shaped = self.shaper.shape(n_ex, target)
        prev = self._prev_shape
        if prev is not None and prev[0] == k - 1 and int(self.src[k]) - int(self.src[k - 1]) in (-1, 0, 1):
            shaped = self.shaper.shape(shaped + GEOMETRY_CARRY * (prev[1] - shaped), target)
        self._prev_shape = (k, shaped)
        return shaped

    def _edit_region(self, n_cur, shaped, img_from_norm, iod_px, frame_shape):
        """(mask polygons in image px, ROI box or None): both jaws plus the chin band, feather padded."""
        top_y = float(self.template[L.NOSE_TIP, 1]) + MASK_TOP_BELOW_NOSE_IOD
        polys_img = [apply(img_from_norm, self._mask_poly(n_cur, top_y)),
                     apply(img_from_norm, self._mask_poly(shaped, top_y))]
        pad = 3.0 * blend.FEATHER_SIGMA_IOD * iod_px + 2
        allp = np.concatenate(polys_img)
        x0, y0 = np.floor(allp.min(0) - pad).astype(int)
        x1, y1 = np.ceil(allp.max(0) + pad).astype(int)
        h, w = frame_shape
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return polys_img, None
        return polys_img, (int(x0), int(y0), int(x1), int(y1))

    def _blend_layer(self, k, rgb, frame_roi, warped, valid, polys_img, roi, n_cur, shaped, m_cur, lm_cur,
                     iod_px, target_open, exemplar_open):
        """(alpha, synthesised pixels) of the ROI: colour match, cavity, feathered and occlusion-aware mask."""
        x0, y0, x1, y1 = roi
        shape = (y1 - y0, x1 - x0)
        origin = np.array([x0, y0], np.float64)
        img_from_norm = invert(m_cur)
        hard = blend.fill_mask(shape, [p - origin for p in polys_img]) * valid
        mouths = blend.fill_mask(shape, [
            apply(img_from_norm, n_cur[list(L.LIPS_OUTER)]) - origin,
            apply(img_from_norm, shaped[list(L.LIPS_OUTER)]) - origin,
        ])
        synth = blend.colour_match(warped, frame_roi, hard * (1.0 - mouths), blend.COLOUR_SIGMA_IOD * iod_px)
        strength = self._cavity_strength(target_open, exemplar_open)
        if strength > 0:
            lip, teeth = cavity.person_colours(rgb, lm_cur)
            roi_to_norm = _compose(m_cur, np.array([[1.0, 0, x0], [0, 1.0, y0]]))
            cavity.paint(synth, shaped, roi_to_norm, lip, teeth, strength, grain=CAVITY_GRAIN, seed=k)
        alpha = blend.feather(hard, blend.FEATHER_SIGMA_IOD * iod_px) * valid
        occ = self._occluders(frame_roi, synth, hard, roi, n_cur, shaped, img_from_norm, iod_px)
        if occ is not None:
            alpha *= 1.0 - occ
        return alpha, synth

    def _occluders(self, frame_roi, synth, hard, roi, n_cur, shaped, img_from_norm, iod_px):
        """Occluder mask for this frame (see :func:`blend.occluder_mask`), or None if clear.

        Worked out on a grid where the face is OCC_GRID_IOD_PX across the eyes (an occluder is a
        big, smooth thing), then upsampled: the cost no longer grows with the face's size.
        """
        x0, y0, x1, y1 = roi
        full = (y1 - y0, x1 - x0)
        f = min(1.0, OCC_GRID_IOD_PX / max(iod_px, 1.0))
        shape = (max(2, round(full[0] * f)), max(2, round(full[1] * f)))
        size = (shape[1], shape[0])
        origin = np.array([x0, y0], np.float64)

        def poly(lm, which):
            return np.round((apply(img_from_norm, lm[list(which)]) - origin) * f * 16).astype(np.int32)

        expected = np.zeros(shape, np.uint8)
        inside_both = np.ones(shape, np.uint8)
        thick = max(int(round(OCC_EXPECTED_BAND_IOD * iod_px * f)), 1)
        for lm in (n_cur, shaped):
            # Only the face inside *both* jaw lines is checked: between an old and a new chin the
            # frame and the exemplar differ by design (that is the jaw moving).
            face = np.zeros(shape, np.uint8)
            jaw = poly(lm, LOWER_JAW)
            cv2.fillPoly(face, [jaw], 1, lineType=cv2.LINE_8, shift=4)
            inside_both &= face
            lips = poly(lm, L.LIPS_OUTER)
            cv2.fillPoly(expected, [lips], 1, lineType=cv2.LINE_8, shift=4)
            cv2.polylines(expected, [lips], True, 1, thickness=2 * thick, lineType=cv2.LINE_8, shift=4)
            cv2.polylines(expected, [jaw], False, 1, thickness=2 * thick, lineType=cv2.LINE_8, shift=4)
        ring = cv2.dilate(expected, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (4 * thick + 1, 4 * thick + 1)))
        small_hard = cv2.resize(hard, size, interpolation=cv2.INTER_LINEAR) if f < 1 else hard
        region = small_hard * inside_both * (1.0 - expected.astype(np.float32))
        if region.max() <= 0:
            return None
        mouth_ring = region * (ring > 0)
        if f < 1:
            frame_s = cv2.resize(frame_roi, size, interpolation=cv2.INTER_LINEAR)
            synth_s = cv2.resize(synth, size, interpolation=cv2.INTER_LINEAR)
        else:
            frame_s, synth_s = frame_roi, synth
        occ = blend.occluder_mask(frame_s, synth_s, region, mouth_ring, iod_px * f)
        if occ.max() <= 0:
            return None
        return cv2.resize(occ, (full[1], full[0]), interpolation=cv2.INTER_LINEAR) if f < 1 else occ

    def _fringe_share(self, target_open: float, exemplar_open: float) -> float:
        """How far (share of the lip's thickness) the inner-lip edge samples into the exemplar's lip.

        Sampling a little inside the lip keeps the exemplar's dark gap edge off a mouth that closes
        over it (and off the synthesised cavity). The share grows with how much of the exemplar's
        gap is being closed: a full share on a mouth asked to close by a fifth made it come out
        shut on small faces (pcavs, 53 px between the eyes: targets 0.16 read 0.02). A (nearly)
        closed target gets the same graded share, not the full one: the full share parted the
        lips of resting mouths with a dark speck between them (videoretalking_4 in the pauses of
        musetalk_yongen: median opening 0.028 vs 0.003, 90 % vs 100 % of pause frames at rest).
        """
        if self._cavity_strength(target_open, exemplar_open) > 0:
            return LIP_FRINGE_SHARE
        if target_open >= exemplar_open - CLOSING_MARGIN:
            return 0.0
        closed = (exemplar_open - target_open) / max(exemplar_open, 1e-3)
        return LIP_FRINGE_SHARE * float(np.clip(closed, 0.0, 1.0))

    @staticmethod
    def _cavity_strength(target_open: float, exemplar_open: float) -> float:
        if exemplar_open < CAVITY_MIN_OPEN:
            # A closed exemplar has no interior at all: anything visible between the parted lips
            # would be stretched lip crease, so the cavity takes over as soon as the lips part.
            t = np.clip((target_open - 0.5 * CAVITY_MIN_OPEN) / CAVITY_MIN_OPEN, 0, 1)
            return float(t * t * (3 - 2 * t))
        if target_open < CAVITY_MIN_OPEN:
            return 0.0
        ratio = target_open / max(exemplar_open, 1e-3)
        return float(np.clip((ratio - CAVITY_RATIO_START) / (CAVITY_RATIO_FULL - CAVITY_RATIO_START), 0, 1))


def _seam_box(shaped: np.ndarray, img_from_norm: np.ndarray, origin: np.ndarray,
              iod_px: float) -> tuple[int, int, int, int] | None:
    """ROI box around the lips' inner contours when they come closer than EXACT_MAP_GAP_STEPS grid
    steps somewhere, else None.

    A mouth (nearly) closed over an open exemplar is where the warp's map jumps from the upper
    lip to the lower lip; upsampled from the grid it cracks there (see ``warp``), so that band
    gets the exact map. A wider gap has interior triangles larger than the grid: nothing to fix.
    """
    up = apply(img_from_norm, shaped[list(INNER_UPPER)]) - origin
    lo = apply(img_from_norm, shaped[list(INNER_LOWER)]) - origin
    step = map_step(iod_px)
    if float(np.linalg.norm(lo - up, axis=1).min()) >= EXACT_MAP_GAP_STEPS * step:
        return None
    pts = np.concatenate([up, lo])
    x0, y0 = np.floor(pts.min(0)).astype(int) - 2 * step
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 2 * step + 1
    return int(x0), int(y0), int(x1), int(y1)


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2×3 affine ``a ∘ b`` (apply b first)."""
    return np.hstack([a[:, :2] @ b[:, :2], (a[:, :2] @ b[:, 2] + a[:, 2])[:, None]])
