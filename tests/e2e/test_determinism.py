"""Same input, same output: a job's MP4 is byte-identical whatever process runs it and whatever
that process ran before.

Why this matters: the engine keeps state between jobs for speed (the Whisper model, pocketsphinx
dictionaries, MediaPipe graphs, one analyzer per configuration), and a server worker runs job
after job. Any of that state leaking into a result (a decoder's adaptation, a cache keyed too
loosely, thread timing deciding an order) would make the output depend on history. Each run here
is a fresh Python process, as a new worker is.

History also lives in memory contents: a library that reads memory it never wrote turns whatever
earlier work left in the heap into output bytes (x264's AVX-512 macroblock-tree kernel did, on
clips whose width is not a multiple of 128 px). Load and thread timing only sometimes change that
garbage, so a process can be given different garbage on purpose: ``MALLOC_PERTURB_`` fills every
allocation with a chosen byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import speech_excerpt

pytestmark = [pytest.mark.e2e, pytest.mark.media]

REPO = Path(__file__).resolve().parents[2]

#: Runs the given jobs in order in this process and prints each output's sha256 (one JSON line).
RUNNER = """
import hashlib, json, sys
from pathlib import Path
import reperform
from reperform.config import EngineConfig

jobs, out_dir, whisper = json.loads(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
config = EngineConfig(whisper_model=None if whisper == "default" else whisper)
hashes = []
for i, (video, audio, options) in enumerate(jobs):
    out = out_dir / f"job{i}.mp4"
    reperform.generate(video, audio, out, reperform.Options(**options), config=config)
    hashes.append(hashlib.sha256(out.read_bytes()).hexdigest())
print(json.dumps(hashes))
"""


def run_jobs(jobs: list[tuple[str, str, dict]], out_dir: Path, whisper: str = "default",
             heap_fill: int = 0) -> list[str]:
    """sha256 of each job's output, all run in order in one fresh Python process whose new and
    freed memory glibc fills with ``heap_fill`` (0: left as it is)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MALLOC_PERTURB_": str(heap_fill)}
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(jobs), str(out_dir), whisper],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


#: Driving speech: 3 s excerpts of the real recordings (every stage runs; a third of the frames).
SPEECH_S = 3.0


def job_a(media: Path, tmp: Path) -> tuple[str, str, dict]:
    """Every stage: Whisper + alignment of the driving speech, the source's own speech, a mouth
    bank, an emotion and head motion."""
    voice = speech_excerpt(media / "audio/sadtalker_RD_Radio36_000.wav", tmp / "voice_a.wav", SPEECH_S)
    return (str(media / "videos/videoretalking_4.mp4"), str(voice), {"mode": "head", "emotion": "happy"})


def job_b(media: Path, tmp: Path) -> tuple[str, str, dict]:
    """Another person, another voice, another mode: different decoder and tracker history."""
    voice = speech_excerpt(media / "audio/whisper_jfk.flac", tmp / "voice_b.wav", SPEECH_S)
    return (str(media / "videos/pcavs_00373.mp4"), str(voice), {"mode": "face"})


def job_c(media: Path, tmp: Path) -> tuple[str, str, dict]:
    """A 224 px wide clip (14 macroblocks a row, the case x264's AVX-512 kernel read past)."""
    return (*job_b(media, tmp)[:2], {"mode": "face", "emotion": "sad"})


def test_the_same_job_gives_the_same_bytes_in_a_fresh_process_and_after_another_job(media_dir, tmp_path):
    alone = run_jobs([job_a(media_dir, tmp_path)], tmp_path / "alone")
    after_b = run_jobs([job_b(media_dir, tmp_path), job_a(media_dir, tmp_path)], tmp_path / "after")
    assert after_b[1] == alone[0], "job A's output depends on what the process ran before"
    again = run_jobs([job_a(media_dir, tmp_path)], tmp_path / "again")
    assert again == alone, "job A's output differs between two fresh processes"
    assert after_b[0] != alone[0]  # the two jobs really are different work


def test_a_job_gives_the_same_bytes_whatever_earlier_work_left_in_memory(media_dir, tmp_path):
    """pcavs face/sad was seen with 5 different MP4s in 6 fresh processes (identical frames)."""
    clean = run_jobs([job_c(media_dir, tmp_path)], tmp_path / "clean")
    filled = run_jobs([job_b(media_dir, tmp_path), job_c(media_dir, tmp_path)], tmp_path / "filled", heap_fill=1)
    assert filled[1] == clean[0], "job C's output depends on the contents of memory it did not write"
