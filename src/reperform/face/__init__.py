"""Face stage: find and follow the edited person's face, measure their mouth and pose."""

from .detect import warm_up
from .occlusion import OcclusionFinder
from .profile import build_profile
from .speakers import AllFaces, BoxedFace, Selection, check_boxes, check_frame, face_boxes, face_under
from .track import FaceTracker, build_track

__all__ = ["AllFaces", "BoxedFace", "FaceTracker", "OcclusionFinder", "Selection", "build_profile", "build_track",
           "check_boxes", "check_frame", "face_boxes", "face_under", "warm_up"]
