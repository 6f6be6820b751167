"""Run one ``reperform.generate`` (or the decode+encode floor) in a fresh child process.

A child per run gives an honest peak RSS (``ru_maxrss`` of a process that did nothing else), keeps
one crash from ending the whole benchmark, and starts every timed run from the same state. The
parent passes a JSON job and reads a JSON answer file; stdout is left to library chatter.

    python -m benchmarks.child JOB.json ANSWER.json
"""

from __future__ import annotations

import json
import logging
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
#: A run longer than this is stuck, not slow (the longest input is 60 s of 1080p).
CHILD_TIMEOUT_S = 1800.0


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one child run reports. ``error`` is the exception class name when it failed."""

    wall_s: float = float("nan")
    duration_s: float = float("nan")
    n_frames: int = 0
    peak_rss_bytes: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    speech_method: str = ""
    error: str = ""
    error_code: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def not_implemented(self) -> bool:
        return self.error == "ModeNotImplemented"

    @property
    def rtf(self) -> float:
        """Real-time factor: wall time per second of output (< 1 is faster than real time)."""
        return self.wall_s / self.duration_s if self.duration_s else float("nan")


def run_child(job: dict[str, object], work: Path) -> RunResult:
    """Run ``job`` in a child interpreter and return its answer (errors become ``RunResult.error``)."""
    work.mkdir(parents=True, exist_ok=True)
    job_path, answer_path = work / "child_job.json", work / "child_answer.json"
    job_path.write_text(json.dumps(job))
    answer_path.unlink(missing_ok=True)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.child", str(job_path), str(answer_path)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return RunResult(error="Timeout", message=f"no answer within {CHILD_TIMEOUT_S:.0f} s")
    if not answer_path.exists():
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        return RunResult(error="ChildCrashed", message=f"exit {proc.returncode}: {' | '.join(tail)}")
    data = json.loads(answer_path.read_text())
    data["warnings"] = tuple(data.get("warnings", ()))
    return RunResult(**data)


def peak_rss_bytes() -> int:
    """This process's peak resident set size.

    Read from ``VmHWM`` in /proc: ``getrusage().ru_maxrss`` is inherited across fork+exec on Linux,
    so a child of a big parent would report the parent's size instead of its own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # other systems: best effort


def _main(job_path: str, answer_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    answer: dict[str, object] = {}
    t0 = time.perf_counter()
    try:
        if job["kind"] == "floor":
            from benchmarks.clips import decode_encode_floor
            from reperform import media

            decode_encode_floor(Path(job["video"]), Path(job["output"]))
            answer["wall_s"] = time.perf_counter() - t0
            info = media.probe(job["output"])
            answer.update(duration_s=info.duration_s, n_frames=info.n_frames)
        else:
            import reperform
            from reperform.options import GenerateOptions

            options = GenerateOptions.parse(**job.get("options", {}))
            t0 = time.perf_counter()
            res = reperform.generate(job["video"], job["audio"], job["output"], options)
            answer["wall_s"] = time.perf_counter() - t0
            answer.update(
                duration_s=res.duration_s, n_frames=res.n_frames, timings_s=res.timings_s,
                warnings=list(res.warnings), speech_method=res.speech_method,
            )
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the parent, not raised
        answer.update(error=exc.__class__.__name__, error_code=getattr(exc, "code", ""), message=str(exc)[:500])
    answer["peak_rss_bytes"] = peak_rss_bytes()
    Path(answer_path).write_text(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1], sys.argv[2]))
