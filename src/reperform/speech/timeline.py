"""Pure assembly of a :class:`SpeechTimeline`: phone clean-up, silence filling, pauses.

No models here: every rule runs on hand-built lists in tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..records import Phone
from .phonetics import SILENCE

#: Silences at least this long are pauses (the mouth may rest); shorter ones are stop closures,
#: which the lips must keep (p/b/m) rather than relax.
MIN_PAUSE_S = 0.12
#: Phones shorter than this are decoder artefacts at 10 ms resolution; they are merged away.
MIN_PHONE_S = 0.005
#: Gaps below this are rounding, not silence, and are closed by stretching the previous phone.
MAX_GAP_S = 0.011


def clean_phones(phones: Iterable[Phone], duration_s: float) -> list[Phone]:
    """Sorted, clipped to [0, duration], non-overlapping, SIL-filled and SIL-merged phones.

    Overlaps are resolved by moving the later phone's start; gaps become SIL (or are closed when
    tiny); empty phones are dropped; neighbouring SILs merge into one.
    """
    ordered = sorted(
        (p for p in phones if p.end_s > p.start_s), key=lambda p: (p.start_s, p.end_s)
    )
    out: list[Phone] = []
    t = 0.0
    for p in ordered:
        start = max(0.0, p.start_s, t)
        end = min(duration_s, p.end_s)
        if end - start < MIN_PHONE_S:
            continue
        if start - t > MAX_GAP_S:
            out.append(Phone(t, start, SILENCE))
        elif start > t and out:
            prev = out[-1]
            out[-1] = Phone(prev.start_s, start, prev.label, prev.stress, prev.word)
        elif start > t:
            start = t
        out.append(Phone(start, end, p.label, p.stress, p.word))
        t = end
    if duration_s - t > MAX_GAP_S or (not out and duration_s > 0):
        out.append(Phone(t, duration_s, SILENCE))
    elif out and t < duration_s:
        prev = out[-1]
        out[-1] = Phone(prev.start_s, duration_s, prev.label, prev.stress, prev.word)
    merged: list[Phone] = []
    for p in out:
        if merged and p.label == SILENCE and merged[-1].label == SILENCE:
            merged[-1] = Phone(merged[-1].start_s, p.end_s, SILENCE)
        else:
            merged.append(p)
    return merged


def pauses_from_phones(phones: Sequence[Phone], min_len_s: float = MIN_PAUSE_S) -> list[tuple[float, float]]:
    """Runs of SIL phones at least ``min_len_s`` long, leading and trailing silence included."""
    pauses: list[tuple[float, float]] = []
    run: list[float] | None = None
    for p in phones:
        if p.label == SILENCE:
            if run is not None and abs(run[1] - p.start_s) < 1e-6:
                run[1] = p.end_s
            else:
                if run is not None:
                    pauses.append((run[0], run[1]))
                run = [p.start_s, p.end_s]
    if run is not None:
        pauses.append((run[0], run[1]))
    return [(a, b) for a, b in pauses if b - a >= min_len_s - 1e-9]


def merge_ranges(ranges: Iterable[tuple[float, float]], join_gap_s: float = 0.0) -> list[tuple[float, float]]:
    """Union of intervals; ranges closer than ``join_gap_s`` are joined."""
    out: list[list[float]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if out and a <= out[-1][1] + join_gap_s:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def subtract_ranges(
    ranges: Iterable[tuple[float, float]], cuts: Iterable[tuple[float, float]], min_len_s: float = 0.0
) -> list[tuple[float, float]]:
    """``ranges`` minus ``cuts``; pieces shorter than ``min_len_s`` are dropped."""
    pieces = merge_ranges(ranges)
    for c0, c1 in merge_ranges(cuts):
        nxt: list[tuple[float, float]] = []
        for a, b in pieces:
            if c1 <= a or c0 >= b:
                nxt.append((a, b))
                continue
            if c0 > a:
                nxt.append((a, c0))
            if c1 < b:
                nxt.append((c1, b))
        pieces = nxt
    return [(a, b) for a, b in pieces if b - a >= min_len_s - 1e-9]


def phrases_between(pauses: Sequence[tuple[float, float]], duration_s: float,
                    min_len_s: float = 0.1) -> list[tuple[float, float]]:
    """Complement of ``pauses`` in [0, duration]: the spoken phrases."""
    phrases: list[tuple[float, float]] = []
    t = 0.0
    for a, b in merge_ranges(pauses):
        if a - t >= min_len_s:
            phrases.append((t, a))
        t = max(t, b)
    if duration_s - t >= min_len_s:
        phrases.append((t, duration_s))
    return phrases
