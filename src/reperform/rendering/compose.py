"""The renderer: one output frame = source frame + re-performed lower face.

Per output frame ``k`` (source frame ``s``):

1. the exemplar chosen by the Viterbi search (at construction: by mouth shape *and* head pose) is
   brought into frame ``s``'s pose in 3-D (:mod:`pose3d`) and expressed in the person's
   normalised frame;
2. its lips and jaw are moved to the planned MOUTH_PARAMS exactly (:class:`MouthShaper`); the
   target geometry takes the re-performed mouth and chin only where they may move — from the nose
   down, and fading out towards the jaw's sides, which stay exactly where the frame has them;
3. two layers are warped onto that one geometry, piecewise-affine: the **frame itself** (its own
   pixels, so the face outline, the neck and whatever is behind them move continuously with the
   chin and cannot tear), and the **exemplar** (real lips, teeth and tongue), bicubic near the lips;
4. if the plan opens the mouth further than the layer's mouth could, a procedural cavity with teeth
   fills the gap (stills and closed-mouth clips);
5. the exemplar is colour-matched to the frame layer and blended over it through a feathered mask
   that stays strictly inside the face outline (never across cheek, jaw or chin against hair,
   ears, neck or background), and fades out where the exemplar's pose is further from the frame's
   than the 3-D alignment can bridge: there the frame layer alone carries the mouth (edit less,
   never tear);
6. where the frame and the exemplar disagree on skin that should not have moved, something is in
   front of the face (a hand, a microphone): the untouched frame wins there.

Over time: the Viterbi search prefers playing source frames consecutively; where it must jump,
the old run's next frame is dissolved in for one frame, and the lip contour's fine details are
carried over from the previous frame (the planned parameters stay exact).

Everything outside the returned edit box is the input frame, bit for bit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import cv2
import numpy as np

from .. import landmarks as L
from ..records import FaceProfile, FaceTrack, MotionPlan
from . import blend, cavity, expression, pose3d
from .exemplars import MouthBank, choose_exemplars
from .frame import Box, FaceRig, FrameRecord, build_rig
from .geometry import (
    INNER_LOWER,
    INNER_UPPER,
    INTERIOR_ROWS,
    LOWER_JAW,
    apply,
    invert,
    mouth_interior,
    to_norm,
)
from .warp import backward_map, map_step, sample

log = logging.getLogger(__name__)

#: The exemplar's mask stays this far inside the face outline (inter-ocular units, measured from
#: the jaw line towards the mouth): with the feather (σ = 0.06) its alpha at the outline is < 1 %,
#: so the outline, and what lies beyond it, is always the frame's own (warped) pixels.
INSIDE_OUTLINE_IOD = 0.15
#: ... and reaches this far around the target lips (inter-ocular units): the real mouth, teeth and
#: the skin that moves with the lips come from the exemplar; the chin's contour, which the jaw
#: carries, stays the frame's own. Narrower, a thin ring of exemplar skin between frame-layer skin
#: makes the output's face mesh wobble. Chosen leave-one-clip-out by output/input landmark jitter
#: (docs/tuning.md, "Rendering").
AROUND_LIPS_IOD = 0.22
#: The mask's upper edge sits this far below the nose tip (inter-ocular units).
MASK_TOP_BELOW_NOSE_IOD = 0.10
#: Head-pose difference (yaw/pitch, degrees) between exemplar and frame up to which the exemplar is
#: shown fully, and beyond which not at all: the 3-D alignment places every point right, but past
#: ~15° the skin it carries was seen foreshortened and lit from elsewhere. In between it fades.
POSE_FULL_DEG = 12.0
POSE_NONE_DEG = 26.0
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
#: ... widened by this share of how much the mouth changes (opening plus half the width change,
#: inter-ocular units): skin around a smile re-shaped into an "o" differs from the exemplar's by
#: folds and stretched lip, not by anything in front of it.
OCC_BAND_PER_CHANGE = 0.5
#: An occluder is a foreign object (the untouched frame wins over it) when its chromaticity (r and
#: g shares of r+g+b) is this far from the face's skin; when grown across the unchecked bands, the
#: pixels taken must be half as close to it in chromaticity and within 3× this many levels (of
#: r+g+b) in brightness.
OCC_FOREIGN_CHROMA = 0.04
OCC_FOREIGN_LEVELS = 20.0
#: Inter-ocular size (px) of the grid the occluder check runs on.
OCC_GRID_IOD_PX = 40.0
#: Share of the previous frame's lip-contour details carried into this frame's geometry.
GEOMETRY_CARRY = 0.5
#: Output frames a renderer that starts mid-clip (a chunk of a long job) replays, geometry only,
#: before its first frame: the carried contour (:data:`GEOMETRY_CARRY`) halves each frame, so
#: after 64 any difference from having started at frame 0 is below float64's precision and the
#: chunk's frames are the one-piece render's exactly (tests/e2e/test_chunked_render.py).
WARM_UP_FRAMES = 64
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
#: Unfolding the target geometry: a mesh triangle may keep no less than this share of its area in
#: the frame (flipped or crushed skin shows as a smear or stray pixels of whatever lies beside it);
#: the moving points of offending triangles take their neighbours' mean motion, at most this often.
MIN_AREA_SHARE = 0.25
UNFOLD_PASSES = 12
#: The edit's box (everything that moves) is at most this many inter-ocular distances across;
#: larger is a broken target geometry (the lower face, jaw drop included, spans ~2.5).
MAX_EDIT_IOD = 4.0
#: Searches for exemplars when some of the chosen ones are refused (occluded mouths).
VET_ROUNDS = 3
#: A control point counts as moved (ROI of the frame layer) beyond this (inter-ocular units).
MOVED_IOD = 1e-4


class Renderer:
    """Renders output frames for a motion plan. Construct once per job, then call :meth:`render`.

    An output frame is drawn as passes over one :class:`FrameRecord` (see :mod:`.frame`):
    geometry (:meth:`_frame`) → the frame layer (:meth:`_frame_layer`, with its own cavity where
    the exemplar fades) → the exemplar layer (:meth:`_exemplar_layer`: warp and dissolve,
    :meth:`_blend_layer`, :meth:`_occluders`) → the composite (:meth:`_composite`) → the
    expression warp (face and head mode).
    """

    def __init__(
        self,
        track: FaceTrack,
        bank: MouthBank,
        plan: MotionPlan,
        profile: FaceProfile | None = None,
        options: object | None = None,
        exemplar_ok: Callable[[np.ndarray, np.ndarray], bool] | None = None,
    ) -> None:
        """``exemplar_ok(crop, landmarks)`` (optional) vets the exemplars the search picks: one it
        refuses (a hand or a microphone over its mouth, which would be pasted next to the
        frame's own) is taken out of the bank and the search run again."""
        self.track = track
        self.bank = bank
        self.plan = plan
        self.profile = profile
        self.options = options
        self.warnings: list[str] = []
        self._broken = 0  # frames left alone because their target geometry was broken
        n_out = plan.n_out
        self.choice = np.full(n_out, -1, np.int64)
        #: The person's rig; None when there is nothing to render with (no face in any frame, or no
        #: mouth exemplars): then every frame is left as it is.
        self.rig: FaceRig | None = None
        has_face = bool(np.count_nonzero(track.present))
        if not has_face or len(bank) == 0:
            if has_face:
                self.warnings.append("no mouth exemplars were collected; frames are left unchanged")
            return
        self.rig = rig = build_rig(track.landmarks, track.present)
        src = np.clip(plan.src_frame.astype(np.int64), 0, track.n - 1)
        self.src = src
        self.targets = self._sanitise_targets(plan.mouth, src)
        # Face mode: jaw drop and mouth width of the planned expression go through the mouth targets.
        self.targets = expression.adjust_targets(self.targets, plan.au, plan.closure)
        self.expression = expression.from_plan(rig.template, plan, options, bank)
        valid = track.present[src]
        feats = bank.arrays()
        self.choice = choose_exemplars(
            feats, self.targets, plan.closure.astype(bool), src, valid, bank.frames, track.scale,
            pose_deg=track.pose, identity=track.identity,
        )
        if exemplar_ok is not None:
            feats = self._vet_exemplars(exemplar_ok, feats, plan, src, valid)
        self._ex_norm: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._prev_shape: tuple[int, np.ndarray] | None = None
        ex_open = feats["params"][:, 0].max()
        want_open = float(np.nanmax(self.targets[:, 0])) if n_out else 0.0
        if want_open > CAVITY_RATIO_START * max(ex_open, 0.01) and want_open > CAVITY_MIN_OPEN:
            self.warnings.append(
                "the source shows no open mouth wide enough; the mouth interior and teeth are synthesised"
            )
        n_switch = int(((self.choice[1:] != self.choice[:-1] + np.diff(src)) & (self.choice[1:] >= 0)).sum())
        log.info("exemplar search: %d exemplars, %d output frames, %d jumps", len(bank), n_out, n_switch)

    @property
    def _rig(self) -> FaceRig:
        """The rig, for the passes: they run only for frames with a chosen exemplar, and exemplars
        are chosen only when the rig exists."""
        assert self.rig is not None, "a frame pass ran without a rig"
        return self.rig

    def _vet_exemplars(self, ok: Callable[[np.ndarray, np.ndarray], bool], feats: dict[str, np.ndarray],
                       plan: MotionPlan, src: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
        """Drop the chosen exemplars ``ok`` refuses and search again (each exemplar vetted once;
        at most VET_ROUNDS searches). Returns the features of the bank finally searched."""
        verdict: dict[int, bool] = {}
        for _ in range(VET_ROUNDS):
            chosen = [int(i) for i in np.unique(self.choice[self.choice >= 0]) if int(i) not in verdict]
            for i in chosen:
                ex = self.bank.exemplars[i]
                verdict[i] = ok(ex.crop, ex.landmarks)
            bad = [i for i, good in verdict.items() if not good and i in self.bank.exemplars]
            if not bad or len(bad) >= len(self.bank):
                break
            self.bank = self.bank.without(bad)
            feats = self.bank.arrays()
            self.choice = choose_exemplars(
                feats, self.targets, plan.closure.astype(bool), src, valid, self.bank.frames, self.track.scale,
                pose_deg=self.track.pose, identity=self.track.identity,
            )
        log.info("exemplars vetted for occluders: %d refused of %d", sum(not v for v in verdict.values()),
                 len(verdict))
        return feats

    def _sanitise_targets(self, mouth: np.ndarray, src: np.ndarray) -> np.ndarray:
        """Fill missing targets with the source's own mouth; never a negative opening."""
        t = np.array(mouth, np.float32, copy=True)
        own = self.track.mouth[src]
        bad = ~np.isfinite(t)
        t[bad] = own[bad]
        still_bad = ~np.isfinite(t)
        if still_bad.any():
            fallback = L.mouth_params(self._rig.template)
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
            m = to_norm(align, self._rig.template)
            got = (m, apply(m, ex.landmarks))
            if len(self._ex_norm) > 64:
                self._ex_norm.clear()
            self._ex_norm[index] = got
        return got

    def _posed(self, index: int, s: int, m_cur: np.ndarray) -> np.ndarray:
        """Normalised landmarks of exemplar ``index`` as seen from source frame ``s``'s head pose.

        The exemplar's raw landmarks (where its pixels are) rotated in 3-D onto frame ``s``'s mesh
        and projected (:func:`pose3d.pose_into`); without a 3-D mesh for the exemplar's frame, the
        2-D similarity alignment.
        """
        if not (0 <= index < self.track.n and self.track.present[index]):
            return self._exemplar(index)[1]
        ex = self.bank.exemplars[index]
        raw = ex.landmarks.astype(np.float64) / ex.scale + ex.origin
        return apply(m_cur, pose3d.pose_into(raw, self.track.landmarks[index], self.track.landmarks[s]))

    def _coverage(self, index: int, s: int) -> float:
        """How much of the exemplar to show: 1 when its head pose is close to frame ``s``'s, fading
        to 0 beyond what the 3-D alignment can bridge (POSE_FULL_DEG..POSE_NONE_DEG)."""
        if not (0 <= index < self.track.n and self.track.present[index]):
            return 1.0
        d = float(pose3d.pose_distance_deg(self.track.pose[index], self.track.pose[s]))
        t = float(np.clip((d - POSE_FULL_DEG) / (POSE_NONE_DEG - POSE_FULL_DEG), 0.0, 1.0))
        return 1.0 - t * t * (3 - 2 * t)

    def _mask_polys(self, face_t: np.ndarray, top_y: float) -> tuple[np.ndarray, np.ndarray]:
        """The exemplar's mask (normalised) is the intersection of two polygons: the outline of the
        target face as seen (the convex hull of its mesh: on a turned head the far cheek, not the jaw
        line behind it) pulled INSIDE_OUTLINE_IOD towards the mouth and cut at ``top_y``, and the
        target's outer lips pushed AROUND_LIPS_IOD outwards."""
        centre = face_t[list(L.MOUTH_CORNERS)].mean(0)
        hull = cv2.convexHull(face_t[:468].astype(np.float32))[:, 0, :].astype(np.float64)
        d = hull - centre
        dist = np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
        inner = hull - np.minimum(INSIDE_OUTLINE_IOD, 0.5 * dist) * d / dist
        inner[:, 1] = np.maximum(inner[:, 1], top_y)
        lips = face_t[list(L.LIPS_OUTER)]
        c = lips.mean(0)
        d = lips - c
        around = lips + AROUND_LIPS_IOD * d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
        return inner, around

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

    def _target_face(self, n_cur: np.ndarray, shaped: np.ndarray) -> np.ndarray:
        """Full normalised target landmarks: the frame's, moved towards ``shaped`` by the mesh weights,
        then unfolded (:meth:`_unfold`)."""
        out = np.array(n_cur[:, :2], np.float64, copy=True)
        idx = self._rig.mesh.indices
        w = self._weights(n_cur)
        out[idx] = self._unfold(out[idx], out[idx] + w[:, None] * (shaped[idx] - out[idx]), w > 0)
        return out

    def _weights(self, n_cur: np.ndarray) -> np.ndarray:
        """This frame's per-mesh-point weights: the person's (nothing above the nose, not the jaw's
        sides) times the frame's silhouette (nothing on the visible outline but the chin). The lips
        all take their smallest weight: a mouth corner on the far cheek's outline of a turned head
        holds the whole mouth back a little (edit less) rather than bending it."""
        rig = self._rig
        w = rig.weight * pose3d.silhouette_weight(n_cur, rig.mesh.indices, rig.chin)
        w[rig.lips] = w[rig.lips].min()  # the lips move as one, so the mouth keeps its shape
        return w

    def _unfold(self, src: np.ndarray, dst: np.ndarray, moving: np.ndarray) -> np.ndarray:
        """``dst`` face points with no skin triangle flipped or crushed below MIN_AREA_SHARE of its area
        in ``src``, as far as the points that move, the lips excepted, can give way.

        Where the mouth moves towards a part of the face that stays (a wide mouth near the pinned
        jaw side of a turned head, 2-D distances shrunk by the turn), the weights' fade is too short
        for the motion: the skin between would fold over. Its points then give up part of their
        motion — the edit is a little smaller there, never torn.
        """
        rig = self._rig
        anchors = rig.mesh.anchors
        s_all = np.concatenate([src, anchors])
        d_all = np.concatenate([dst, anchors])
        tri = rig.skin_tris
        a_s = _areas(s_all, tri)
        real = np.abs(a_s) > 1e-6
        movable = np.concatenate([moving & ~rig.lips, np.zeros(len(anchors), bool)])
        disp = d_all - s_all
        for _ in range(UNFOLD_PASSES):
            bad = real & (_areas(s_all + disp, tri) * np.sign(a_s) < MIN_AREA_SHARE * np.abs(a_s))
            if not bad.any():
                break
            verts = np.unique(tri[bad])
            verts = verts[movable[verts]]
            if verts.size == 0:
                break
            # Each offending point takes its neighbours' mean motion: repeated, the fold's motion
            # spreads out into a membrane between the points that are held.
            disp[verts] = (rig.neighbours @ disp)[verts]
        d_all = s_all + disp
        return d_all[: len(dst)]

    def _dst_points(self, face: np.ndarray, n_src: np.ndarray) -> np.ndarray:
        """Target control points (normalised): mesh points of the target ``face``, the mouth interior
        rows between its lips, the rigid anchors.

        Teeth keep their size when the plan opens wider than the source mouth ``n_src``: the interior
        rows sit at the source's distances from the lips, only the space between them stretches.
        """
        mesh = self._rig.mesh
        up, lo = list(INNER_UPPER), list(INNER_LOWER)
        gap_s = np.linalg.norm(n_src[lo] - n_src[up], axis=1)
        gap_t = np.maximum(np.linalg.norm(face[lo] - face[up], axis=1), 1e-6)
        rows = np.array(INTERIOR_ROWS)[:, None]
        wider = gap_t > gap_s
        frac_t = np.where(wider, np.where(rows < 0.5, rows * gap_s / gap_t, 1 - (1 - rows) * gap_s / gap_t), rows)
        frac_t = np.broadcast_to(frac_t, (len(INTERIOR_ROWS), len(up)))
        return mesh.control_points(face[mesh.indices], mouth_interior(face[up], face[lo], frac_t), mesh.anchors)

    def _src_points(self, lm: np.ndarray, anchors: np.ndarray, target_open: float, source_open: float) -> np.ndarray:
        """Control points in a layer's source image (landmarks ``lm`` px, its anchors px), with the
        inner lips pulled into the lips when they close over an open mouth (:meth:`_fringe_share`)."""
        mesh = self._rig.mesh
        up, lo = list(INNER_UPPER), list(INNER_LOWER)
        rows_s = np.broadcast_to(np.array(INTERIOR_ROWS)[:, None], (len(INTERIOR_ROWS), len(up)))
        pts = mesh.control_points(lm[mesh.indices], mouth_interior(lm[up], lm[lo], rows_s), anchors)
        share = self._fringe_share(target_open, source_open)
        if share > 0:
            inner, outer = self._rig.fringe
            pts[inner] += share * (pts[outer] - pts[inner])
        return pts

    def _warp_layer(self, f: FrameRecord, img: np.ndarray, src_pts: np.ndarray, rigid_to_src: np.ndarray,
                    dst_norm: np.ndarray, roi: Box, rigid_tris: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Warp ``img`` (control points ``src_pts``) onto ``dst_norm`` inside ``roi``: (pixels, valid).
        ``rigid_tris``: triangles that map as ``rigid_to_src`` does (see :func:`backward_map`)."""
        origin = roi.origin
        t_roi = apply(f.from_norm, dst_norm) - origin
        roi_shape = roi.shape
        lips = apply(f.from_norm, f.face[list(L.LIPS_OUTER)]) - origin
        m = 0.12 * f.iod_px
        dx0, dy0 = np.maximum(np.floor(lips.min(0) - m).astype(int), 0)
        dx1, dy1 = np.ceil(lips.max(0) + m).astype(int)
        detail = (int(dx0), int(dy0), int(min(dx1, roi_shape[1])), int(min(dy1, roi_shape[0])))
        map_x, map_y, valid = backward_map(roi_shape, t_roi, src_pts, self._rig.mesh.triangles, rigid_to_src,
                                           f.iod_px, img.shape[:2],
                                           exact_box=_seam_box(f.face, f.from_norm, origin, f.iod_px),
                                           rigid_tris=rigid_tris)
        return sample(img, map_x, map_y, detail), valid

    def _warp_exemplar(self, f: FrameRecord, index: int, n_ex: np.ndarray, roi: Box) -> tuple[np.ndarray, np.ndarray]:
        """Exemplar ``index`` (posed into the frame as ``n_ex``) warped onto the target face inside
        ``roi``: (pixels, valid)."""
        ex = self.bank.exemplars[index]
        m_ex, _ = self._exemplar(index)
        src_pts = self._src_points(ex.landmarks.astype(np.float64), apply(invert(m_ex), self._rig.mesh.anchors),
                                   f.target_open, float(ex.params[0]))
        # ROI pixel → image → normalised → exemplar crop: the map outside the mesh.
        rigid = _compose(invert(m_ex), _compose(f.to_norm, roi.to_frame))
        return self._warp_layer(f, ex.crop, src_pts, rigid, self._dst_points(f.face, n_ex), roi)

    def warm_up(self, start: int) -> None:
        """Prepare to render from output frame ``start`` as if every frame before it had been rendered.

        A chunk of a long job starts mid-clip, but the mouth's contour carries over from frame to
        frame (:meth:`_temporal_shape`); without this the chunk's first frames would differ from
        the one-piece render's and the join would show. Replays the geometry (no pixels, well
        under a millisecond a frame) of the :data:`WARM_UP_FRAMES` frames before ``start``.
        """
        for k in range(max(0, start - WARM_UP_FRAMES), start):
            if self.rig is not None and k < len(self.choice) and self.choice[k] >= 0:
                self._carried_shape(k)

    def _carried_shape(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(source landmarks px, image→normalised, normalised source landmarks, posed exemplar
        landmarks, the frame's temporally carried mouth shape) of output frame ``k``; advances the
        carried state, so frames must come in order (see :meth:`warm_up`)."""
        s = int(self.src[k])
        ex = self.bank.exemplars[int(self.choice[k])]
        lm_cur = self.track.landmarks[s, :, :2].astype(np.float64)
        m_cur = to_norm(lm_cur, self._rig.template)
        n_cur = apply(m_cur, lm_cur)
        n_ex = self._posed(ex.index, s, m_cur)
        return lm_cur, m_cur, n_cur, n_ex, self._temporal_shape(k, n_ex, self.targets[k])

    def _temporal_shape(self, k: int, n_ex: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Exemplar landmarks moved to the target, with the previous frame's lip *details* carried over.

        Two exemplars with the same MOUTH_PARAMS still differ in contour details (a lopsided upper
        lip, a corner a little higher); switching exemplars would make those details pop. Blending
        with the previous frame's shape and re-shaping to the target keeps the planned parameters
        exact while the details glide. Needs frames in order; any other order simply restarts.
        """
        shaper = self._rig.shaper
        shaped = shaper.shape(n_ex, target)
        prev = self._prev_shape
        if prev is not None and prev[0] == k - 1 and int(self.src[k]) - int(self.src[k - 1]) in (-1, 0, 1):
            shaped = shaper.shape(shaped + GEOMETRY_CARRY * (prev[1] - shaped), target)
        self._prev_shape = (k, shaped)
        return shaped

    def _frame(self, k: int) -> FrameRecord:
        """The geometry pass: output frame ``k``'s record (advances the carried mouth shape)."""
        s = int(self.src[k])
        lm_cur, m_cur, n_cur, n_ex, shaped = self._carried_shape(k)
        # The target geometry, as far as the face may move here: from now on the mouth's shape too
        # (the lips move less at the visible outline of a turned head, see :meth:`_weights`).
        return FrameRecord(
            k=k, src=s, exemplar=int(self.bank.exemplars[int(self.choice[k])].index), target=self.targets[k],
            lm=lm_cur, to_norm=m_cur, from_norm=invert(m_cur), n_cur=n_cur, n_ex=n_ex,
            face=self._target_face(n_cur, shaped), iod_px=float(L.interocular(lm_cur)),
            src_open=float(self.track.mouth[s, 0]),
        )

    def render(self, k: int, rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
        """Output frame ``k`` from its source frame ``rgb``; returns (frame, edit box or None).

        ``rgb`` is never modified (the decoder may hand the same array out again, e.g. in bounce
        mode); an edited frame is a copy.
        """
        if self.rig is None or k >= len(self.choice) or self.choice[k] < 0:
            return rgb, None
        f = self._frame(k)
        layer = self._frame_layer(f, rgb)
        if layer is None:
            return rgb, None
        roi, base = layer
        base_f = base.astype(np.float32)
        cover = self._coverage(f.exemplar, f.src)
        if cover < 1:
            # The frame layer shows through where the exemplar fades: its own cavity if the plan
            # opens it wider than the frame's mouth.
            self._paint_cavity(f, rgb, base_f, roi, self._cavity_strength(f.target_open, f.src_open))
        layered, keep = base_f, None
        if cover > 0:
            layered, keep = self._exemplar_layer(f, rgb, roi, base, base_f, cover)
        out, box = self._composite(rgb, roi, layered, keep)
        if box is None:
            return rgb, None
        if self.expression is not None:  # face mode: the expression warp on top of the new mouth
            n_out = expression.rendered_landmarks(f.n_cur, f.face, self._rig.mesh.indices, self._weights(f.n_cur))
            out, box = self.expression.apply(k, out, n_out, f.to_norm, box, inplace=True)  # out is our copy
        return out, box

    def _frame_layer(self, f: FrameRecord, rgb: np.ndarray) -> tuple[Box, np.ndarray] | None:
        """The frame layer: the frame's own pixels carried onto the target geometry, over the box
        of everything that moves; (that box, the layer's pixels), or None when nothing moves or
        the target geometry is broken."""
        dst_cur = self._dst_points(f.face, f.n_cur)
        roi, still = self._moving_box(f, dst_cur, rgb.shape[:2])
        if roi is None:
            return None
        if max(roi.x1 - roi.x0, roi.y1 - roi.y0) > MAX_EDIT_IOD * f.iod_px:
            # A lower face cannot move this far: the target geometry is broken (a mis-tracked,
            # turning face). Leave the frame as it is rather than smear it.
            self._broken += 1
            if self._broken == 1:
                self.warnings.append("some frames' face geometry could not be followed; they are left unchanged")
            return None
        src_cur = self._src_points(f.lm, apply(f.from_norm, self._rig.mesh.anchors), f.target_open, f.src_open)
        base, _ = self._warp_layer(f, rgb, src_cur, roi.to_frame, dst_cur, roi, still)
        return roi, base

    def _paint_cavity(self, f: FrameRecord, rgb: np.ndarray, pixels: np.ndarray, roi: Box, strength: float) -> None:
        """Paint the procedural cavity (in the person's lip and teeth colours) into ``pixels``
        (float32, covering ``roi``) at ``strength``; nothing at 0."""
        if strength > 0:
            lip, teeth = cavity.person_colours(rgb, f.lm)
            cavity.paint(pixels, f.face, _compose(f.to_norm, roi.to_frame), lip, teeth, strength,
                         grain=CAVITY_GRAIN, seed=f.k)

    def _composite(self, rgb: np.ndarray, roi: Box, layered: np.ndarray,
                   keep: np.ndarray | None) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
        """The output frame: ``layered`` (float32 over ``roi``) over a copy of ``rgb``, the untouched
        frame kept where ``keep`` says (an occluder); (frame, box of the pixels that changed), or
        (``rgb``, None) when none did."""
        frame_roi = roi.of(rgb)
        if keep is not None:  # an occluder: the untouched frame wins there
            out_roi = blend.composite(frame_roi, layered, 1.0 - keep)
        else:
            out_roi = cv2.convertScaleAbs(cv2.max(layered, 0.0))
        changed = np.nonzero(cv2.absdiff(out_roi, frame_roi).max(axis=2))
        if len(changed[0]) == 0:
            return rgb, None
        out = rgb.copy()
        roi.of(out)[:] = out_roi
        x0, y0 = roi.x0, roi.y0
        box = (x0 + int(changed[1].min()), y0 + int(changed[0].min()),
               x0 + int(changed[1].max()) + 1, y0 + int(changed[0].max()) + 1)
        return out, box

    def _exemplar_box(self, f: FrameRecord, roi: Box) -> tuple[Box, np.ndarray] | None:
        """The exemplar's box inside ``roi`` (its mask's polygons, padded by the feather) and its hard
        mask (0/1 float over that box); None when the box or the mask is empty."""
        top_y = float(self._rig.template[L.NOSE_TIP, 1]) + MASK_TOP_BELOW_NOSE_IOD
        inner, around = (apply(f.from_norm, p) for p in self._mask_polys(f.face, top_y))
        pad = 3.0 * blend.FEATHER_SIGMA_IOD * f.iod_px + 2
        lo = np.floor(np.maximum(inner.min(0), around.min(0)) - pad).astype(int)
        hi = np.ceil(np.minimum(inner.max(0), around.max(0)) + pad).astype(int)
        eroi = Box(max(roi.x0, int(lo[0])), max(roi.y0, int(lo[1])), min(roi.x1, int(hi[0])), min(roi.y1, int(hi[1])))
        if eroi.x1 - eroi.x0 < 4 or eroi.y1 - eroi.y0 < 4:
            return None
        origin = eroi.origin
        hard = blend.fill_mask(eroi.shape, [inner - origin]) * blend.fill_mask(eroi.shape, [around - origin])
        if not hard.any():
            return None
        return eroi, hard

    def _exemplar_layer(self, f: FrameRecord, rgb: np.ndarray, roi: Box, base: np.ndarray, base_f: np.ndarray,
                        cover: float) -> tuple[np.ndarray, np.ndarray | None]:
        """The exemplar blended over the frame layer ``base_f`` (float32 ROI), and where the untouched
        frame must win (ROI, or None).

        The exemplar is warped, colour-matched and checked for occluders only around its mask (the
        lips and the skin that moves with them), a fraction of the ROI the jaw's motion needs.
        """
        got = self._exemplar_box(f, roi)
        if got is None:
            return base_f, None
        eroi, hard = got
        warped, valid = self._warp_exemplar(f, f.exemplar, f.n_ex, eroi)
        partner = self._dissolve_partner(f.k)
        if partner >= 0:
            # Onto the same geometry: the dissolve blends two textures of one mouth, never two
            # lip contours (a ghost line above the lip, pcavs_00373 frame 124).
            w2, v2 = self._warp_exemplar(f, partner, self._posed(partner, f.src, f.to_norm), eroi)
            warped = cv2.addWeighted(w2, DISSOLVE_WEIGHT, warped, 1 - DISSOLVE_WEIGHT, 0.0)
            valid = valid * v2
        sub = eroi.within(roi)
        alpha, synth = self._blend_layer(f, rgb, eroi, base[sub], warped, valid, hard)
        alpha *= cover
        occ, foreign = self._occluders(f, eroi, eroi.of(rgb), base[sub], synth)
        layered = base_f.copy()
        if occ is not None:  # the exemplar never covers what is in front of the face
            alpha *= 1.0 - occ
        layered[sub] = cv2.blendLinear(synth, base_f[sub], alpha, 1.0 - alpha)
        if occ is None:
            return layered, None
        # The untouched frame wins only over a foreign object (see _foreign_object) — the frame
        # layer would carry a microphone along with the chin — and everywhere when the mouth as a
        # whole is covered. Anything else shows the frame layer: the frame there would bring back
        # pieces of the old mouth (a smile's fold read as an occluder).
        whole = float(occ.min())
        if foreign is None and whole <= 0:
            return layered, None
        keep = np.full(base_f.shape[:2], whole, np.float32)
        keep[sub] = np.maximum(foreign if foreign is not None else 0.0, whole)
        return layered, keep

    def _moving_box(self, f: FrameRecord, dst_norm: np.ndarray,
                    frame_shape: tuple[int, int]) -> tuple[Box | None, np.ndarray]:
        """(the bounding box of every mesh triangle that moves — the frame layer's warp is the
        identity elsewhere — or None when it is empty; bool per triangle: it does not move)."""
        mesh = self._rig.mesh
        n_face = len(mesh.indices)
        moved = np.ones(len(dst_norm), bool)  # interior rows always count
        moved[:n_face] = np.linalg.norm(dst_norm[:n_face] - f.n_cur[mesh.indices], axis=1) > MOVED_IOD
        moved[n_face + mesh.n_interior:] = False  # anchors are rigid
        moving = moved[mesh.triangles].any(axis=1)
        tris = mesh.triangles[moving]
        if len(tris) == 0:
            return None, ~moving
        pts = apply(f.from_norm, dst_norm[np.unique(tris)])
        src = apply(f.from_norm, f.n_cur[mesh.indices])
        allp = np.concatenate([pts, src])
        h, w = frame_shape
        x0, y0 = np.floor(allp.min(0) - 2).astype(int)
        x1, y1 = np.ceil(allp.max(0) + 3).astype(int)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return None, ~moving
        return Box(int(x0), int(y0), int(x1), int(y1)), ~moving

    def _blend_layer(self, f: FrameRecord, rgb: np.ndarray, roi: Box, base: np.ndarray, warped: np.ndarray,
                     valid: np.ndarray, hard: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(alpha, synthesised pixels) of the exemplar's ``roi``: colour match to the frame layer
        ``base``, cavity, feathered ``hard`` mask."""
        origin = roi.origin
        mouths = blend.fill_mask(roi.shape, [
            apply(f.from_norm, f.n_cur[list(L.LIPS_OUTER)]) - origin,
            apply(f.from_norm, f.face[list(L.LIPS_OUTER)]) - origin,
        ])
        synth = blend.colour_match(warped, base, hard * valid * (1.0 - mouths), blend.COLOUR_SIGMA_IOD * f.iod_px)
        exemplar_open = float(self.bank.exemplars[f.exemplar].params[0])
        self._paint_cavity(f, rgb, synth, roi, self._cavity_strength(f.target_open, exemplar_open))
        alpha = blend.feather(hard, blend.FEATHER_SIGMA_IOD * f.iod_px) * valid
        return alpha, synth

    def _occluders(self, f: FrameRecord, roi: Box, frame_roi: np.ndarray, base: np.ndarray,
                   synth: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(where the exemplar must not cover the frame, where the untouched frame must win), 0..1
        over the ROI, each None if clear.

        See :func:`blend.occluder_mask`: the colour-matched exemplar differs from both the frame and
        the frame layer (the frame on the exemplar's geometry: a moved chin is no difference there,
        a stretched old mouth is none in the frame). Worked out on a grid
        where the face is OCC_GRID_IOD_PX across the eyes (an occluder is a big, smooth thing),
        then upsampled: the cost no longer grows with the face's size.
        """
        iod_px = f.iod_px
        full = roi.shape
        s = min(1.0, OCC_GRID_IOD_PX / max(iod_px, 1.0))
        shape = (max(2, round(full[0] * s)), max(2, round(full[1] * s)))
        size = (shape[1], shape[0])
        origin = roi.origin
        shaped_params, cur_params = L.mouth_params(f.face), L.mouth_params(f.n_cur)

        def poly(lm, which):
            return np.round((apply(f.from_norm, lm[list(which)]) - origin) * s * 16).astype(np.int32)

        expected = np.zeros(shape, np.uint8)
        inside_both = np.ones(shape, np.uint8)
        change = abs(float(shaped_params[0] - cur_params[0])) + 0.5 * abs(float(shaped_params[1] - cur_params[1]))
        thick = max(int(round(OCC_EXPECTED_BAND_IOD * iod_px * s)), 1)
        thick_lips = max(int(round((OCC_EXPECTED_BAND_IOD + OCC_BAND_PER_CHANGE * change) * iod_px * s)), 1)
        for lm in (f.n_cur, f.face):
            # Only the face inside *both* jaw lines is checked: between an old and a new chin the
            # frame and the exemplar differ by design (that is the jaw moving).
            face = np.zeros(shape, np.uint8)
            jaw = poly(lm, LOWER_JAW)
            cv2.fillPoly(face, [jaw], 1, lineType=cv2.LINE_8, shift=4)
            inside_both &= face
            lips = poly(lm, L.LIPS_OUTER)
            cv2.fillPoly(expected, [lips], 1, lineType=cv2.LINE_8, shift=4)
            cv2.polylines(expected, [lips], True, 1, thickness=2 * thick_lips, lineType=cv2.LINE_8, shift=4)
            cv2.polylines(expected, [jaw], False, 1, thickness=2 * thick, lineType=cv2.LINE_8, shift=4)
        ring = cv2.dilate(expected, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (4 * thick + 1, 4 * thick + 1)))
        # The whole face inside both jaw lines is checked, not only the exemplar's mask: an occluder
        # reaching past the mask's edge would otherwise be dragged along by the frame layer's warp.
        region = inside_both * (1.0 - expected.astype(np.float32))
        if region.max() <= 0:
            # The target's jaw and the frame's do not overlap at all: a broken target geometry
            # (a mis-tracked face), never a real edit. The frame is left as it is (the edit
            # "covered as a whole"): warped, it smeared a streak across the Hamilton singer.
            return np.ones(full, np.float32), None
        mouth_ring = region * (ring > 0)
        if s < 1:
            frame_s, base_s, synth_s = (cv2.resize(a, size, interpolation=cv2.INTER_LINEAR)
                                        for a in (frame_roi, base, synth))
        else:
            frame_s, base_s, synth_s = frame_roi, base, synth
        occ = blend.occluder_mask(frame_s, synth_s, region, mouth_ring, iod_px * s, also=base_s)
        if occ.max() <= 0:
            return None, None
        foreign = _foreign_object(frame_s, occ, region, inside_both * expected, thick, thick_lips)

        def up(a: np.ndarray) -> np.ndarray:
            return cv2.resize(a, (full[1], full[0]), interpolation=cv2.INTER_LINEAR) if s < 1 else a

        return up(occ), (up(foreign) if foreign is not None else None)

    def _fringe_share(self, target_open: float, exemplar_open: float) -> float:
        """How far (share of the lip's thickness) the inner-lip edge samples into the exemplar's lip.

        Sampling a little inside the lip keeps the exemplar's dark gap edge off a mouth that closes
        over it (and off the synthesised cavity). The share grows with how much of the exemplar's
        gap is being closed: a full share on a mouth asked to close by a fifth made it come out
        shut on small faces. A (nearly) closed target gets the same graded share, not the full
        one: the full share parted the lips of resting mouths with a dark speck between them.
        The measurements behind both: docs/tuning.md, "Rendering".
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


def _foreign_object(frame: np.ndarray, occ: np.ndarray, region: np.ndarray, bands: np.ndarray, thick: int,
                    thick_lips: int) -> np.ndarray | None:
    """Where a solid occluder that is not skin (a microphone, a sleeve, hair) covers the face, grown
    by colour across the bands along the lips and jaw the detector could not check; or None.

    Skin-coloured differences — a hand, but far more often a smile's fold or a lip edge where the
    old mouth was — are left to the frame layer: showing the untouched frame for them brings back
    pieces of the old mouth. Chromaticity, not brightness, tells them apart (a beard's shadow and
    a fold are skin-hued).
    """
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * thick + 1, 2 * thick + 1))
    solid = cv2.morphologyEx((occ > 0.5).astype(np.uint8), cv2.MORPH_OPEN, disc) > 0
    skin = (region > 0) & (occ < 0.1)
    if solid.sum() < 4 or skin.sum() < 4:
        return None
    rgb = frame.astype(np.float32)
    lum = rgb.sum(axis=2) + 1.0
    chroma = rgb[..., :2] / lum[..., None]
    c_obj, c_skin = np.median(chroma[solid], axis=0), np.median(chroma[skin], axis=0)
    if float(np.abs(c_obj - c_skin).max()) < OCC_FOREIGN_CHROMA:
        return None
    similar = (np.abs(chroma - c_obj).max(axis=2) < 0.5 * OCC_FOREIGN_CHROMA) \
        & (np.abs(lum - float(np.median(lum[solid]))) < 3 * OCC_FOREIGN_LEVELS)
    reach = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (4 * thick_lips + 1, 4 * thick_lips + 1))
    grown = solid | ((cv2.dilate(solid.astype(np.uint8), reach) > 0) & similar & ((bands > 0) | (region > 0)))
    return cv2.GaussianBlur(grown.astype(np.float32), (0, 0), max(0.5 * thick, 0.8))


def _areas(pts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Signed areas (×2) of triangles ``tris`` over points ``pts``."""
    a, b, c = pts[tris[:, 0]], pts[tris[:, 1]], pts[tris[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2×3 affine ``a ∘ b`` (apply b first)."""
    return np.hstack([a[:, :2] @ b[:, :2], (a[:, :2] @ b[:, 2] + a[:, 2])[:, None]])
