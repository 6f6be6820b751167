"""`make bench-long`: one long 1080p job split across workers (issue 18), locally and on Celery.

The input is real footage with real speech for its whole length: ``dfrf_cnn2_25fps`` (71 s of a
news anchor speaking, 512x512) scaled and letterboxed to 1920x1080 and looped, picture and sound
together, to the wanted length (the loop restarts are hard cuts, like the clip's own jump cuts).

Measured, each a separate run of the real command:

- ``reperform generate --workers 1`` pinned to one CPU (``taskset``), and ``--workers 2`` pinned
  to two; every process with one thread per library (:data:`reperform.chunked.ONE_THREAD_ENV`):
  wall time, speed-up, and the peak RSS of each process (the analysing parent and each chunk
  worker, from the kernel's high-water mark ``VmHWM``);
- the same job on Celery: a real ``redis-server``, ``reperform serve --queue celery`` and two
  ``reperform worker`` processes each pinned to one CPU, the job created with the sync SDK;
- the joins of the ``--workers 2`` output: frame count and A/V duration against the one-process
  output, PSNR of every frame against it near each join, and the step in mouth opening (the
  benchmarks' own face mesh on the output's pixels) at each join against the 99th percentile of
  the steps in the 6 s around it.

It writes its own section, ``benchmarks/sections/long_video.md`` (:mod:`benchmarks.sections`), which
``benchmarks/run.py`` puts into docs/benchmarks.md. The full 10-minute run takes about an hour on the 2-core machine:

    python -m benchmarks.long_video --minutes 10        # or `make bench-long`
    python -m benchmarks.long_video --minutes 1 --skip-celery   # a quick look while developing
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import psutil

from benchmarks import sections
from benchmarks.clips import _letterbox
from benchmarks.joins import join_steps, psnr
from benchmarks.measure import FaceMeasurer, iter_rgb
from benchmarks.metrics import mouth_opening
from reperform import media
from reperform.chunked import ONE_THREAD_ENV
from reperform.chunking import MIN_CHUNK_S
from reperform.media.audio import OUTPUT_RATE
from reperform.records import MediaInfo

log = logging.getLogger("long_video")

REPO = Path(__file__).resolve().parents[1]
SOURCE = "videos/dfrf_cnn2_25fps.mp4"
RESULTS = REPO / "benchmarks" / ".work" / "long_video.json"  # the raw figures (not committed)
HEIGHT = 1080
#: Seconds of output around each join whose frames are compared and whose mouth is measured.
JOIN_WINDOW_S = 3.0
#: Chunk length on the Celery queue (Settings.chunk_s): 20 chunks for 10 minutes.
CELERY_CHUNK_S = 30.0
#: How often the process trees are sampled for their memory (seconds).
RSS_SAMPLE_S = 0.5


def _media_dir() -> Path:
    return Path(os.environ.get("REPERFORM_SHARED_MEDIA") or REPO.parent / "shared" / "media")


def make_input(minutes: float, work: Path) -> Path:
    """The looped 1080p input of ``minutes`` (cached in ``work``): one loop is encoded once (and
    the last, partial loop), and the pieces are laid end to end with the looped sound muxed once."""
    out = work / f"long_{minutes:g}min_{HEIGHT}p.mp4"
    if out.exists():
        return out
    src = _media_dir() / SOURCE
    info = media.probe(src)
    n_total = int(round(minutes * 60 * float(info.fps)))
    loop, part = work / "loop.mp4", work / "partial.mp4"
    n_loop = _encode_loop(info, loop, part, n_total)
    rest = n_total % n_loop
    pieces = [loop] * (n_total // n_loop) + ([part] if rest else [])
    sound = media.load_audio_for_output(src)
    per_loop = int(round(n_loop / float(info.fps) * OUTPUT_RATE))
    sound = np.pad(sound[:, :per_loop], ((0, 0), (0, max(0, per_loop - sound.shape[1]))))
    sound = np.tile(sound, (1, len(pieces)))
    media.join_chunks(pieces, out, info.fps, sound)
    log.info("made %s: %d frames", out.name, n_total)
    return out


def _encode_loop(info: MediaInfo, loop: Path, part: Path, n_total: int) -> int:
    """Encode one letterboxed loop of the source (and its first ``n_total % n`` frames as the last,
    partial loop) as video-only chunks; returns the loop's frame count."""
    n_est = info.n_frames
    rest = n_total % n_est if n_total > n_est else n_total
    first = _letterbox(np.zeros((info.height, info.width, 3), np.uint8), HEIGHT)
    h, w = first.shape[:2]
    count = 0
    with media.Mp4Writer(loop, w, h, info.fps, None, n_est, with_audio=False) as wl, \
            media.Mp4Writer(part, w, h, info.fps, None, rest, with_audio=False) as wp:
        for _i, _t, rgb in media.iter_frames(info):
            frame = _letterbox(rgb, HEIGHT)
            wl.write(frame)
            if count < rest:
                wp.write(frame)
            count += 1
    if count != n_est:
        raise RuntimeError(f"{SOURCE} decoded to {count} frames, probed {n_est}: adjust the loop")
    return count


