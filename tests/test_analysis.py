"""The Analysis record: saved and loaded exactly, refused when stale (hand-built, no media)."""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from reperform.analysis import ANALYSIS_VERSION, Analysis, fingerprint
from reperform.errors import AnalysisOutdated
from reperform.records import FaceProfile, FaceTrack, MediaInfo, Phone, Prosody, SpeechTimeline, Word
from reperform.rendering import MouthBank


def _analysis(tmp_path: Path) -> Analysis:
    video, audio = tmp_path / "v.mp4", tmp_path / "a.wav"
    video.write_bytes(b"video bytes")
    audio.write_bytes(b"audio bytes")
    n = 4
    rng = np.random.default_rng(0)
    track = FaceTrack(
        present=np.array([True, True, False, True]), landmarks=rng.normal(size=(n, 478, 3)).astype(np.float32),
        bbox=rng.normal(size=(n, 4)).astype(np.float32), pose=rng.normal(size=(n, 3)).astype(np.float32),
        scale=rng.normal(size=n).astype(np.float32), mouth=rng.normal(size=(n, 4)).astype(np.float32),
        width=64, height=48,
    )
    f4 = np.arange(4, dtype=np.float32)
    profile = FaceProfile(f4, f4 - 1, f4 + 1, f4[:3], f4[:3] + 2, 0.4)
    speech = SpeechTimeline(
        phones=(Phone(0.0, 0.1, "M"), Phone(0.1, 0.25, "AA", 1, 0)), words=(Word(0.0, 0.25, "ma"),),
        pauses=((np.float64(0.25), 0.5),), duration_s=0.5, method="aligned", language="en", transcript="ma",
        energy=np.linspace(0, 1, 50, dtype=np.float32), openness=np.zeros(50, np.float32), voiced=np.ones(50, bool),
    )
    prosody = Prosody(0.01, np.full(50, np.nan, np.float32), np.zeros(50, np.float32), ((0.1, 0.8),), ((0.0, 0.25),))
    info = MediaInfo(video, "video", 64, 48, Fraction(30000, 1001), n, 0.13, 0.02, 0, True, 44100, "h264", 0.5)
    return Analysis(
        video=video, audio=audio, info=info, drive_duration_s=0.5, text="ma", frame_times_s=np.arange(n) / 30.0,
        track=track, profile=profile, bank=MouthBank(), speech=speech, prosody=prosody, source_speech=None,
        warnings=("no face in 1 of 4 source frames",), timings_s={"analyze": 1.0},
        fingerprints={"video": fingerprint(video), "audio": fingerprint(audio)},
    )


def test_a_saved_analysis_loads_back_field_for_field(tmp_path):
    a = _analysis(tmp_path)
    back = Analysis.load(a.save(tmp_path / "saved"))
    for f in dataclasses.fields(Analysis):
        if f.name in ("bank", "frame_store", "track", "prosody", "speech", "profile", "frame_times_s"):
            continue
        assert getattr(back, f.name) == getattr(a, f.name), f.name
    assert np.array_equal(back.frame_times_s, a.frame_times_s)
    for name in ("present", "landmarks", "bbox", "pose", "scale", "mouth"):
        assert np.array_equal(getattr(back.track, name), getattr(a.track, name)), name
        assert getattr(back.track, name).dtype == getattr(a.track, name).dtype
    assert back.speech.phones == a.speech.phones and back.speech.words == a.speech.words
    assert type(back.speech.pauses[0][0]) is np.float64 and type(back.speech.pauses[0][1]) is float
    assert np.array_equal(back.speech.energy, a.speech.energy) and back.speech.voiced.dtype == bool
    assert np.isnan(back.prosody.f0_hz).all() and back.prosody.accents == a.prosody.accents
    assert np.array_equal(back.profile.pose_std_deg, a.profile.pose_std_deg)
    assert back.info.fps == Fraction(30000, 1001) and len(back.bank) == 0 and back.frame_store is None


def test_an_analysis_of_another_version_is_refused(tmp_path):
    saved = _analysis(tmp_path).save(tmp_path / "saved")
    doc = json.loads((saved / "analysis.json").read_text())
    key = next(i for i, (k, _v) in enumerate(doc["$dict"]) if k == "version")
    doc["$dict"][key][1] = ANALYSIS_VERSION - 1
    (saved / "analysis.json").write_text(json.dumps(doc))
    with pytest.raises(AnalysisOutdated, match="version"):
        Analysis.load(saved)


def test_a_missing_or_unreadable_analysis_is_refused_as_outdated(tmp_path):
    with pytest.raises(AnalysisOutdated, match="no saved analysis"):
        Analysis.load(tmp_path / "nothing")
    saved = _analysis(tmp_path).save(tmp_path / "saved")
    (saved / "analysis.json").write_text('{"$record": "Job", "fields": {}}')
    with pytest.raises(AnalysisOutdated, match="cannot be read"):
        Analysis.load(saved)


def test_render_inputs_are_checked_against_their_fingerprints(tmp_path):
    a = _analysis(tmp_path)
    a.check_inputs()  # unchanged: fine
    a.audio.write_bytes(b"another voice")
    with pytest.raises(AnalysisOutdated, match="changed"):
        a.check_inputs()
    a.video.unlink()
    with pytest.raises(AnalysisOutdated, match="gone"):
        a.check_inputs()


def test_fingerprint_reads_both_ends_of_a_long_file(tmp_path):
    path = tmp_path / "long.bin"
    data = bytearray(5 * 2**20)
    path.write_bytes(bytes(data))
    before = fingerprint(path)
    data[-10] = 1  # a change in the last MiB only
    path.write_bytes(bytes(data))
    assert fingerprint(path) != before
