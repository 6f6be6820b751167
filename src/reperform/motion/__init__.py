"""Motion stage: turns speech (and, later, emotion and prosody) into per-frame targets.

``plan_motion(...) -> MotionPlan`` is the whole public surface; the passes live in ``visemes``
(rule table), ``adapt`` and ``learn`` (this speaker's shapes and range), ``mouth``
(coarticulation, pauses, acoustics, closures), ``expression`` and ``head`` (face and head modes),
merged onto output frames by ``plan``.
"""

from .expression import AUS, N_AUS
from .plan import plan_motion
from .visemes import Viseme

__all__ = ["AUS", "N_AUS", "Viseme", "plan_motion"]
