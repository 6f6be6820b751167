"""Render stage: re-performs the lower face of each output frame from the clip's own mouths.

Public surface: :class:`MouthBank` (filled during the analysis pass) and :class:`Renderer`
(one per job; ``render(k, rgb) -> (rgb, edit_box)``).
"""

from .blend import fade_edit, keep_filmed
from .compose import Renderer
from .exemplars import MouthBank
from .head import HeadWarper

__all__ = ["HeadWarper", "MouthBank", "Renderer", "fade_edit", "keep_filmed"]
