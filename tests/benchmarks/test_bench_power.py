"""The benchmark's statistics over windows, clips and groups, and its leave-one-speaker-out harness."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from benchmarks.loco import HeldOutTask, TrainingClip, leave_one_speaker_out, pooled_by_clip

from benchmarks import catalog, clips
from benchmarks import metrics as M


def test_pooling_windows_keeps_r_and_narrows_the_interval_by_their_evidence() -> None:
    r, lo, hi, n = M.pool_correlations([0.5, 0.5], [40.0, 40.0])
    one = M.pool_correlations([0.5], [40.0])
    assert r == pytest.approx(0.5) and n == pytest.approx(80.0)
    assert (hi - lo) < (one[2] - one[1]) * 0.75  # two windows' evidence: about 1/√2 as wide
    heavy = M.pool_correlations([0.2, 0.8], [200.0, 10.0])[0]
    assert 0.2 < heavy < 0.35  # the window with more effective frames dominates
    assert all(math.isnan(x) for x in M.pool_correlations([float("nan")], [40.0]))
    assert all(math.isnan(x) for x in M.pool_correlations([0.5], [3.0]))  # n_eff ≤ 3 carries no interval


def test_effective_frames_are_fewer_for_smooth_curves() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(2, 400))
    smooth = np.array([np.convolve(x, np.ones(9) / 9, mode="same") for x in noise])
    assert M.effective_frames(*noise) > 300
    assert M.effective_frames(*smooth) < 150


def test_the_mean_of_clips_has_a_measurement_and_a_between_clip_interval() -> None:
    tight = [(0.55, 0.65), (0.15, 0.25), (0.35, 0.45)]
    m = M.mean_of_clips([0.6, 0.2, 0.4], tight)
    assert m["mean"] == pytest.approx(0.4) and m["clips"] == 3
    assert m["hi"] - m["lo"] < 0.1  # each clip measured well ...
    assert m["between_hi"] - m["between_lo"] > 0.8  # ... but they disagree: another clip could read anything
    single = M.mean_of_clips([0.5], [(0.4, 0.6)])
    assert single["lo"] == pytest.approx(0.4) and math.isnan(single["between_lo"])
    assert math.isnan(M.mean_of_clips([], [])["mean"])


def facts(iod: float = 100.0, yaw: float = 3.0, std: float = 2.0, cv: float = 0.0) -> catalog.ClipFacts:
    return catalog.ClipFacts(iod, yaw, std, 1.0, cv)


def test_groups_follow_the_measured_facts_and_the_language() -> None:
    en = catalog.ClipInfo("a", "s", "en", 1, True)
    de = catalog.ClipInfo("b", "t", "German", 1, False)
    assert catalog.groups_of(en, facts()) == ("frontal close-up",)
    assert catalog.groups_of(en, facts(yaw=25.0)) == ("turned or moving head",)
    assert catalog.groups_of(en, facts(std=8.0)) == ("turned or moving head",)
    assert catalog.groups_of(en, facts(iod=40.0)) == ("small face",)
    assert catalog.groups_of(de, facts(cv=0.05)) == ("frontal close-up", "non-English", "VFR")


def test_every_catalog_clip_has_a_speaker_and_whole_windows() -> None:
    assert len({c.stem for c in catalog.CLIPS}) == len(catalog.CLIPS)
    assert all(c.pairs >= 1 and c.speaker for c in catalog.CLIPS)
    assert {c.stem for c in catalog.CLIPS if c.pairs > 1} == {"dfrf_cnn2_25fps", "mimictalk_German_20s"}


class _Memoriser:
    """A 'fit' that cheats if it can: it predicts a window's truth exactly when it trained on that
    clip, and noise otherwise. Held out, it must score only noise."""

    name = "memoriser"
    description = "test"

    def applies(self, task: HeldOutTask) -> bool:
        return task.clip != "n/a clip"

    def fit(self, train):  # noqa: ANN001, ANN201
        return {c.clip for c in train}

    def predict(self, params, task):  # noqa: ANN001, ANN201
        if task.clip in params:
            return task.truth
        return np.random.default_rng(len(task.label)).normal(size=len(task.truth))


def _tasks() -> tuple[list[TrainingClip], list[HeldOutTask]]:
    rng = np.random.default_rng(1)
    train, tasks = [], []
    for clip, speaker in (("a", "s1"), ("b", "s2"), ("c", "s3"), ("n/a clip", "s4")):
        train.append(TrainingClip(clip, speaker, None, np.zeros(10)))  # type: ignore[arg-type]
        for i in range(2):
            truth = np.convolve(rng.normal(size=300), np.ones(5) / 5, mode="same")
            tasks.append(HeldOutTask(clip, speaker, f"{clip} #{i + 1}/2", None, truth))  # type: ignore[arg-type]
    return train, tasks


def test_leave_one_speaker_out_never_trains_on_the_speaker_it_scores() -> None:
    train, tasks = _tasks()
    results = leave_one_speaker_out(_Memoriser(), train, tasks)
    assert len(results) == len(tasks)
    for r in results:
        assert r.clip not in r.trained_on
        if r.applies:
            assert abs(r.r) < 0.25 and np.isfinite(r.interval[0])  # noise, not the memorised truth
    assert [r.applies for r in results if r.clip == "n/a clip"] == [False, False]
    pooled = pooled_by_clip([r for r in results if r.applies])
    assert set(pooled) == {"a", "b", "c"}


@pytest.mark.media
def test_windows_are_disjoint_equal_and_keep_their_sound(media_dir: Path, tmp_path: Path) -> None:
    from reperform import media

    clip = media_dir / "videos" / "pcavs_00373.mp4"
    wins = clips.split_windows(clip, 2, tmp_path)
    n = clips.count_frames(clip)
    size = n // 4
    assert [(w.source_start, w.target_start) for w in wins] == [(0, size), (2 * size, 3 * size)]
    for w in wins:
        info = media.probe(w.video)
        assert info.n_frames == w.n_frames == size and info.has_audio
        assert info.audio_duration_s == pytest.approx(size / w.fps, abs=0.05)
    assert media.probe(wins[0].audio).audio_duration_s == pytest.approx(size / wins[0].fps, abs=0.05)
    last = media.probe(wins[1].audio).audio_duration_s  # the last target runs to the end of the clip
    assert last == pytest.approx(media.probe(clip).duration_s - 3 * size / wins[1].fps, abs=0.1)
    assert [w.label for w in wins] == ["pcavs_00373 #1/2", "pcavs_00373 #2/2"]
