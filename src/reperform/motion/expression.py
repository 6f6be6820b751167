"""Facial expression as FACS action units (face mode; lips mode leaves them at zero).

The AU list is fixed here so every stage agrees on the columns of :attr:`MotionPlan.au`.
"""

from __future__ import annotations

import numpy as np

#: FACS action units planned per frame, in column order of ``MotionPlan.au``. Chosen to cover
#: the six prompts (happy 6+12, sad 1+4+15, angry 4+5+7+23, surprised 1+2+5+26,
#: disgusted 9+10+15) and emphasis (brow raise 1+2 on pitch accents).
AUS: tuple[str, ...] = (
    "AU1",  # inner brow raiser
    "AU2",  # outer brow raiser
    "AU4",  # brow lowerer
    "AU5",  # upper lid raiser
    "AU6",  # cheek raiser
    "AU7",  # lid tightener
    "AU9",  # nose wrinkler
    "AU10",  # upper lip raiser
    "AU12",  # lip corner puller
    "AU15",  # lip corner depressor
    "AU23",  # lip tightener
    "AU26",  # jaw drop
)
N_AUS = len(AUS)


def neutral_aus(n_frames: int) -> np.ndarray:
    """No expression change: float32[n_frames, N_AUS] zeros (lips mode keeps the source's face)."""
    return np.zeros((n_frames, N_AUS), np.float32)


def no_blinks(n_frames: int) -> np.ndarray:
    """No extra blinks: float32[n_frames] zeros (the source's own blinks stay)."""
    return np.zeros(n_frames, np.float32)
