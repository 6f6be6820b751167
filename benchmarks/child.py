"""Run one ``reperform.generate`` (or the decode+encode floor, or one analysis rendered in several
modes through the seams) in a fresh child process.

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
    return _run(job, work)[0]


def run_child_seams(video: Path, audio: Path, runs: list[tuple[Path, dict[str, object]]], work: Path) -> list[RunResult]:
    """One child: ``reperform.analyze(video, audio)`` once (cached by engine source, see
    :mod:`benchmarks.analyses`), then ``plan`` + ``render`` for each ``(output, options)``.

    The outputs are the bytes ``generate`` would write for each (``tests/e2e/test_seams.py``);
    analysing once instead of once per mode saves a third of the cross-segment benchmark's time.
    Each result's ``wall_s`` is its plan + render; a failed analysis fails every run alike.
    """
    job = {"kind": "seams", "video": str(video), "audio": str(audio),
           "runs": [{"output": str(out), "options": opts} for out, opts in runs]}
    got = _run(job, work)
    return got if len(got) == len(runs) else [got[0]] * len(runs)


def _run(job: dict[str, object], work: Path) -> list[RunResult]:
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
        return [RunResult(error="Timeout", message=f"no answer within {CHILD_TIMEOUT_S:.0f} s")]
    if not answer_path.exists():
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        return [RunResult(error="ChildCrashed", message=f"exit {proc.returncode}: {' | '.join(tail)}")]
    data = json.loads(answer_path.read_text())
    peak = data.get("peak_rss_bytes", 0)
    answers = data.pop("runs", None) or [data]
    out = []
    for a in answers:
        a["warnings"] = tuple(a.get("warnings", ()))
        a.setdefault("peak_rss_bytes", peak)
        out.append(RunResult(**a))
    return out


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
        elif job["kind"] == "seams":
            answer["runs"] = _seams(job)
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


def _seams(job: dict[str, object]) -> list[dict[str, object]]:
    """Analyse once, then plan and render each requested run (see :func:`run_child_seams`)."""
    import reperform
    from benchmarks.analyses import cached_analysis
    from reperform.options import GenerateOptions

    try:
        analysis = cached_analysis(Path(job["video"]), Path(job["audio"]))
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the parent, not raised
        failed = {"error": exc.__class__.__name__, "error_code": getattr(exc, "code", ""), "message": str(exc)[:500]}
        return [dict(failed) for _ in job["runs"]]
    answers = []
    for run in job["runs"]:
        t0 = time.perf_counter()
        try:
            options = GenerateOptions.parse(**run["options"])
            res = reperform.render(analysis, reperform.plan(analysis, options), run["output"])
            answers.append({"wall_s": time.perf_counter() - t0, "duration_s": res.duration_s,
                            "n_frames": res.n_frames, "timings_s": res.timings_s, "warnings": list(res.warnings),
                            "speech_method": res.speech_method})
        except Exception as exc:  # noqa: BLE001
            answers.append({"error": exc.__class__.__name__, "error_code": getattr(exc, "code", ""),
                            "message": str(exc)[:500]})
    return answers


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1], sys.argv[2]))
