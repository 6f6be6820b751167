"""The phone → viseme table: one test per row, and the table's own consistency."""

from __future__ import annotations

import pytest

from reperform.motion.visemes import (
    CLOSURE_PHONES,
    PHONE_RULES,
    VISEME_SHAPES,
    Viseme,
    rule_for,
    viseme_of,
)

#: The specification, written independently of the code: what each phone must look like.
EXPECTED = {
    "P": Viseme.PBM, "B": Viseme.PBM, "M": Viseme.PBM,
    "F": Viseme.FV, "V": Viseme.FV,
    "TH": Viseme.TH, "DH": Viseme.TH,
    "T": Viseme.ALVEOLAR, "D": Viseme.ALVEOLAR, "N": Viseme.ALVEOLAR, "L": Viseme.ALVEOLAR,
    "S": Viseme.ALVEOLAR, "Z": Viseme.ALVEOLAR,
    "K": Viseme.VELAR, "G": Viseme.VELAR, "NG": Viseme.VELAR, "HH": Viseme.VELAR,
    "SH": Viseme.POSTALVEOLAR, "ZH": Viseme.POSTALVEOLAR, "CH": Viseme.POSTALVEOLAR, "JH": Viseme.POSTALVEOLAR,
    "R": Viseme.R, "ER": Viseme.R,
    "W": Viseme.ROUNDED, "UW": Viseme.ROUNDED, "UH": Viseme.ROUNDED,
    "OW": Viseme.OPEN_ROUNDED, "AO": Viseme.OPEN_ROUNDED, "OY": Viseme.OPEN_ROUNDED,
    "AA": Viseme.OPEN, "AH": Viseme.OPEN, "AW": Viseme.OPEN, "AY": Viseme.OPEN,
    "AE": Viseme.MID, "EH": Viseme.MID, "EY": Viseme.MID,
    "IY": Viseme.SPREAD, "IH": Viseme.SPREAD, "Y": Viseme.SPREAD,
    "SIL": Viseme.REST,
}


@pytest.mark.parametrize(("phone", "viseme"), sorted(EXPECTED.items()))
def test_each_phone_maps_to_its_viseme_class(phone, viseme):
    assert viseme_of(phone) is viseme


def test_every_cmu_phone_has_exactly_one_rule():
    assert set(PHONE_RULES) == set(EXPECTED)


def test_stress_digits_are_ignored_when_looking_up_a_rule():
    assert viseme_of("AA1") is Viseme.OPEN
    assert viseme_of("iy0") is Viseme.SPREAD


def test_unknown_labels_rest_rather_than_move_the_lips():
    assert viseme_of("+NOISE+") is Viseme.REST
    assert viseme_of("") is Viseme.REST


def test_only_bilabials_seal_the_lips():
    assert {p for p, r in PHONE_RULES.items() if r.viseme is Viseme.PBM} == CLOSURE_PHONES == {"P", "B", "M"}
    assert VISEME_SHAPES[Viseme.PBM][0] == 0.0


def test_lip_critical_consonants_dominate_tongue_consonants():
    for lip in ("P", "B", "M", "F", "V", "W"):
        for tongue in ("T", "D", "K", "G", "HH", "N"):
            assert rule_for(lip).dominance > rule_for(tongue).dominance


def test_rounded_shapes_are_narrower_and_more_protruded_than_spread_ones():
    rounded = VISEME_SHAPES[Viseme.ROUNDED]
    spread = VISEME_SHAPES[Viseme.SPREAD]
    assert rounded[1] < 0 < spread[1]
    assert rounded[2] > 0 > spread[2]


def test_open_vowels_open_more_than_close_vowels():
    assert VISEME_SHAPES[Viseme.OPEN][0] > VISEME_SHAPES[Viseme.MID][0] > VISEME_SHAPES[Viseme.SPREAD][0]
