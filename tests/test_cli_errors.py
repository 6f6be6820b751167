"""Bad input gets a one-line message, a non-zero exit, and no output file (issue 3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_tone_wav, make_video


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reperform.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture
def good(tmp_path: Path, media_dir: Path) -> dict[str, Path]:
    return {
        "video": media_dir / "videos" / "pcavs_00373.mp4",
        "audio": make_tone_wav(tmp_path / "tone.wav", 1.0),
    }


def _assert_clean_failure(proc: subprocess.CompletedProcess, out: Path, code: int = 2, words: str = "") -> None:
    assert proc.returncode == code, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got: {proc.stderr!r}"
    assert "Traceback" not in proc.stderr
    assert words.lower() in lines[0].lower()
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".part")]


@pytest.mark.media
def test_missing_video_file(tmp_path, good):
    out = tmp_path / "o.mp4"
    _assert_clean_failure(run_cli("generate", str(tmp_path / "nope.mp4"), str(good["audio"]), "-o", str(out)), out,
                          words="not found")


@pytest.mark.media
def test_text_file_renamed_mp4(tmp_path, good):
    fake = tmp_path / "fake.mp4"
    fake.write_text("hello, I am not a video\n" * 100)
    out = tmp_path / "o.mp4"
    _assert_clean_failure(run_cli("generate", str(fake), str(good["audio"]), "-o", str(out)), out,
                          words="generation_unsupported_media")


@pytest.mark.media
def test_empty_and_corrupt_files(tmp_path, good):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    out = tmp_path / "o.mp4"
    _assert_clean_failure(run_cli("generate", str(empty), str(good["audio"]), "-o", str(out)), out, words="empty")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(good["video"].read_bytes()[:3000])
    _assert_clean_failure(run_cli("generate", str(corrupt), str(good["audio"]), "-o", str(out)), out)


@pytest.mark.media
def test_audio_file_given_as_the_video(tmp_path, good):
    out = tmp_path / "o.mp4"
    _assert_clean_failure(run_cli("generate", str(good["audio"]), str(good["audio"]), "-o", str(out)), out,
                          words="generation_video_missing")


@pytest.mark.media
def test_driving_audio_without_an_audio_stream(tmp_path, good):
    silent_video = make_video(tmp_path / "noaudio.mp4", 10)
    out = tmp_path / "o.mp4"
    _assert_clean_failure(run_cli("generate", str(good["video"]), str(silent_video), "-o", str(out)), out,
                          words="generation_audio_missing")


@pytest.mark.media
def test_zero_length_audio(tmp_path, good):
    zero = make_tone_wav(tmp_path / "zero.wav", 0.0)
    out = tmp_path / "o.mp4"
    _assert_clean_failure(run_cli("generate", str(good["video"]), str(zero), "-o", str(out)), out)


@pytest.mark.media
def test_unwritable_output_path(tmp_path, good):
    out = tmp_path / "missing-folder" / "o.mp4"
    proc = run_cli("generate", str(good["video"]), str(good["audio"]), "-o", str(out))
    assert proc.returncode == 2 and "generation_output_not_writable" in proc.stderr
    assert not out.parent.exists()


@pytest.mark.media
@pytest.mark.parametrize(
    "flag,value",
    [("--mode", "mouth"), ("--emotion", "bored"), ("--temperature", "1.5"), ("--sync-mode", "stretch")],
)
def test_unknown_option_values(tmp_path, good, flag, value):
    out = tmp_path / "o.mp4"
    proc = run_cli("generate", str(good["video"]), str(good["audio"]), "-o", str(out), flag, value)
    _assert_clean_failure(proc, out, words="generation_input_validation_failed")


@pytest.mark.media
def test_a_successful_run_prints_one_summary_line_and_no_native_start_up_notices(tmp_path, good):
    """MediaPipe/TF Lite write start-up notices straight to fd 2; the CLI keeps them off the terminal."""
    out = tmp_path / "o.mp4"
    proc = run_cli("generate", str(good["video"]), str(good["audio"]), "-o", str(out), "--mode", "lips", "-q")
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    assert "wrote" in proc.stdout and str(out.name) in proc.stdout.replace("\n", "")
    assert "W0000" not in proc.stderr and "TensorFlow Lite" not in proc.stderr, proc.stderr


def test_the_native_notice_filter_drops_only_the_notices(capfd):
    import os

    from reperform.cli import _native_notices_filtered

    with _native_notices_filtered(True):
        os.write(2, b"W0000 00:00:1795754597.370513 21004 inference_feedback_manager.cc:114] Feedback\n")
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"a real native error\n")
        print("python's own stderr", file=sys.stderr)
    err = capfd.readouterr().err
    assert "a real native error" in err and "python's own stderr" in err
    assert "W0000" not in err and "TensorFlow Lite" not in err
