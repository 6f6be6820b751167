"""The encoder's bytes depend on its frames only, not on what the process's memory held before.

x264's AVX-512 macroblock-tree kernel reads past the end of each macroblock row when a row is
not a multiple of 8 macroblocks (see :func:`reperform.media.encode.x264_params`); in the last
row that is uninitialised heap memory, so the same frames encoded in two processes came out
different depending on what each had run before. ``MALLOC_PERTURB_`` makes glibc fill every
allocation with a chosen byte: a fresh process per value gives each encode different "garbage"
deterministically, instead of hoping that load and thread timing produce some.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reperform.media import encode

pytestmark = pytest.mark.media

REPO = Path(__file__).resolve().parents[2]

#: Encodes the first 40 frames of a clip with Mp4Writer; prints the MP4's sha256. ``raw`` lets
#: x264 use every instruction set it detects (the engine's setting before this was found);
#: ``fallback`` encodes as the engine does where x264's CPU detection cannot be reached.
RUNNER = """
import hashlib, sys
from pathlib import Path
from reperform.media import Mp4Writer, encode, iter_frames, probe

video, out, how = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
if how == "raw":
    encode.x264_params = lambda: None
elif how == "fallback":
    encode._x264_cpu_detect = lambda: None
    assert encode.x264_params() == "mbtree=0"
info = probe(video)
frames = [rgb for i, _t, rgb in iter_frames(info, None) if i < 40]
with Mp4Writer(out, info.width, info.height, info.fps, None, len(frames)) as w:
    for rgb in frames:
        w.write(rgb)
print(hashlib.sha256(out.read_bytes()).hexdigest())
"""


def encode_in_fresh_process(video: Path, out: Path, perturb: int, how: str = "engine") -> str:
    """sha256 of ``video``'s first frames encoded in a new process whose heap is filled with ``perturb``."""
    env = {**os.environ, "MALLOC_PERTURB_": str(perturb), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", RUNNER, str(video), str(out), how],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()[-1]


@pytest.fixture(scope="module")
def clip(media_dir: Path) -> Path:
    """pcavs_00373: 224 px wide, 14 macroblocks a row — not a multiple of 8."""
    return media_dir / "videos" / "pcavs_00373.mp4"


def test_the_same_frames_encode_to_the_same_bytes_whatever_the_heap_held(clip, tmp_path):
    hashes = {p: encode_in_fresh_process(clip, tmp_path / f"p{p}.mp4", p) for p in (0, 1, 2, 85)}
    assert len(set(hashes.values())) == 1, f"the encoder's bytes follow memory contents: {hashes}"


def test_the_perturbed_heap_does_change_x264s_avx512_kernels(clip, tmp_path):
    """The control: with x264's own instruction sets the same encode does depend on the heap,
    so the test above can fail (only where x264 finds AVX-512 to use)."""
    if encode.x264_params() is None or not encode.x264_params().startswith("asm="):
        pytest.skip("x264 has no AVX-512 kernels on this machine")
    plain, filled = (encode_in_fresh_process(clip, tmp_path / f"raw{p}.mp4", p, how="raw") for p in (0, 1))
    assert plain != filled


def test_x264_keeps_every_detected_instruction_set_but_avx512():
    params = encode.x264_params()
    if params is None:
        pytest.skip("not an x86-64 machine with AVX-512")
    flags = int(params.removeprefix("asm="))
    detected = encode._x264_cpu_detect()()
    assert detected & encode.X264_CPU_AVX512 and flags == detected & ~encode.X264_CPU_AVX512


def test_without_x264s_cpu_detection_macroblock_trees_are_turned_off(clip, tmp_path):
    """The fallback where libx264 cannot be reached (``mbtree=0``, checked in the runner): no
    macroblock tree, so no kernel reading past its rows."""
    if encode.x264_params() is None:
        pytest.skip("not an x86-64 machine with AVX-512")
    hashes = {encode_in_fresh_process(clip, tmp_path / f"f{p}.mp4", p, how="fallback") for p in (0, 1)}
    assert len(hashes) == 1
