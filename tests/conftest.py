"""Shared fixtures: where the real test media lives, and small media files made with PyAV."""

from __future__ import annotations

import os
import wave
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_media_dir() -> Path:
    return Path(os.environ.get("REPERFORM_SHARED_MEDIA", REPO.parent / "shared" / "media"))


@pytest.fixture(scope="session")
def media_dir() -> Path:
    d = shared_media_dir()
    if not d.is_dir():
        pytest.fail(f"real test media not found at {d} (set REPERFORM_SHARED_MEDIA)")
    return d


@pytest.fixture(scope="session")
def shared_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for derived inputs that every xdist worker of this run shares (files in it are
    written atomically, so two workers making the same one at once is harmless)."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared"
    root.mkdir(exist_ok=True)
    return root


def make_tone_wav(path: Path, seconds: float, rate: int = 16000, freq: float = 220.0, amp: float = 0.3,
                  channels: int = 1) -> Path:
    """A 16-bit WAV file of a sine tone (amp 0 gives digital silence; 0 s gives a valid empty file)."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = np.clip(amp * np.sin(2 * np.pi * freq * t), -1, 1)
    pcm = (np.repeat(x[:, None], channels, axis=1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def make_video(path: Path, n_frames: int, size: tuple[int, int] = (64, 48), fps: int = 25,
               codec: str = "libx264") -> Path:
    """A small synthetic video without sound: a moving gradient (no face)."""
    w, h = size
    with av.open(str(path), "w") as c:
        v = c.add_stream(codec, rate=Fraction(fps))
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        mux_video(c, v, (_gradient(w, h, i) for i in range(n_frames)))
    return path


def _gradient(w: int, h: int, i: int) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (np.arange(w)[None, :] * 4 + i * 3) % 256
    img[..., 1] = (np.arange(h)[:, None] * 4) % 256
    return img


def mux_video(container: av.container.OutputContainer, stream: av.VideoStream, frames: Iterable[np.ndarray]) -> None:
    """Encode RGB ``uint8[H, W, 3]`` frames (any iterable, in order; pts = their index) into
    ``stream``, then flush it."""
    for i, img in enumerate(frames):
        f = av.VideoFrame.from_ndarray(img, format="rgb24")
        f.pts = i
        for p in stream.encode(f):
            container.mux(p)
    for p in stream.encode(None):
        container.mux(p)


def mux_audio(container: av.container.OutputContainer, stream: av.AudioStream, samples: np.ndarray,
              frame_size: int = 1024, pad_last: bool = False) -> None:
    """Encode planar float ``samples`` (``[channels, n]`` at the stream's rate, layout as set on
    the stream) into ``stream`` in frames of ``frame_size``, then flush it. ``pad_last`` fills the
    last frame with silence, for encoders that take whole frames only (Opus)."""
    rate = stream.rate
    for start in range(0, samples.shape[1], frame_size):
        chunk = np.ascontiguousarray(samples[:, start:start + frame_size], np.float32)
        if pad_last and chunk.shape[1] < frame_size:
            chunk = np.pad(chunk, ((0, 0), (0, frame_size - chunk.shape[1])))
        fr = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=stream.layout.name)
        fr.sample_rate = rate
        fr.pts = start
        for p in stream.encode(fr):
            container.mux(p)
    for p in stream.encode(None):
        container.mux(p)


@pytest.fixture(scope="session")
def two_people(media_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Two-person videos made from real clips (``benchmarks/composites.py``), each built on first
    use and kept for the session: ``two_people("side_left")`` etc. side_left/side_right: vr2 | vr4
    heard vr2 / vr4; stacked: vr4 above vr2, heard vr2; swap: three shots whose cuts swap places."""
    from benchmarks import composites

    root = tmp_path_factory.mktemp("two_people")
    videos = media_dir / "videos"
    makers = {
        "side_left": lambda p: composites.side_by_side(p, videos, voice=0),
        "side_right": lambda p: composites.side_by_side(p, videos, voice=1),
        "stacked": lambda p: composites.stacked(p, videos, voice=1),
        "swap": lambda p: composites.swap_cut(p, videos),
    }
    built: dict[str, object] = {}

    def get(name: str):
        if name not in built:
            built[name] = makers[name](root / f"{name}.mp4")
        return built[name]

    return get


def speech_excerpt(source: Path, path: Path, seconds: float) -> Path:
    """The first ``seconds`` of a real recording as a 16 kHz mono 16-bit WAV at ``path``.

    Why: an output is as long as its driving audio, so a test that needs real speech through every
    stage but not a long result renders a fraction of the frames with an excerpt (real words, not
    a tone). Written once per path; later calls reuse the file."""
    from reperform import media
    from reperform.media.segments import write_wav

    if not path.exists():
        audio = media.load_audio(source)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, audio.samples[: int(seconds * audio.rate)], audio.rate)
    return path