@dataclass
class Run:
    """One timed run: wall time, and peak RSS (MiB) of each process it started."""

    label: str
    wall_s: float
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    output: str = ""
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    n_frames: int = 0
    duration_s: float = 0.0
    audio_duration_s: float = 0.0
    note: str = ""


class TreeMemory:
    """Samples the peak RSS (``VmHWM``) of every process under the given roots, by role."""

    def __init__(self) -> None:
        self.roots: list[psutil.Process] = []
        self.peaks: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_S):
            for root in list(self.roots):
                try:
                    procs = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                for p in procs:
                    self._sample(p)

    def _sample(self, p: psutil.Process) -> None:
        try:
            with open(f"/proc/{p.pid}/status") as fh:
                hwm = next((int(line.split()[1]) for line in fh if line.startswith("VmHWM:")), 0)
            role = _role(p.cmdline())
        except (OSError, psutil.Error, StopIteration):
            return
        if role:
            self.peaks[p.pid] = (role, max(hwm / 1024, self.peaks.get(p.pid, ("", 0.0))[1]))

    def by_role(self) -> dict[str, float]:
        """Largest peak per role: each chunk worker, the analysing parent, the Celery workers."""
        out: dict[str, float] = {}
        for role, mib in self.peaks.values():
            out[role] = round(max(out.get(role, 0.0), mib), 1)
        return out


def _role(cmdline: list[str]) -> str:
    text = " ".join(cmdline)
    if "reperform.chunked" in text:
        return "chunk worker"
    if " worker " in f" {text} " or "celery" in text:
        return "celery worker"
    if "generate" in cmdline:
        return "analysing process"
    return ""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPERFORM_")}
    env.update(ONE_THREAD_ENV)
    env["PYTHONPATH"] = str(REPO / "src") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_local(video: Path, out: Path, workers: int, cpus: str) -> Run:
    """``reperform generate VIDEO VIDEO --workers N`` under ``taskset -c CPUS``."""
    cmd = ["taskset", "-c", cpus, sys.executable, "-m", "reperform.cli", "generate", str(video), str(video),
           "-o", str(out), "--workers", str(workers), "--quiet"]
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    with TreeMemory() as mem:
        proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        mem.roots.append(psutil.Process(proc.pid))
        stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{stderr[-2000:]}")
    run = Run(f"--workers {workers} (taskset -c {cpus})", wall, mem.by_role(), str(out), load0, os.getloadavg(),
              note=" ".join(stdout.split()))
    return _with_probe(run, out)


