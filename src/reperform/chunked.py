"""One job's render split across local processes (``reperform generate --workers N``, issue 18).

The analysis and the plan are made once, in the calling process, over the whole clip (the mouth
plan must see everything for the joins not to show) and saved to a scratch folder; ``N`` worker
processes (``python -m reperform.chunked``) each load them and render one chunk of output frames
into a video-only MP4 (:func:`reperform.pipeline.render` with ``frames``); the chunks are joined
without re-encoding and the sound muxed once (:func:`reperform.pipeline.join`).

Processes, not threads: the render pass is Python and NumPy work that holds the GIL most of the
time. Each worker is pinned to one CPU of those this process may use (``sched_setaffinity``) and
runs its libraries single-threaded (:data:`ONE_THREAD_ENV`): N workers on N cores then share
nothing, and a worker's peak memory is one render pass's, whatever the number of workers.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import errors, runtime
from .analysis import Analysis, Plan
from .errors import EngineError, ReperformError

log = logging.getLogger(__name__)

#: Environment of every worker process: one thread in each library that would start its own
#: (OpenMP, OpenBLAS, MKL, numexpr; OpenCV reads none, so the worker calls ``cv2.setNumThreads``).
#: With the worker pinned to one CPU, x264 and the decoder size their thread pools to that CPU.
ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}
#: Environment variable naming the CPU a worker pins itself to (set by the parent).
CPU_ENV = "REPERFORM_WORKER_CPU"
#: How often a worker checks that the process that started it is alive (seconds).
PARENT_CHECK_S = 0.5
#: Lines a worker writes on its stdout: ``progress F``, then ``done JSON`` or ``error JSON``.
_PROGRESS, _DONE, _ERROR = "progress", "done", "error"


@dataclass(eq=False)
class _Chunk:
    """One chunk's frames, its output file, how far its worker has got and how it ended."""

    frames: range
    output: Path
    done: float = 0.0
    edited: int = 0
    warnings: list[str] = field(default_factory=list)
    error: ReperformError | None = None
    stderr: list[str] = field(default_factory=list)


def render_chunks(
    analysis: Analysis, plan: Plan, spans: list[tuple[int, int]], work: Path, workers: int,
    report: Callable[[float, str], None],
) -> tuple[list[Path], int, tuple[str, ...]]:
    """Render ``spans`` of ``plan`` in up to ``workers`` processes; returns the chunk files in
    order, how many frames they edited and the renderers' warnings (each once).

    ``report(fraction, detail)`` gets the share of all output frames rendered so far (the sum of
    the chunks' progress). The first failing chunk's error is raised once all workers stopped.
    """
    analysis.save(work / "analysis")
    plan.save(work / "plan")
    chunks = [_Chunk(range(a, b), work / f"chunk{i:04d}.mp4") for i, (a, b) in enumerate(spans)]
    cpus = runtime.usable_cpus()
    pending = list(chunks)
    lock, told = threading.Lock(), threading.Lock()
    failed = threading.Event()

    stopped: list[BaseException] = []
    failures: list[ReperformError] = []

    def tell() -> None:
        with told:  # lanes report from their own threads; the sink sees one call at a time
            done = sum(c.done * len(c.frames) for c in chunks) / max(1, plan.n_out)
            try:
                report(done, f"{sum(c.done >= 1 for c in chunks)}/{len(chunks)} chunks")
            except BaseException as exc:  # the caller stops the job (a lost lease): stop every worker
                stopped.append(exc)
                failed.set()

    def lane(cpu: int) -> None:
        while not failed.is_set():
            with lock:
                if not pending:
                    return
                chunk = pending.pop(0)
            _run_worker(chunk, work, cpu, tell, failed)
            if chunk.error is not None:
                with lock:
                    failures.append(chunk.error)  # in the order they happened: the first is the cause
                failed.set()

    lanes = [threading.Thread(target=lane, args=(cpus[i % len(cpus)],), name=f"chunk-lane-{i}", daemon=True)
             for i in range(max(1, min(workers, len(chunks))))]
    for t in lanes:
        t.start()
    for t in lanes:
        t.join()
    if stopped:
        raise stopped[0]
    if failures:
        raise failures[0]
    warnings = tuple(dict.fromkeys(w for c in chunks for w in c.warnings))
    return [c.output for c in chunks], sum(c.edited for c in chunks), warnings


