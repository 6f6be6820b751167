"""Phone tables and text handling: ARPAbet, IPA → ARPAbet, tokenising, stress."""

from __future__ import annotations

import pytest

from reperform.speech.phonetics import (
    ARPABET,
    VOWELS,
    assign_stress,
    ipa_to_arpabet,
    normalize_phone,
    strip_stress,
    tokenize_transcript,
)


def test_the_inventory_is_the_39_phone_cmu_set():
    assert len(ARPABET) == 39
    assert len(VOWELS) == 15


@pytest.mark.parametrize(
    ("label", "expected"),
    [("AH0", ("AH", 0)), ("EY1", ("EY", 1)), ("IH2", ("IH", 2)), ("K", ("K", 0))],
)
def test_stress_digit_is_split_from_the_label(label, expected):
    assert strip_stress(label) == expected


@pytest.mark.parametrize(
    ("label", "expected"),
    [("ah1", "AH"), ("SIL", "SIL"), ("+NSN+", "SIL"), ("+SPN+", "SIL"), ("<sil>", "SIL"), ("ZH", "ZH")],
)
def test_decoder_labels_map_to_the_inventory_and_noise_to_silence(label, expected):
    assert normalize_phone(label) == expected


@pytest.mark.parametrize(
    ("ipa", "expected"),
    [
        ("ˈæ_s_k", [("AE", 1), ("S", 0), ("K", 0)]),
        ("k_w_ˈaɪɚ", [("K", 0), ("W", 0), ("AY", 1), ("ER", 0)]),
        ("dʒ_ˈʌ_dʒ", [("JH", 0), ("AH", 1), ("JH", 0)]),
        ("b_ˈʌ_ʔ_n̩", [("B", 0), ("AH", 1), ("T", 0), ("AH", 0), ("N", 0)]),
        ("k_j_ˈuː_b_ɚ_n_ˌiː_t_s", [("K", 0), ("Y", 0), ("UW", 1), ("B", 0), ("ER", 0), ("N", 0), ("IY", 2),
                                    ("T", 0), ("S", 0)]),
        ("θ_ˈɔː_t_f_əl", [("TH", 0), ("AO", 1), ("T", 0), ("F", 0), ("AH", 0), ("L", 0)]),
        ("b_ˈeɪ_ʒ", [("B", 0), ("EY", 1), ("ZH", 0)]),
        ("ð_ə", [("DH", 0), ("AH", 0)]),
    ],
)
def test_espeak_ipa_becomes_arpabet_with_stress_on_the_vowel(ipa, expected):
    assert ipa_to_arpabet(ipa) == expected


def test_unknown_ipa_symbols_are_skipped_rather_than_invented():
    assert ipa_to_arpabet("m_☃_ˈɑː") == [("M", 0), ("AA", 1)]


def test_transcript_tokens_are_lowercase_dictionary_spellings():
    text = "Hello, World! It’s a well-known café… 1961?"
    assert tokenize_transcript(text) == ["hello", "world", "it's", "a", "well", "known", "cafe", "1961"]


def test_empty_or_punctuation_only_text_has_no_tokens():
    assert tokenize_transcript(" ... !? ") == []


def test_function_words_are_unstressed():
    assert assign_stress("the", ["DH", "AH"], [1]) == [0, 0]


def test_espeak_stress_pattern_is_used_when_its_vowel_count_matches():
    phones = ["AH", "M", "EH", "R", "AH", "K", "AH", "N", "Z"]
    assert assign_stress("americans", phones, [0, 1, 0, 0]) == [0, 0, 1, 0, 0, 0, 0, 0, 0]


def test_without_a_matching_pattern_the_first_full_vowel_is_stressed():
    phones = ["AH", "B", "AW", "T"]
    assert assign_stress("abouts", phones, [1]) == [0, 0, 1, 0]
    assert assign_stress("abouts", phones, None) == [0, 0, 1, 0]


def test_a_word_of_schwas_stresses_its_first_vowel():
    assert assign_stress("uhuh", ["AH", "HH", "AH"], None) == [1, 0, 0]
