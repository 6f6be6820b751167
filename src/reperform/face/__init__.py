"""Face stage: find and follow the edited person's face, measure their mouth and pose."""

from .detect import warm_up
from .occlusion import OcclusionFinder
from .profile import build_profile
from .track import FaceTracker

__all__ = ["FaceTracker", "OcclusionFinder", "build_profile", "warm_up"]