def _with_probe(run: Run, out: Path) -> Run:
    info = media.probe(out)
    run.n_frames, run.duration_s, run.audio_duration_s = info.n_frames, info.duration_s, info.audio_duration_s
    return run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate, timeout_s: float, what: str, interval_s: float = 0.5):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(interval_s)
    raise TimeoutError(f"timed out waiting for {what}")


def run_celery(video: Path, work: Path, workers: int = 2) -> Run:
    """The same job through ``serve --queue celery`` with ``workers`` pinned Celery workers."""
    from sync import Sync

    from reperform.jobs.store import JobStore

    data, env = work / "celery-data", _env()
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    redis_port, api_port, files_port = _free_port(), _free_port(), _free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env.update(REPERFORM_REDIS_URL=redis_url, REPERFORM_CHUNK_S=str(CELERY_CHUNK_S))
    procs: list[subprocess.Popen[bytes]] = []
    files = ThreadingHTTPServer(("127.0.0.1", files_port), partial(_QuietHandler, directory=str(video.parent)))
    threading.Thread(target=files.serve_forever, daemon=True).start()
    log_fh = (data / "processes.log").open("ab")
    try:
        procs.append(subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                                      stdout=log_fh, stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen([sys.executable, "-m", "reperform.cli_server", "serve", "--host", "127.0.0.1",
                                       "--port", str(api_port), "--data-dir", str(data), "--queue", "celery",
                                       "--allow-private-urls", "--log-level", "warning"],
                                      env=env, stdout=log_fh, stderr=subprocess.STDOUT))
        store = JobStore(f"sqlite:///{data / 'reperform.db'}")
        _wait(lambda: (data / "reperform.db").exists(), 60, "the server's database")
        key = store.keys.create("bench").secret
        worker_procs = [subprocess.Popen(["taskset", "-c", str(i), sys.executable, "-m", "reperform.cli_server",
                                          "worker", "--data-dir", str(data), "--redis-url", redis_url,
                                          "--concurrency", "1", "--allow-private-urls", "--log-level", "warning"],
                                         env=env, stdout=log_fh, stderr=subprocess.STDOUT) for i in range(workers)]
        procs += worker_procs
        client = Sync(base_url=f"http://127.0.0.1:{api_port}", api_key=key)
        _wait(lambda: _healthy(api_port), 60, "the server")
        time.sleep(10)  # the workers load the engine before they take work
        url = f"http://127.0.0.1:{files_port}/{video.name}"
        load0 = os.getloadavg()
        with TreeMemory() as mem:
            mem.roots += [psutil.Process(p.pid) for p in worker_procs]
            t0 = time.perf_counter()
            job = client.generations.create(model="react-1", input=[{"type": "video", "url": url},
                                                                    {"type": "audio", "url": url}])
            done = _wait(lambda: (g := client.generations.get(job.id)).status in ("COMPLETED", "FAILED") and g,
                         4 * 3600, "the Celery job", interval_s=2.0)
            wall = time.perf_counter() - t0
        if done.status != "COMPLETED":
            raise RuntimeError(f"celery job failed: {done.error_code}: {done.error}")
        row = store.jobs.get(job.id)
        n_chunks = len(store.chunks.of_attempt(job.id, row.lease_owner)) if row and row.lease_owner else 0
        out = data / "files" / str(row.output_key)
        run = Run(f"Celery, {workers} workers (one CPU each), {CELERY_CHUNK_S:g} s chunks", wall, mem.by_role(),
                  str(out), load0, os.getloadavg(), note=f"{n_chunks} chunks")
        return _with_probe(run, out)
    finally:
        files.shutdown()
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        log_fh.close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:
        return


