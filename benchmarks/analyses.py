"""Engine analyses for the benchmarks, through the public seam (``reperform.analyze``), cached.

An analysis is the slow part of a job (face track, mouth bank, speech); the planner-level
evaluations (``plan_eval``, the leave-one-clip-out fits) plan the same analyses many times. They
are saved with :meth:`reperform.Analysis.save` under ``benchmarks/.work/analyses/`` and reused only
while the engine's own source code is unchanged (a hash of ``src/reperform`` is part of the
folder name), so a cached analysis can never stand in for what today's engine would compute.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import reperform
from reperform.errors import AnalysisOutdated
from reperform.options import GenerateOptions

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
CACHE_DIR = Path(__file__).resolve().parent / ".work" / "analyses"


def engine_fingerprint() -> str:
    """Hash of every engine source file: part of each cache folder's name."""
    h = hashlib.sha256()
    src = REPO / "src" / "reperform"
    for path in sorted(src.rglob("*.py")):
        h.update(path.relative_to(src).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def cached_analysis(video: Path, audio: Path, *, options: GenerateOptions | None = None,
                    cache: Path | None = CACHE_DIR) -> reperform.Analysis:
    """``reperform.analyze(video, audio, options)``, loaded from the cache when today's engine made it."""
    if cache is None:
        return reperform.analyze(video, audio, options)
    key = hashlib.sha256(f"{video.resolve()}|{audio.resolve()}|{options and options.text}".encode()).hexdigest()[:10]
    folder = cache / engine_fingerprint() / f"{video.stem}.{audio.stem}.{key}"
    try:
        analysis = reperform.Analysis.load(folder)
        analysis.check_inputs()
        return analysis
    except AnalysisOutdated:
        pass
    analysis = reperform.analyze(video, audio, options)
    for stale in cache.glob("*"):  # analyses of engine code that no longer exists
        if stale.is_dir() and stale.name != folder.parent.name:
            shutil.rmtree(stale, ignore_errors=True)
    analysis.save(folder)
    log.info("analysed %s driven by %s (cached in %s)", video.name, audio.name, folder)
    return analysis
