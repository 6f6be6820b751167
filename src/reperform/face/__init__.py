"""Face stage: find and follow the edited person's face, measure their mouth and pose."""

from .detect import warm_up
from .profile import build_profile
from .speakers import AllFaces, BoxedFace, Selection
from .track import FaceTracker, build_track

__all__ = ["AllFaces", "BoxedFace", "FaceTracker", "Selection", "build_profile", "build_track", "warm_up"]