def clip_excerpt(source: Path, path: Path, seconds: float, width: int | None = None) -> Path:
    """The first ``seconds`` of a real clip with its own sound, as an H.264/AAC MP4 at ``path``,
    its picture scaled to ``width`` (the height in proportion) if given.

    Why: a test about job handling (chunks, workers, leases) needs a real face speaking real
    words, frames enough for its chunks, but not a full-size picture or every second of the clip;
    each output frame costs analysis, rendering and encoding. Written once per path."""
    import cv2

    from reperform import media

    if path.exists():
        return path
    info = media.probe(source)
    n = int(round(seconds * float(info.fps)))
    sound = media.load_audio_for_output(source)[:, : int(round(n / float(info.fps) * media.audio.OUTPUT_RATE))]
    w = width or info.width
    h = int(round(info.height * w / info.width / 2)) * 2
    path.parent.mkdir(parents=True, exist_ok=True)
    with media.Mp4Writer(path, w, h, info.fps, sound, n) as writer:  # an error leaves no file
        for index, _t, rgb in media.iter_frames(info):
            if index >= n:
                break
            writer.write(rgb if (w, h) == (info.width, info.height)
                         else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA))
    return path



# --- Scheduling on pytest-xdist workers (`make test`: --dist loadscope --no-loadscope-reorder) ----
#
# Only the order and grouping of tests between workers is decided here, never what a test does.
# A module's tests run on one worker, as with plain loadscope (module fixtures are made once),
# except in SPLIT_MODULES: their tests are independent and slow, so each test (or each class, for
# tests sharing a module fixture) is its own unit and the two workers share them. Units are handed
# out slowest first (longest processing time first), so the run ends on short tests and both
# workers finish together instead of one idling while the other renders a last long job.
# (xdist's own --dist loadgroup would do the grouping by marks, but it renames node ids in a way
# pytest 9 ignores.)

SPLIT_MODULES = {
    "tests/e2e/test_generate.py",
    "tests/e2e/test_determinism.py",
    "tests/jobs/test_jobs_chunks.py",
    "tests/jobs/test_jobs_durability.py",
    "tests/browser/test_studio.py",
}

#: Approximate seconds of the slowest tests (pytest --durations on the 2-core CI machine), by
#: node id or a prefix of it (then each test of the module; the longest match counts); only the
#: order of units depends on these numbers.
SLOW_S: dict[str, float] = {
    "tests/jobs/test_jobs_chunks.py::test_a_long_job": 140,
    "tests/e2e/test_demo.py": 130,
    "tests/e2e/test_vfr_timing.py::test_the_mouth": 125,
    "tests/server/test_server_determinism.py": 110,
    "tests/e2e/test_determinism.py::test_the_same_job": 100,
    "tests/e2e/test_chunked_render.py::test_chunks_joined": 100,
    "tests/e2e/test_workers.py::test_two_workers": 100,
    "tests/jobs/test_jobs_chunks.py::test_the_embedded_pool": 70,
    "tests/test_analysis_cache.py": 15,
    "tests/e2e/test_generate.py::test_vp9_webm_and_4k_mov_inputs_are_edited_at_their_own_size[4k": 65,
    "tests/e2e/test_generate.py::test_a_hevc": 60,
    "tests/e2e/test_generate.py::test_a_video_without": 35,
    "tests/e2e/test_determinism.py::test_a_job_gives": 50,
    "tests/face/test_occlusion.py": 30,
    "tests/jobs/test_jobs_durability.py::test_killing": 45,
    "tests/e2e/test_speakers.py": 15,
    "tests/browser/test_studio.py::test_the_engines_notes": 75,
    "tests/browser/test_studio.py": 15,
    "tests/e2e/test_seams.py": 10,
    "tests/e2e/test_generate.py": 25,
    "tests/server/test_server_e2e.py": 5,
    "tests/jobs/test_jobs_durability.py": 30,
}
#: Seconds assumed for a test not listed above, by its marks (real media, processes, a browser).
DEFAULT_S = {"browser": 15.0, "e2e": 4.0, "redis": 4.0, "media": 2.0}


def xdist_unit(nodeid: str) -> str:
    """The work unit of a test: its module, or in SPLIT_MODULES its class or itself."""
    module, _, rest = nodeid.partition("::")
    if module not in SPLIT_MODULES:
        return module
    return nodeid.rsplit("::", 1)[0] if "::" in rest else nodeid


def _expected_s(item: pytest.Item) -> float:
    best = max((k for k in SLOW_S if item.nodeid.startswith(k)), key=len, default=None)
    if best is not None:
        return SLOW_S[best]
    return max((s for mark, s in DEFAULT_S.items() if item.get_closest_marker(mark)), default=0.3)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On an xdist worker: the collection in units, slowest unit first (the controller hands
    units out in this order; every worker sorts the same way, so their collections agree)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(xdist_unit(item.nodeid), []).append(item)
    order = sorted(units, key=lambda u: -sum(_expected_s(i) for i in units[u]))  # stable on ties
    items[:] = [i for u in order for i in units[u]]


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """--dist loadscope with the units of :func:`xdist_unit`."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_unit(nodeid)

    return UnitScheduling(config, log)