def _healthy(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class JoinQuality:
    """How the ``--workers`` output compares with the one-process output around its joins."""

    joins: list[int]
    frames_equal_count: bool
    duration_diff_s: float
    audio_duration_diff_s: float
    psnr_min_db: float
    psnr_median_db: float
    join_steps: list[float]
    p99_step_elsewhere: float


def join_quality(one: Path, chunked: Path, joins: list[int], fps: float) -> JoinQuality:
    """Frame-by-frame comparison and the mouth-opening steps in a window around each join."""
    half = int(JOIN_WINDOW_S * fps)
    windows = [(max(0, j - half), j + half) for j in joins]
    scores: list[float] = []
    lms: dict[int, np.ndarray] = {}
    with FaceMeasurer() as fm:
        for k, (a, b) in enumerate(zip(iter_rgb(one), iter_rgb(chunked), strict=True)):
            if any(lo <= k < hi for lo, hi in windows):
                scores.append(psnr(a, b))
                lms[k] = _landmarks(fm, b)
    at_joins, elsewhere = [], []
    for (a, b), j in zip(windows, joins, strict=True):
        opening = mouth_opening(np.stack([lms[k] for k in range(a, b) if k in lms]))
        steps, _p99 = join_steps(opening, [j - a])
        at_joins.append(float(steps[0]))
        others = np.delete(np.abs(np.diff(opening)), j - a - 1)
        elsewhere.extend(others[np.isfinite(others)].tolist())
    i1, i2 = media.probe(one), media.probe(chunked)
    return JoinQuality(joins, i1.n_frames == i2.n_frames, abs(i1.duration_s - i2.duration_s),
                       abs(i1.audio_duration_s - i2.audio_duration_s), round(min(scores), 2),
                       round(float(np.median(scores)), 2), [round(s, 4) for s in at_joins],
                       round(float(np.percentile(elsewhere, 99)), 4) if elsewhere else 0.0)


def _landmarks(fm: FaceMeasurer, rgb: np.ndarray) -> np.ndarray:
    lm = fm.landmarks(rgb)
    return lm if lm is not None else np.full((478, 3), np.nan)


@dataclass
class SpeechCost:
    """CPU seconds of the speech analysis of one minute of the input's sound, on one thread."""

    drive_cpu_s: float  # Whisper + forced alignment (the driving audio)
    source_cpu_s: float  # recognised phones (the video's own speech)


def speech_cost(video: Path) -> SpeechCost:
    """Time the two speech analyses a job runs beside its video pass, on the first minute."""
    from reperform import speech
    from reperform.config import EngineConfig

    config = EngineConfig()
    speech.warm_up(config)
    audio = media.load_audio(video)
    minute = type(audio)(samples=audio.samples[: audio.rate * 60], rate=audio.rate)
    c0 = time.process_time()
    speech.analyze_speech(minute, text=None, config=config)
    c1 = time.process_time()
    speech.analyze_speech(minute, text=None, config=config, transcribe=False)
    return SpeechCost(round(c1 - c0, 1), round(time.process_time() - c1, 1))


def chunk_joins(run: Run) -> list[int]:
    """Where ``--workers`` cut the output, from the summary line the command printed."""
    marker = "joins at frames "
    if marker not in run.note:
        return []
    return [int(x) for x in run.note.split(marker, 1)[1].split(")")[0].split(",") if x.strip()]


def markdown(minutes: float, runs: list[Run], joins: JoinQuality | None, speech_s: SpeechCost | None = None) -> str:
    """The section for docs/benchmarks.md."""
    lines = [f"Input: `{SOURCE}` (real speech throughout) letterboxed to 1920x1080 and looped to {minutes:g} min, "
             "driven by its own sound, default options (face mode). Every process runs one thread per library "
             "(`OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS`, `MKL_NUM_THREADS`, `NUMEXPR_NUM_THREADS` = 1) and is "
             "pinned with `taskset`; chunk workers pin themselves to one CPU each. Produced by "
             "`benchmarks/long_video.py` (`make bench-long`).", "",
             "| run | wall | x real time | speed-up | peak RSS (MiB) | frames | load before / after |",
             "|---|---|---|---|---|---|---|"]
    base = next((r.wall_s for r in runs if r.label.startswith("--workers 1")), None)
    for r in runs:
        rtf = r.wall_s / (minutes * 60)
        speed = f"{base / r.wall_s:.2f}x" if base else "-"
        rss = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r.peak_rss_mib.items()))
        load = f"{r.load_before[0]:.1f} / {r.load_after[0]:.1f}"
        cuts = chunk_joins(r)
        detail = f" — {len(cuts) + 1} chunks" if cuts else f" — {r.note}" if r.label.startswith("Celery") else ""
        lines.append(f"| {r.label}{detail} | {r.wall_s / 60:.1f} min "
                     f"| {rtf:.2f} | {speed} | {rss} | {r.n_frames} | {load} |")
    if joins is not None:
        lines += ["", f"Joins of the `--workers 2` output ({len(joins.joins)} at frames {joins.joins}), against the "
                  "one-process output: frame count equal: "
                  f"{'yes' if joins.frames_equal_count else 'NO'}; duration difference {joins.duration_diff_s:.6f} s, "
                  f"audio {joins.audio_duration_diff_s:.6f} s; PSNR of the frames within {JOIN_WINDOW_S:g} s of a join "
                  f"min {joins.psnr_min_db} dB, median {joins.psnr_median_db} dB (identical before encoding: a chunk "
                  "restarts x264's GOP, so its frames carry other encoder noise); mouth-opening step at each join "
                  f"{joins.join_steps} against a 99th percentile of {joins.p99_step_elsewhere} for the other steps "
                  f"in those windows (inter-ocular units)."]
    if speech_s is not None:
        lines += ["", f"Speech analysis of one minute of this sound, one thread: {speech_s.drive_cpu_s} CPU-s for the "
                  f"driving audio (Whisper + alignment) and {speech_s.source_cpu_s} CPU-s for the video's own speech "
                  f"(recognised phones), so about {(speech_s.drive_cpu_s + speech_s.source_cpu_s) * minutes / 60:.1f} "
                  f"CPU-minutes for {minutes:g} minutes. Both run on their own threads beside the video pass, which "
                  "costs several times more; they are not split into spans (no gain on 2 cores: the video pass "
                  "already keeps both busy)."]
    lines += ["", f"Chunks are never shorter than {MIN_CHUNK_S:g} s; `--workers N` cuts one chunk per worker, Celery "
              f"about {CELERY_CHUNK_S:g} s each (`REPERFORM_CHUNK_S`)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "reperform-long-video"))
    p.add_argument("--skip-celery", action="store_true")
    p.add_argument("--skip-one", action="store_true", help="no one-worker baseline (no speed-up, no join figures)")
    argv_used = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv_used)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the SDK's polling would drown the log
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    video = make_input(args.minutes, work)
    runs: list[Run] = []
    joins: JoinQuality | None = None
    speech_s = speech_cost(video)

    def publish() -> None:  # after every run: a long session that stops early keeps what it measured
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"minutes": args.minutes, "runs": [asdict(r) for r in runs],
                                       "joins": asdict(joins) if joins else None, "speech": asdict(speech_s)},
                                      indent=1))
        path = sections.write("long_video", f"Long video: one {args.minutes:g}-minute 1080p job across workers "
                              "(issue 18)", markdown(args.minutes, runs, joins, speech_s),
                              argv=["python", "-m", "benchmarks.long_video", *argv_used])
        log.info("wrote %s", path)

    runs.append(run_local(video, work / "two.mp4", 2, "0,1"))
    publish()
    if not args.skip_celery:
        runs.append(run_celery(video, work))
        publish()
    if not args.skip_one:
        runs.insert(0, run_local(video, work / "one.mp4", 1, "0"))
        cuts = chunk_joins(runs[1])
        if cuts:
            joins = join_quality(work / "one.mp4", work / "two.mp4", cuts, float(media.probe(video).fps))
        publish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
