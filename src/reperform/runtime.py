"""Process-wide CPU and memory settings the engine runs best with.

The engine keeps both cores busy with its own threads (video pass, two speech analyses, the
x264 encoder), so anything that spins or churns on the side costs wall time directly. Two such
things were measured on the 2-core target (720p, 6.6 s clip, 4 alternating runs each):

- **OpenBLAS worker threads.** NumPy's and SciPy's OpenBLAS start one thread per core and, after
  every BLAS call, spin on ``sched_yield`` waiting for the next one: ~5 % of the process's CPU,
  for matrices (a few hundred elements) that never benefit from a second thread. Limited to one
  thread: process CPU 13.4 → 12.3 s.
- **Page faults from glibc returning memory.** Frames (2.7 MB at 720p) and Whisper's GEMM buffers
  are freed and allocated again every few milliseconds; glibc's default trims and unmaps them,
  so every new buffer is faulted in page by page (~7 % of CPU, most of it inside CTranslate2's
  matrix products). Raising the mmap and trim thresholds keeps the memory in the heap for reuse:
  kernel time 1.5 → 0.9 s. Peak RSS is what the engine uses anyway (the frame store and models
  dominate it); the 60 s 1080p figure in docs/benchmarks.md is measured with this in place.

Both are applied once per process, the first time the engine runs (:func:`tune_process`): they
change how this process allocates and threads, not what it computes.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

#: glibc's ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Buffers up to this size come from (and go back to) the heap instead of their own mapping.
MMAP_THRESHOLD_BYTES = 256 * 1024 * 1024
#: Free memory at the top of the heap is returned to the system only beyond this much.
TRIM_THRESHOLD_BYTES = 512 * 1024 * 1024

_lock = threading.Lock()
_tuned = False


def tune_process() -> None:
    """Apply the settings above once; later calls only re-limit BLAS libraries loaded since."""
    global _tuned
    with _lock:
        limit_blas_threads()
        if not _tuned:
            keep_freed_memory()
            _tuned = True


def limit_blas_threads() -> None:
    """One thread for every BLAS library loaded in this process (see the module docstring)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a declared dependency; without it the engine is only slower
        log.debug("threadpoolctl not installed: BLAS libraries keep their own thread counts")
        return
    threadpool_limits(limits=1, user_api="blas")


def keep_freed_memory() -> bool:
    """Raise glibc's mmap/trim thresholds (see the module docstring); False where there is no glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and ok
    if not ok:
        log.debug("mallopt refused the engine's thresholds; keeping glibc's defaults")
    return ok


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity, e.g. under ``taskset``; else all of them)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))
