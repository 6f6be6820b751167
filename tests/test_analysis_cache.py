"""The analysis cache: what its key depends on, and that a reused analysis renders the same bytes."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

import reperform
from reperform.analysis import FINGERPRINT_EDGE_BYTES, fingerprint
from reperform.analysis_cache import AnalysisCache
from reperform.config import EngineConfig
from tests.conftest import speech_excerpt

CFG = EngineConfig()


def _files(tmp_path: Path, middle: bytes = b"a") -> tuple[Path, Path]:
    video, audio = tmp_path / f"v{middle.hex()}.bin", tmp_path / "a.bin"
    edge = b"e" * FINGERPRINT_EDGE_BYTES
    video.write_bytes(edge + middle * 1000 + edge)
    audio.write_bytes(b"audio" * 100)
    return video, audio


def test_the_key_follows_content_scope_and_analysis_options_but_not_plan_options(tmp_path):
    cache = AnalysisCache(tmp_path / "c")
    video, audio = _files(tmp_path)
    opts = reperform.Options()
    base = cache.key(video, audio, opts, CFG, "org_a")
    assert cache.key(video, audio, opts, CFG, "org_a") == base
    # Plan-only options share the analysis: that is the point of the cache.
    for other in (reperform.Options(mode="head", emotion="sad", temperature=0.9, sync_mode="loop"),):
        assert cache.key(video, audio, other, CFG, "org_a") == base
    # Everything else is a different analysis.
    assert cache.key(video, audio, reperform.Options(text="hello there"), CFG, "org_a") != base
    assert cache.key(video, audio, opts, CFG, "org_b") != base
    assert cache.key(video, audio, opts, EngineConfig(whisper_model=""), "org_a") != base
    assert cache.key(audio, video, opts, CFG, "org_a") != base


def test_a_file_crafted_to_share_anothers_fingerprint_gets_its_own_key(tmp_path):
    """Same size, same first and last MiB, different middle: the cheap fingerprint cannot tell them
    apart, the cache key must (else one upload could load another's mouth bank)."""
    a, audio = _files(tmp_path, b"a")
    b, _ = _files(tmp_path, b"b")
    assert fingerprint(a) == fingerprint(b)
    cache = AnalysisCache(tmp_path / "c")
    assert cache.key(a, audio, reperform.Options(), CFG) != cache.key(b, audio, reperform.Options(), CFG)


def test_a_broken_entry_is_a_miss_and_is_removed(tmp_path):
    cache = AnalysisCache(tmp_path / "c")
    video, audio = _files(tmp_path)
    key = cache.key(video, audio, reperform.Options(), CFG)
    (cache.root / key).mkdir(parents=True)
    (cache.root / key / "analysis.json").write_text("{not json")
    assert cache.load(key, video, audio) is None
    assert not (cache.root / key).exists()


def test_eviction_keeps_the_most_recently_used_entries_within_the_bound(tmp_path):
    cache = AnalysisCache(tmp_path / "c", max_bytes=2500)
    for i, name in enumerate(("old", "mid", "new")):
        d = cache.root / name
        d.mkdir(parents=True)
        (d / "x").write_bytes(b"0" * 1000)
        os.utime(d, (1000 + i, 1000 + i))
    cache.evict()
    assert sorted(p.name for p in cache.root.iterdir()) == ["mid", "new"]


@pytest.mark.e2e
def test_a_second_emotion_reuses_the_analysis_and_renders_the_same_bytes(tmp_path, media_dir):
    """The job the determinism test holds byte-stable (tests/e2e/test_determinism.py), so any
    difference here is the cache's doing."""
    video = media_dir / "videos" / "videoretalking_4.mp4"
    audio = speech_excerpt(media_dir / "audio" / "sadtalker_RD_Radio36_000.wav", tmp_path / "voice.wav", 3.0)
    cache = AnalysisCache(tmp_path / "cache")
    first = reperform.generate(video, audio, tmp_path / "face.mp4", reperform.Options(mode="face", emotion="sad"),
                               analysis_cache=cache)
    assert "analysis_cache" not in first.timings_s and len(list(cache.root.iterdir())) == 1
    # The second call has its own copies of the inputs (as each server job downloads its own): the
    # cached analysis must read these, not the files it was made from, which may be gone.
    video2, audio2 = tmp_path / "again.mp4", tmp_path / "again.wav"
    shutil.copyfile(video, video2)
    shutil.copyfile(audio, audio2)
    options = reperform.Options(mode="head", emotion="happy")
    second = reperform.generate(video2, audio2, tmp_path / "head.mp4", options, analysis_cache=cache)
    assert "analysis_cache" in second.timings_s and "analyze" not in second.timings_s
    fresh = tmp_path / "head_fresh.mp4"
    reperform.generate(video, audio, fresh, options)

    def sha(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()

    assert sha(tmp_path / "head.mp4") == sha(fresh)
    assert sha(tmp_path / "head.mp4") != sha(tmp_path / "face.mp4")
