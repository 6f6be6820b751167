"""The speech-route bench's decision rule and its leave-one-clip-out threshold, on hand-built rows.

The threshold must be chosen without the held-out clip: a clip whose own windows would want a
different threshold must be scored with the one its neighbours chose, not its own.
"""

from __future__ import annotations

import math

from benchmarks.route_choice import _rule, loco_threshold

from tests.motion.builders import speech


def row(clip: str, fit: float, aligned: float, recognized: float, *, cover: float = 0.9,
        method: str = "aligned") -> dict:
    return {"clip": clip, "fit": fit, "cover": cover, "aligned": aligned, "recognized": recognized,
            "acoustic": 0.0, "engine": aligned, "engine_method": method}


def test_rule_aligns_only_when_the_fit_clears_the_threshold_and_the_transcript_covers_the_speech():
    assert _rule(row("a", -30.0, 0.6, 0.2), -40.0) == 0.6
    assert _rule(row("a", -45.0, 0.6, 0.2), -40.0) == 0.2
    assert _rule(row("a", -30.0, 0.6, 0.2, cover=0.3), -40.0) == 0.2
    assert _rule(row("a", math.nan, 0.6, 0.2, method="recognized"), -40.0) == 0.2
    assert _rule(row("a", math.nan, 0.6, 0.2, method="acoustic"), -40.0) == 0.0


def test_the_threshold_is_chosen_without_the_held_out_clip():
    # a and b: aligning helps above -40 and hurts below it; c wants everything aligned (-55 helps).
    rows = [row("a", -35.0, 0.7, 0.3), row("a", -44.0, 0.1, 0.5),
            row("b", -38.0, 0.6, 0.2), row("b", -42.0, 0.2, 0.6),
            row("c", -55.0, 0.8, 0.1)]
    chosen = {clip: (t, held) for clip, t, held in loco_threshold(rows)}
    # holding c out, a and b choose a threshold in (-42, -38]: c's window is then not aligned.
    t_c, held_c = chosen["c"]
    assert -42.0 < t_c <= -38.0
    assert held_c == 0.1
    # holding a out, b and c disagree; c's -55 window pulls the threshold down to it.
    t_a, held_a = chosen["a"]
    assert t_a <= -55.0 and held_a == (0.7 + 0.1) / 2


def test_the_acoustic_routes_share_is_chosen_without_the_held_out_clip():
    from benchmarks.route_acoustic import SHARES, loco

    def r(clip, by_share):
        out = {"clip": clip, "recognized": by_share[0]}
        out.update({f"recognized+model@{s:g}": v for s, v in zip(SHARES[1:], by_share[1:], strict=True)})
        return out

    rows = [r("a", [0.1, 0.5, 0.2, 0.2, 0.2]), r("b", [0.1, 0.4, 0.2, 0.2, 0.2]),
            r("c", [0.9, 0.0, 0.0, 0.0, 0.0])]
    held = loco(rows, "recognized")
    assert held["c"] == (0.25, 0.0)  # a and b want 0.25; c is scored under it, not under its own 0
    assert held["a"][0] == 0.0  # b's gain at 0.25 (+0.3) is smaller than c's loss (−0.9)


def test_trusting_recognised_phones_less_keeps_only_the_closures():
    from benchmarks.route_acoustic import relabel


    tl = speech([("P", 0.0, 0.1), ("IY", 0.1, 0.2), ("K", 0.2, 0.3), ("M", 0.3, 0.4), ("UW", 0.4, 0.5)], 0.6,
                method="recognized")
    assert [p.label for p in relabel(tl, False).phones] == ["P", "AH", "AH", "M", "AH"]
    assert [p.label for p in relabel(tl, True).phones] == ["P", "AH", "T", "M", "AH"]


def test_agreement_with_free_recognition_counts_loud_frames_with_the_same_class():
    import dataclasses

    import numpy as np
    from benchmarks.route_acoustic import agreement

    rec = speech([("P", 0.0, 0.1), ("AA", 0.1, 0.3), ("S", 0.3, 0.4)], 0.5, method="recognized")
    rec = dataclasses.replace(rec, energy=np.r_[np.ones(40), np.zeros(10)].astype(np.float32))
    same = speech([("B", 0.0, 0.1), ("AA", 0.1, 0.3), ("Z", 0.3, 0.4)], 0.5)
    assert agreement(same, rec) == {"agree_viseme": 1.0, "agree_broad": 1.0}
    # a vowel of another class where AA was: broad classes still agree, visemes do not there
    other = speech([("M", 0.0, 0.1), ("IY", 0.1, 0.3), ("K", 0.3, 0.4)], 0.5)
    got = agreement(other, rec)
    assert got["agree_broad"] == 1.0 and abs(got["agree_viseme"] - 0.1 / 0.4) < 1e-9
    shifted = speech([("AA", 0.0, 0.2), ("P", 0.2, 0.4)], 0.5)
    assert agreement(shifted, rec)["agree_broad"] == 0.25  # only 0.1-0.2 s agrees (vowel)


def test_the_agreement_rule_aligns_only_above_its_threshold_and_is_chosen_without_the_held_out_clip():
    from benchmarks.route_acoustic import _agree_rule, loco_agreement

    def r(clip, agree, aligned, recognized):
        return {"clip": clip, "agree_broad": agree, "cover": 0.9, "aligned": aligned, "recognized": recognized,
                "acoustic": 0.0, "engine_method": "recognized"}

    assert _agree_rule(r("a", 0.5, 0.6, 0.2), "agree_broad", 0.4) == 0.6
    assert _agree_rule(r("a", 0.3, 0.6, 0.2), "agree_broad", 0.4) == 0.2
    rows = [r("a", 0.6, 0.7, 0.3), r("a", 0.2, 0.1, 0.5), r("b", 0.5, 0.6, 0.2), r("b", 0.25, 0.2, 0.6),
            r("c", 0.1, 0.9, 0.1)]
    t_c, held_c = loco_agreement(rows, "agree_broad")["c"]
    assert 0.25 < t_c <= 0.5 and held_c == 0.1
