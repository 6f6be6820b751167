"""The records the renderer's passes share: the person's rig, one output frame's geometry, a box.

The renderer (:mod:`compose`) draws an output frame as passes — geometry, frame layer, cavity,
exemplar layer (warp, blend), occlusion, expression — and every pass needs the same handful of
facts about the frame: which source frame and exemplar it shows, where its landmarks are in the
image and in the person's normalised frame, the target face, the face's size. Handed over as
loose arrays those made functions of 8 to 14 parameters whose order was easy to get wrong (two of
them were always the same array); here they are named once, with their shapes, and frozen, so a
pass cannot change what the next one sees.

Shapes: ``N`` = 478 MediaPipe landmarks; ``M`` = the warp mesh's face points
(:attr:`WarpMesh.indices`); normalised coordinates are the person's face frame (origin between
the eyes, unit = inter-ocular distance, see :mod:`geometry`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .. import landmarks as L
from . import pose3d
from .geometry import (
    INNER_LOWER,
    INNER_UPPER,
    OUTER_LOWER,
    OUTER_UPPER,
    MouthShaper,
    WarpMesh,
    build_template,
)

#: Frames sampled to build the person's normalised template face.
TEMPLATE_SAMPLES = 120


@dataclass(frozen=True)
class Box:
    """A pixel rectangle ``[x0, x1) × [y0, y1)`` of the frame (a pass's region of interest)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def origin(self) -> np.ndarray:
        """(2,) float64: the box's top-left corner in frame pixels."""
        return np.array([self.x0, self.y0], np.float64)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width), as numpy arrays of the box are shaped."""
        return (self.y1 - self.y0, self.x1 - self.x0)

    @property
    def to_frame(self) -> np.ndarray:
        """2×3 affine from box pixels to frame pixels (a translation)."""
        return np.array([[1.0, 0.0, self.x0], [0.0, 1.0, self.y0]])

    def of(self, img: np.ndarray) -> np.ndarray:
        """The view of frame-sized ``img`` inside the box."""
        return img[self.y0:self.y1, self.x0:self.x1]

    def within(self, outer: Box) -> tuple[slice, slice]:
        """Index of this box inside an array covering ``outer`` (which contains it)."""
        return (slice(self.y0 - outer.y0, self.y1 - outer.y0), slice(self.x0 - outer.x0, self.x1 - outer.x0))

    def as_tuple(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1), the form the warp and the blend helpers take."""
        return (self.x0, self.y0, self.x1, self.y1)


@dataclass(frozen=True)
class FaceRig:
    """The person's normalised face and the warp mesh over it: built once per job from the track.

    It exists only when there is something to render (a face in some frame and a mouth bank):
    :class:`~.compose.Renderer` holds ``None`` otherwise and leaves every frame as it is.
    """

    #: (N, 2) the person's average face, normalised.
    template: np.ndarray
    shaper: MouthShaper
    mesh: WarpMesh
    #: (M,) how far each mesh point follows the re-performed mouth (1) or stays with the frame (0):
    #: nothing above the nose moves, nor the jaw's sides beside the ears, at any head pose.
    weight: np.ndarray
    #: (M,) 1 for the chin's part of the outline (it may move with the jaw even on the silhouette).
    chin: np.ndarray
    #: (M,) bool: the lips, which keep the planned shape exactly (never give way to unfold).
    lips: np.ndarray
    #: (T, 3) skin triangles (face points and anchors, no mouth-interior rows), indexing control
    #: points with the interior rows left out.
    skin_tris: np.ndarray
    #: (M + anchors, M + anchors) row-normalised adjacency of ``skin_tris``: a point's neighbours' mean.
    neighbours: sparse.csr_matrix
    #: Control-point indices of the inner lips and of the outer lips they pair with (the fringe).
    fringe: tuple[np.ndarray, np.ndarray]


def build_rig(landmarks: np.ndarray, present: np.ndarray) -> FaceRig:
    """The rig of the face tracked as ``landmarks`` (n, N, 3), from the frames where it is ``present``
    (at least one)."""
    idx = np.nonzero(present)[0]
    pick = idx[np.linspace(0, len(idx) - 1, min(TEMPLATE_SAMPLES, len(idx))).astype(int)]
    template = build_template(landmarks[pick, :, :2].astype(np.float64))
    shaper = MouthShaper(template)
    mesh = WarpMesh(template, shaper)
    template3 = pose3d.build_template3d(landmarks[pick].astype(np.float64))
    weight = mesh.blend_w * pose3d.side_weight(template3, mesh.indices)
    chin = pose3d.chin_weight(template3, mesh.indices)
    # Triangles of face points and anchors (not the mouth's interior rows, which open and close
    # by design), in the order of control points with the interior rows left out.
    n_face = len(mesh.indices)
    tris = mesh.triangles
    no_interior = ~((tris >= n_face) & (tris < n_face + mesh.n_interior)).any(axis=1)
    lips = np.isin(mesh.indices, L.LIPS_OUTER + L.LIPS_INNER)
    skin_tris = np.where(tris[no_interior] >= n_face, tris[no_interior] - mesh.n_interior, tris[no_interior])
    n_skin = n_face + len(mesh.anchors)
    e = np.concatenate([skin_tris[:, [0, 1]], skin_tris[:, [1, 2]], skin_tris[:, [2, 0]]])
    adj = sparse.coo_matrix((np.ones(2 * len(e)), (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])),
                            shape=(n_skin, n_skin)).tocsr()
    adj.data[:] = 1.0  # duplicate edges summed: count each neighbour once
    neighbours = sparse.diags(1.0 / np.maximum(np.asarray(adj.sum(axis=1)).ravel(), 1.0)) @ adj
    pos = {int(i): j for j, i in enumerate(mesh.indices)}
    fringe = (np.array([pos[i] for i in INNER_UPPER + INNER_LOWER]),
              np.array([pos[i] for i in OUTER_UPPER + OUTER_LOWER]))
    return FaceRig(template, shaper, mesh, weight, chin, lips, skin_tris, neighbours, fringe)


@dataclass(frozen=True)
class FrameRecord:
    """What every pass of one output frame shares; made by the geometry pass
    (:meth:`~.compose.Renderer._frame`), read by all the others."""

    #: Output frame index (also the cavity grain's seed).
    k: int
    #: Source frame index the output frame is drawn from.
    src: int
    #: Bank index of the exemplar chosen for the frame's mouth.
    exemplar: int
    #: (3,) float32 planned MOUTH_PARAMS (opening, width, protrusion), inter-ocular units.
    target: np.ndarray
    #: (N, 2) float64 the source frame's landmarks, pixels.
    lm: np.ndarray
    #: 2×3 image pixels → normalised, fitted on the source frame's stable landmarks.
    to_norm: np.ndarray
    #: 2×3 normalised → image pixels (the inverse of ``to_norm``).
    from_norm: np.ndarray
    #: (N, 2) the source frame's landmarks, normalised.
    n_cur: np.ndarray
    #: (N, 2) the exemplar's landmarks posed into the source frame's head pose, normalised.
    n_ex: np.ndarray
    #: (N, 2) the target face, normalised: the frame's face with the re-performed mouth and chin
    #: where they may move (see ``Renderer._target_face``). Both layers are warped onto it.
    face: np.ndarray
    #: Inter-ocular distance of the source frame, pixels: the scale of every size in IOD units.
    iod_px: float
    #: The source frame's own mouth opening (inter-ocular units).
    src_open: float

    @property
    def target_open(self) -> float:
        """The planned mouth opening (inter-ocular units)."""
        return float(self.target[0])
