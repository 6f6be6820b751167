"""Keep analyses on disk so the same inputs asked again cost only plan + render.

The analysis (face tracking, mouth bank, speech of both sound tracks) is most of a job's time and
does not depend on the mode, emotion, temperature or sync mode. A user who tries a second emotion
on the same upload — the Studio's and the API's everyday case — should not pay for it twice.

What makes a cached analysis safe to reuse:

- **The key is the inputs' whole content** (SHA-256 of every byte, not the cheap edge fingerprint
  :func:`reperform.analysis.fingerprint` uses to notice a replaced file): a crafted file that
  shares another's size and edges cannot pick up that file's analysis (its mouth bank holds the
  other video's pixels).
- **Scoped**: a caller passes a scope (the server passes the organisation), and the scope is part
  of the key, so one organisation never loads — or learns by timing that another has — an
  analysis of another's upload.
- **Every option that reaches the analysis** is in the key: all of :class:`GenerateOptions` but
  the fields :data:`PLAN_ONLY_FIELDS` names (new options are in the key until someone decides
  otherwise), and the engine configuration.
- **The engine's own source**: any change to the code invalidates every entry, so an analysis made
  by yesterday's engine never stands in for what today's would compute (no version number to
  forget to bump).

Entries are written to a temporary folder and renamed into place (a crash never leaves half an
entry), read back with :meth:`Analysis.load`, and evicted least-recently-used past ``max_bytes``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from functools import cache
from pathlib import Path

from .analysis import Analysis
from .config import EngineConfig
from .errors import AnalysisOutdated
from .options import GenerateOptions

log = logging.getLogger(__name__)

#: Options the plan and render read, never the analysis (``pipeline.analyze`` receives only text).
PLAN_ONLY_FIELDS = frozenset({"mode", "emotion", "temperature", "sync_mode"})
#: Default size bound of a cache folder: a short close-up's entry is a few MB, a long 1080p clip's
#: at most the mouth bank's budget (224 MiB) plus its per-frame arrays.
DEFAULT_MAX_BYTES = 2 * 1024**3
_HASH_CHUNK = 1 << 20


def content_hash(path: Path) -> str:
    """SHA-256 of the whole file (a 1 GB video takes a few seconds: small next to its analysis)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@cache
def engine_source_hash() -> str:
    """Hash of every source and data file of the installed package: the engine's identity."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in {".py", ".npz", ".json", ".txt"} and "__pycache__" not in p.parts:
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


class AnalysisCache:
    """A folder of saved analyses, one sub-folder per key (see the module docstring)."""

    def __init__(self, root: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def key(self, video: Path, audio: Path, options: GenerateOptions, config: EngineConfig, scope: str = "") -> str:
        """The entry name for these inputs, analysis options, engine and scope."""
        analysis_options = options.model_dump(mode="json", exclude=set(PLAN_ONLY_FIELDS))
        material = {
            "scope": scope, "video": content_hash(video), "audio": content_hash(audio),
            "options": analysis_options, "config": dataclasses.asdict(config), "engine": engine_source_hash(),
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:40]

    def load(self, key: str, video: Path, audio: Path) -> Analysis | None:
        """The cached analysis for ``key``, pointed at this caller's copies of the inputs; ``None``
        when there is none or it cannot be used (a broken entry is removed)."""
        folder = self.root / key
        if not folder.is_dir():
            return None
        try:
            analysis = Analysis.load(folder)
            # The entry names the files it was made from; this caller has its own copies.
            analysis.video, analysis.audio = video, audio
            analysis.info = dataclasses.replace(analysis.info, path=video)
            analysis.check_inputs()  # same bytes: the key says so; this guards against a bug, cheaply
        except (AnalysisOutdated, OSError) as exc:
            log.warning("analysis cache: dropping unusable entry %s (%s)", key[:12], exc)
            shutil.rmtree(folder, ignore_errors=True)
            return None
        os.utime(folder)  # least-recently-used order
        log.info("analysis cache: reusing %s", key[:12])
        return analysis

    def save(self, key: str, analysis: Analysis) -> None:
        """Store ``analysis`` under ``key`` (atomically), then evict old entries past the bound.

        A failure to store is logged, never raised: the job already has what it needs.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{key}.{os.getpid()}.tmp"
        try:
            analysis.save(tmp)
            if _folder_bytes(tmp) > self.max_bytes:
                shutil.rmtree(tmp, ignore_errors=True)
                return
            try:
                tmp.rename(self.root / key)
            except OSError:  # another worker stored the same key first: theirs is as good
                shutil.rmtree(tmp, ignore_errors=True)
        except (OSError, ValueError, TypeError) as exc:
            log.warning("analysis cache: could not store %s (%s)", key[:12], exc)
            shutil.rmtree(tmp, ignore_errors=True)
            return
        self.evict()

    def evict(self) -> None:
        """Remove least-recently-used entries until the folder fits ``max_bytes``."""
        entries = [(p.stat().st_mtime, p) for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        sizes = {p: _folder_bytes(p) for _, p in entries}
        total = sum(sizes.values())
        for _, p in sorted(entries):
            if total <= self.max_bytes:
                break
            shutil.rmtree(p, ignore_errors=True)
            total -= sizes[p]


def analyze_cached(cache_: AnalysisCache | None, scope: str, video: Path, audio: Path, options: GenerateOptions,
                   config: EngineConfig, analyze) -> tuple[Analysis, bool]:
    """``(analysis, reused)``: from ``cache_`` when it holds these inputs, else ``analyze()``
    (then stored). ``analyze`` is the pipeline's own analysis call; this module does not know stages."""
    if cache_ is None:
        return analyze(), False
    t0 = time.perf_counter()
    key = cache_.key(video, audio, options, config, scope)
    found = cache_.load(key, video, audio)
    if found is not None:
        found.timings_s = {"analysis_cache": time.perf_counter() - t0}
        return found, True
    analysis = analyze()
    cache_.save(key, analysis)
    return analysis, False
