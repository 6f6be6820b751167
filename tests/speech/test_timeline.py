"""Pure timeline assembly: phone clean-up, pauses, phrases, segment windows."""

from __future__ import annotations

import pytest

from reperform.records import Phone
from reperform.speech.align import chunk_plan
from reperform.speech.analyzer import segment_windows
from reperform.speech.timeline import (
    MIN_PAUSE_S,
    clean_phones,
    merge_ranges,
    pauses_from_phones,
    phrases_between,
    subtract_ranges,
)


def _assert_tiles(phones: list[Phone], duration: float) -> None:
    assert phones[0].start_s == 0.0
    assert phones[-1].end_s == pytest.approx(duration)
    for a, b in zip(phones, phones[1:], strict=False):
        assert a.end_s == pytest.approx(b.start_s)
        assert a.end_s > a.start_s


def test_gaps_become_silence_and_the_phones_tile_the_whole_duration():
    phones = [Phone(0.5, 0.6, "P"), Phone(0.6, 0.8, "AA", 1), Phone(1.2, 1.3, "M")]
    out = clean_phones(phones, 2.0)
    _assert_tiles(out, 2.0)
    assert [p.label for p in out] == ["SIL", "P", "AA", "SIL", "M", "SIL"]
    assert out[2].stress == 1


def test_overlapping_phones_are_made_sequential_and_clipped_to_the_duration():
    phones = [Phone(0.0, 0.5, "AA"), Phone(0.4, 0.7, "B"), Phone(0.9, 1.5, "IY")]
    out = clean_phones(phones, 1.2)
    _assert_tiles(out, 1.2)
    assert out[1].label == "B" and out[1].start_s == pytest.approx(0.5)
    assert out[-1].label == "IY" and out[-1].end_s == pytest.approx(1.2)


def test_rounding_gaps_are_closed_by_stretching_not_filled_with_silence():
    out = clean_phones([Phone(0.0, 0.3, "M"), Phone(0.305, 0.6, "AA")], 0.6)
    assert [p.label for p in out] == ["M", "AA"]
    assert out[0].end_s == pytest.approx(0.305)


def test_neighbouring_silences_merge_and_empty_phones_vanish():
    phones = [Phone(0.0, 0.2, "SIL"), Phone(0.2, 0.5, "SIL"), Phone(0.5, 0.5, "K"), Phone(0.5, 0.7, "AA")]
    out = clean_phones(phones, 0.7)
    assert [(p.label, p.start_s, p.end_s) for p in out] == [("SIL", 0.0, 0.5), ("AA", 0.5, 0.7)]


def test_no_phones_gives_one_silence():
    assert clean_phones([], 1.0) == [Phone(0.0, 1.0, "SIL")]


def test_pauses_are_silences_of_at_least_120_ms_including_leading_and_trailing():
    phones = [
        Phone(0.0, 0.3, "SIL"), Phone(0.3, 0.5, "AA"), Phone(0.5, 0.6, "SIL"),  # 100 ms: a closure
        Phone(0.6, 0.8, "P"), Phone(0.8, 0.92, "SIL"), Phone(0.92, 1.0, "IY"), Phone(1.0, 2.0, "SIL"),
    ]
    assert abs(MIN_PAUSE_S - 0.12) < 1e-9
    assert pauses_from_phones(phones) == [(0.0, 0.3), (0.8, 0.92), (1.0, 2.0)]


def test_adjacent_silence_phones_count_as_one_pause():
    phones = [Phone(0.0, 0.1, "AA"), Phone(0.1, 0.17, "SIL"), Phone(0.17, 0.24, "SIL"), Phone(0.24, 0.4, "B")]
    assert pauses_from_phones(phones) == [(0.1, 0.24)]


def test_ranges_merge_when_they_overlap_or_nearly_touch():
    assert merge_ranges([(1.0, 2.0), (0.0, 0.5), (1.5, 3.0)]) == [(0.0, 0.5), (1.0, 3.0)]
    assert merge_ranges([(0.0, 1.0), (1.05, 2.0)], join_gap_s=0.1) == [(0.0, 2.0)]


def test_phrases_are_the_spoken_stretches_between_pauses():
    assert phrases_between([(0.0, 0.3), (1.0, 1.5), (2.8, 3.0)], 3.0) == [(0.3, 1.0), (1.5, 2.8)]
    assert phrases_between([], 2.0) == [(0.0, 2.0)]
    assert phrases_between([(0.0, 2.0)], 2.0) == []


def test_segment_windows_are_padded_disjoint_and_inside_the_audio():
    segments = ((0.2, 2.0, "a"), (2.0, 3.5, "b"), (5.0, 6.0, "c"))
    windows = segment_windows(segments, 6.3, pad_s=0.6)
    assert len(windows) == 3
    assert windows[0][0] == 0.0 and windows[-1][1] == pytest.approx(6.3)
    for (a0, b0), (a1, b1) in zip(windows, windows[1:], strict=False):
        assert a0 < b0 <= a1 < b1
    assert windows[1] == pytest.approx((2.0, 4.1))
    assert windows[2] == pytest.approx((4.4, 6.3))


def test_subtracting_ranges_splits_and_drops_short_pieces():
    assert subtract_ranges([(0.0, 1.0)], [(0.4, 0.5)]) == [(0.0, 0.4), (0.5, 1.0)]
    assert subtract_ranges([(0.0, 1.0), (2.0, 3.0)], [(0.9, 2.05)], min_len_s=0.12) == [(0.0, 0.9), (2.05, 3.0)]
    assert subtract_ranges([(0.0, 0.3)], [(0.1, 0.25)], min_len_s=0.12) == []
    assert subtract_ranges([(0.0, 1.0)], []) == [(0.0, 1.0)]


def test_long_alignments_are_cut_in_silences_into_chunks_that_tile_the_audio():
    # (word, first frame, last frame) as pocketsphinx's first pass reports them, 10 ms frames
    segs = [("<sil>", 0, 9), ("one", 10, 500), ("<sil>", 501, 520), ("two", 521, 900),
            ("three", 901, 1500), ("<sil>", 1501, 1600), ("four", 1601, 1700)]
    plan = chunk_plan(segs, target_s=4.0, max_s=8.0)
    assert plan[0] == (0, 511, 0, 1)  # closes mid-silence once 4 s have passed
    assert plan[1] == (511, 901, 1, 2)  # "three" would overflow 8 s: cut at the word boundary
    assert plan[2] == (901, 1551, 2, 3)
    assert plan[3] == (1551, 1701, 3, 4)
    assert all(a[1] == b[0] for a, b in zip(plan, plan[1:], strict=False))
