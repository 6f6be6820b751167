"""Motion stage: turns speech (and, later, emotion and prosody) into per-frame targets.

``plan_motion(...) -> MotionPlan`` is the whole public surface; the passes live in ``visemes``
(rule table), ``adapt`` and ``learn`` (this speaker's shapes and range), ``mouth``
(coarticulation, pauses, acoustics, closures), ``trajectory`` (the learned, speaker-independent
opening blended into it), ``expression`` and ``head`` (face and head modes),
merged onto output frames by ``plan``.
"""

from .ease import edit_spans, pixel_alpha
from .ease import merge as merge_segments
from .expression import AUS, N_AUS
from .plan import plan_motion
from .trajectory import MouthModel
from .trajectory import load as _load_trajectory
from .visemes import Viseme


def load_mouth_model(path: str | None = None) -> MouthModel | None:
    """The learned mouth trajectory: the shipped one (``None``), one at ``path``, or none (``""``)."""
    return None if path == "" else _load_trajectory(path)


__all__ = ["AUS", "N_AUS", "MouthModel", "Viseme", "edit_spans", "load_mouth_model", "merge_segments",
           "pixel_alpha", "plan_motion"]
