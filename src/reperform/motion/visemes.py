"""Phone → viseme rules: one table row per ARPAbet phone, each with its phonetic reason.

A *viseme* is a class of phones that look alike on the lips. Each class has a generic target
shape, written as fractions of this person's range (see :data:`VISEME_SHAPES`), and each phone
row adds how far its own opening goes within the class and how strongly it resists coarticulation
(its *dominance*, Cohen & Massaro 1993): lip-critical consonants (p/b/m, f/v, w) must reach their
shape whatever surrounds them; tongue consonants (t/d/k/g/h) are invisible on the lips and let the
neighbouring vowels shape the mouth.

Speaker adaptation (:func:`reperform.motion.adapt.speaker_targets`, then
:func:`reperform.motion.learn.fit_openings`) replaces the generic shapes by the shapes this person
really makes whenever the source video has its own speech, so there the table is only a prior.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class Viseme(IntEnum):
    """Mouth-shape classes; the value is the ``int8`` stored in :attr:`MotionPlan.viseme`."""

    REST = 0  # silence: the person's own neutral
    PBM = 1  # bilabial: lips sealed
    FV = 2  # labiodental: lower lip tucked under the upper teeth
    TH = 3  # dental: tongue tip between the teeth, small opening
    ALVEOLAR = 4  # t d n s z l: teeth close together, lips relaxed
    VELAR = 5  # k g ng: back of the tongue; jaw half open, lips follow the vowel
    POSTALVEOLAR = 6  # sh zh ch jh: lips pushed forward, teeth close
    R = 7  # r er: lips slightly rounded and narrowed
    ROUNDED = 8  # w uw uh: tight rounding, narrow and protruded
    OPEN_ROUNDED = 9  # ow ao oy: open and rounded
    OPEN = 10  # aa ah aw ay: jaw wide open
    MID = 11  # ae eh ey: half open, slightly spread
    SPREAD = 12  # iy ih y: corners pulled wide, small opening


N_VISEMES = len(Viseme)


#: Generic target per viseme as fractions of the person's range, per MOUTH_PARAMS column.
#: The openings were fitted (ridge regression toward hand-set phonetic values, through the
#: coarticulation model) to the real measured mouths of three English dev clips, checked
#: leave-one-clip-out (docs/tuning.md). Lip rounding
#: makes the inner-lip gap *small* even on open-jaw vowels; tongue consonants stay about half open.
#: Columns:
#: open and jaw 0 = neutral (closed) .. 1 = the person's wide-open percentile; width and
#: protrusion −1 = narrowest/least .. 0 = neutral .. +1 = widest/most.
VISEME_SHAPES: dict[Viseme, tuple[float, float, float, float]] = {
    Viseme.REST: (0.0, 0.0, 0.0, 0.0),
    Viseme.PBM: (0.0, -0.05, 0.15, 0.05),  # sealed; lips pressed, slightly thicker
    Viseme.FV: (0.16, 0.05, -0.3, 0.12),  # lower lip under teeth thins the visible lip
    Viseme.TH: (0.53, 0.1, -0.1, 0.3),
    Viseme.ALVEOLAR: (0.43, 0.15, -0.05, 0.25),
    Viseme.VELAR: (0.6, 0.05, 0.0, 0.35),
    Viseme.POSTALVEOLAR: (0.54, -0.5, 0.7, 0.25),  # flared lips part even with teeth close
    Viseme.R: (0.2, -0.45, 0.45, 0.25),
    Viseme.ROUNDED: (0.18, -0.9, 0.9, 0.25),  # rounding shrinks the inner-lip gap
    Viseme.OPEN_ROUNDED: (0.29, -0.55, 0.6, 0.55),  # jaw opens, rounded lips keep the gap small
    Viseme.OPEN: (1.0, 0.15, -0.05, 0.85),
    Viseme.MID: (0.99, 0.45, -0.2, 0.6),
    Viseme.SPREAD: (0.67, 0.8, -0.35, 0.3),
}


@dataclass(frozen=True, slots=True)
class PhoneRule:
    """How one phone looks and how strongly it holds its shape.

    ``open_scale`` scales the viseme's opening for this phone (AH is a reduced AA);
    ``dominance`` is the Cohen–Massaro magnitude (1 = a typical vowel); ``lip_critical`` marks
    phones the lips *must* reach (their dominance is not lowered in fast speech).
    """

    viseme: Viseme
    open_scale: float
    dominance: float
    reason: str
    lip_critical: bool = False


#: One row per ARPAbet phone (pocketsphinx en-us set, no stress digits) plus SIL.
PHONE_RULES: dict[str, PhoneRule] = {
    # --- bilabials: the lips must seal, whatever the neighbours
    "P": PhoneRule(Viseme.PBM, 0.0, 2.5, "bilabial stop: closure before the burst", True),
    "B": PhoneRule(Viseme.PBM, 0.0, 2.5, "bilabial stop: closure before the burst", True),
    "M": PhoneRule(Viseme.PBM, 0.0, 2.0, "bilabial nasal: lips closed throughout", True),
    # --- labiodentals
    "F": PhoneRule(Viseme.FV, 1.0, 2.0, "lower lip against upper teeth", True),
    "V": PhoneRule(Viseme.FV, 1.0, 2.0, "lower lip against upper teeth", True),
    # --- dentals
    "TH": PhoneRule(Viseme.TH, 1.0, 1.2, "tongue between the teeth needs a small gap"),
    "DH": PhoneRule(Viseme.TH, 0.8, 0.8, "voiced dental, usually short (the, this)"),
    # --- alveolars: tongue gestures, nearly invisible; lips follow the vowels
    "T": PhoneRule(Viseme.ALVEOLAR, 1.0, 0.5, "tongue tip stop: teeth close, lips free"),
    "D": PhoneRule(Viseme.ALVEOLAR, 1.0, 0.5, "tongue tip stop: teeth close, lips free"),
    "N": PhoneRule(Viseme.ALVEOLAR, 1.0, 0.4, "alveolar nasal: jaw rises a little, lips free"),
    "L": PhoneRule(Viseme.ALVEOLAR, 1.2, 0.4, "lateral: tongue up, jaw moderately open"),
    "S": PhoneRule(Viseme.ALVEOLAR, 1.0, 1.0, "sibilant needs the teeth nearly together"),
    "Z": PhoneRule(Viseme.ALVEOLAR, 1.0, 0.9, "sibilant needs the teeth nearly together"),
    # --- velars and glottal: invisible, take the next vowel's shape
    "K": PhoneRule(Viseme.VELAR, 1.0, 0.35, "back-of-tongue stop: lips follow the vowel"),
    "G": PhoneRule(Viseme.VELAR, 1.0, 0.35, "back-of-tongue stop: lips follow the vowel"),
    "NG": PhoneRule(Viseme.VELAR, 0.8, 0.35, "velar nasal: lips follow the vowel"),
    "HH": PhoneRule(Viseme.VELAR, 1.2, 0.15, "breath only: the mouth already shapes the next vowel"),
    # --- postalveolars: lips protrude
    "SH": PhoneRule(Viseme.POSTALVEOLAR, 1.0, 2.0, "lips pushed forward, teeth close", True),
    "ZH": PhoneRule(Viseme.POSTALVEOLAR, 1.0, 2.0, "lips pushed forward, teeth close", True),
    "CH": PhoneRule(Viseme.POSTALVEOLAR, 1.0, 2.0, "affricate: closure then protruded release", True),
    "JH": PhoneRule(Viseme.POSTALVEOLAR, 1.0, 2.0, "affricate: closure then protruded release", True),
    # --- approximants
    "R": PhoneRule(Viseme.R, 1.0, 1.0, "English r is lip-rounded"),
    "W": PhoneRule(Viseme.ROUNDED, 0.8, 3.0, "labial-velar glide: tight rounding", True),
    "Y": PhoneRule(Viseme.SPREAD, 0.7, 0.8, "palatal glide: spread like iy"),
    # --- vowels (dominance ≈ 1, opening from the viseme)
    "AA": PhoneRule(Viseme.OPEN, 1.15, 1.0, "low back vowel: widest jaw"),
    "AE": PhoneRule(Viseme.MID, 1.15, 1.0, "low front vowel: open and spread"),
    "AH": PhoneRule(Viseme.OPEN, 0.75, 0.8, "mid central (schwa when unstressed): moderate"),
    "AO": PhoneRule(Viseme.OPEN_ROUNDED, 1.1, 1.0, "open-mid back rounded"),
    "AW": PhoneRule(Viseme.OPEN, 1.0, 1.0, "diphthong a→u: opens, then rounds"),
    "AY": PhoneRule(Viseme.OPEN, 1.0, 1.0, "diphthong a→i: opens, then spreads"),
    "EH": PhoneRule(Viseme.MID, 1.0, 1.0, "open-mid front"),
    "ER": PhoneRule(Viseme.R, 1.2, 1.0, "r-coloured vowel: rounded, half open"),
    "EY": PhoneRule(Viseme.MID, 0.9, 1.0, "diphthong e→i: half open, spreading"),
    "IH": PhoneRule(Viseme.SPREAD, 1.1, 0.9, "near-close front: small opening"),
    "IY": PhoneRule(Viseme.SPREAD, 1.0, 1.0, "close front: corners wide, small opening"),
    "OW": PhoneRule(Viseme.OPEN_ROUNDED, 0.9, 1.0, "diphthong o→u: rounded"),
    "OY": PhoneRule(Viseme.OPEN_ROUNDED, 1.0, 1.0, "diphthong o→i: rounded then spread"),
    "UH": PhoneRule(Viseme.ROUNDED, 1.2, 1.0, "near-close back: loosely rounded"),
    "UW": PhoneRule(Viseme.ROUNDED, 1.0, 1.5, "close back rounded: tight, protruded"),
    # --- silence
    "SIL": PhoneRule(Viseme.REST, 0.0, 1.0, "silence: the person's neutral"),
}

#: Diphthongs move to a second shape over their last part (Rhubarb's 60/40 split):
#: phone → (viseme of the off-glide, fraction of the phone where the glide begins).
DIPHTHONG_GLIDES: dict[str, tuple[Viseme, float]] = {
    "AW": (Viseme.ROUNDED, 0.6),
    "AY": (Viseme.SPREAD, 0.6),
    "EY": (Viseme.SPREAD, 0.6),
    "OW": (Viseme.ROUNDED, 0.6),
    "OY": (Viseme.SPREAD, 0.6),
}

VOWEL_VISEMES: frozenset[Viseme] = frozenset(
    {Viseme.OPEN, Viseme.MID, Viseme.SPREAD, Viseme.OPEN_ROUNDED, Viseme.ROUNDED, Viseme.R}
)
VOWELS: frozenset[str] = frozenset(
    ["AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"]
)
#: Phones whose lips seal (MotionPlan.closure).
CLOSURE_PHONES: frozenset[str] = frozenset({"P", "B", "M"})


def rule_for(label: str) -> PhoneRule:
    """The rule of an ARPAbet label (stress digit allowed); unknown labels count as silence.

    An unknown label is far more likely noise or a filler the recogniser emitted than speech,
    and a mouth that stays at rest is the safe failure.
    """
    base = label.upper().rstrip("012")
    return PHONE_RULES.get(base, PHONE_RULES["SIL"])


def viseme_of(label: str) -> Viseme:
    """The viseme class of an ARPAbet phone label."""
    return rule_for(label).viseme


def shape_fractions(viseme: Viseme) -> np.ndarray:
    """Generic target of a viseme as range fractions, float32[4] (see VISEME_SHAPES)."""
    return np.asarray(VISEME_SHAPES[Viseme(viseme)], np.float32)