def _run_worker(chunk: _Chunk, work: Path, cpu: int, tell: Callable[[], None], failed: threading.Event) -> None:
    """Render ``chunk`` in a new worker process pinned to ``cpu``; records its progress and error.
    The worker is killed as soon as ``failed`` is set (another chunk failed, or the job stopped)."""
    env = {**os.environ, **ONE_THREAD_ENV, CPU_ENV: str(cpu)}
    src = str(Path(__file__).resolve().parents[1])  # the same checkout, installed or not
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "reperform.chunked", str(work), str(chunk.frames.start), str(chunk.frames.stop),
           str(chunk.output)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True, bufsize=1)
    drain = threading.Thread(target=lambda: chunk.stderr.extend(proc.stderr or ()), daemon=True)
    drain.start()
    assert proc.stdout is not None
    stopped = False
    for line in proc.stdout:
        if failed.is_set():  # stopped on purpose: not this chunk's failure
            proc.kill()
            stopped = True
            break
        word, _, rest = line.strip().partition(" ")
        if word == _PROGRESS:
            chunk.done = min(1.0, float(rest))
            tell()
        elif word == _ERROR:
            chunk.error = _error_from(json.loads(rest))
        elif word == _DONE:
            summary = json.loads(rest)
            chunk.done, chunk.edited, chunk.warnings = 1.0, int(summary["edited"]), list(summary["warnings"])
            tell()
    code = proc.wait()
    drain.join(timeout=5)
    if chunk.error is None and not stopped and (code != 0 or not chunk.output.is_file()):
        tail = " ".join("".join(chunk.stderr[-3:]).split())[-300:]
        chunk.error = EngineError(f"the worker rendering frames {chunk.frames.start}..{chunk.frames.stop} "
                                  f"exited with code {code}: {tail}")


def _error_from(payload: dict[str, str]) -> ReperformError:
    """The worker's error as the same class (by name) in this process, else an EngineError."""
    cls = getattr(errors, payload.get("type", ""), None)
    if not (isinstance(cls, type) and issubclass(cls, ReperformError)):
        cls = EngineError
    return cls(payload.get("message", "a chunk worker failed"))


def _watch_parent(parent_pid: int) -> None:
    """Exit at once when the process that started this worker is gone (killed, crashed): nobody
    would join this chunk, and a job re-run elsewhere must not compete with orphans for the CPUs."""
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent_pid:
            os._exit(3)


def _pin(cpu: str | None) -> None:
    """Run this process on ``cpu`` only (see the module docstring); OpenCV single-threaded."""
    import cv2

    cv2.setNumThreads(1)
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {int(cpu)})
        except OSError:  # a CPU we may not use after all: run unpinned
            log.warning("could not pin the chunk worker to CPU %s", cpu)


def main(argv: list[str]) -> int:
    """Worker entry: ``WORK START STOP OUTPUT`` → render frames START..STOP of WORK's plan to OUTPUT."""
    work, start, stop, output = Path(argv[0]), int(argv[1]), int(argv[2]), Path(argv[3])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format=f"%(asctime)s chunk {start}..{stop} %(name)s %(levelname)s %(message)s")
    threading.Thread(target=_watch_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    _pin(os.environ.get(CPU_ENV))
    from .pipeline import render  # after pinning: the libraries size their thread pools on import

    def progress(_stage: str, fraction: float, _detail: str = "") -> None:
        print(f"{_PROGRESS} {fraction:.4f}", flush=True)

    try:
        result = render(Analysis.load(work / "analysis"), Plan.load(work / "plan"), output, progress=progress,
                        frames=range(start, stop))
    except ReperformError as exc:
        print(f"{_ERROR} {json.dumps({'type': type(exc).__name__, 'message': exc.message})}", flush=True)
        return 1
    print(f"{_DONE} {json.dumps({'edited': result.frames_edited, 'warnings': list(result.warnings)})}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
