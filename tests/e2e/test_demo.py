"""`reperform demo` (what `make demo` runs) works from the bundled face and self-made speech."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reperform.media import probe

pytestmark = [pytest.mark.e2e, pytest.mark.media]


def test_demo_makes_speech_and_playable_face_and_head_videos(tmp_path, media_dir):
    proc = subprocess.run([sys.executable, "-m", "reperform.cli", "demo", "--output-dir", str(tmp_path), "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    speech = probe(tmp_path / "demo_speech.wav")
    face = probe(tmp_path / "demo_face_happy.mp4")
    head = probe(tmp_path / "demo_head_real_voice.mp4")
    assert speech.kind == "audio" and speech.duration_s > 3
    assert face.video_codec == "h264" and face.has_audio and (face.width, face.height) == (844, 844)
    assert face.duration_s == pytest.approx(speech.duration_s, abs=0.1)  # bounce: the audio decides
    assert head.duration_s == pytest.approx(10.04, abs=0.1)
    assert "demo done" in proc.stdout
