"""Process settings the engine applies (reperform.runtime) and its lean MediaPipe import.

Both are checked in a fresh interpreter: they are about what a process has loaded and how it is
configured, which the test process itself (with everything already imported) cannot show.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _fresh(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_tune_process_leaves_every_blas_library_one_thread() -> None:
    got = _fresh(
        "import json, threadpoolctl, scipy.spatial, numpy\n"
        "from reperform import runtime\n"
        "before = [i['num_threads'] for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas']\n"
        "runtime.tune_process(); runtime.tune_process()\n"
        "after = [i['num_threads'] for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas']\n"
        "print(json.dumps({'before': before, 'after': after}))"
    )
    assert got["after"], "no BLAS library was found loaded"
    assert all(n == 1 for n in got["after"]), got


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_freed_memory_is_accepted_by_glibc() -> None:
    got = _fresh("import json; from reperform import runtime; print(json.dumps(runtime.keep_freed_memory()))")
    assert got is True


def test_mediapipe_import_skips_drawing_helpers_and_sounddevice_but_they_still_work() -> None:
    got = _fresh(
        "import json, sys\n"
        "from reperform.face.detect import _import_mediapipe\n"
        "mp = _import_mediapipe()\n"
        "lean = {m: m in sys.modules and type(sys.modules[m]).__name__ != '_DeferredModule'\n"
        "        for m in ('matplotlib', 'PIL.Image', 'sounddevice', 'mediapipe.python.solutions.drawing_utils')}\n"
        "spec = mp.solutions.drawing_utils.DrawingSpec(thickness=2)\n"  # first use imports the real module
        "print(json.dumps({'loaded': lean, 'thickness': spec.thickness, 'mesh': hasattr(mp.solutions, 'face_mesh'),\n"
        "                  'matplotlib_after_use': 'matplotlib' in sys.modules}))"
    )
    assert not any(got["loaded"].values()), got["loaded"]
    assert got["mesh"]
    assert got["thickness"] == 2
    assert got["matplotlib_after_use"]
