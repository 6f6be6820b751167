"""Long jobs on the Celery queue, rendered in chunks by any number of workers (issue 18).

The attempt that claims a job analyses and plans it once, over the whole clip (the mouth plan
must see everything for the joins not to show). If the output is long (``Settings.chunk_s``), it
puts the inputs, the :class:`~reperform.Analysis` and the :class:`~reperform.Plan` on the shared
storage, records one row per chunk (:class:`~reperform.jobs.store.chunks.Chunks`) and sends one
``render_chunk`` message each; its own work is then done. Any worker takes a chunk: claims its
row with a lease, renders its output frames into a video-only MP4 (``api.render(frames=...)``)
and stores it. The worker that finishes the last chunk joins them without re-encoding, muxes the
sound once and completes the job — as the attempt that planned it, by compare-and-set, so the job
completes exactly once. A worker killed mid-chunk stops renewing that chunk's lease; the
maintenance loop sends the chunk again and another worker renders the same frames.

The job's progress is the analysis' share (:data:`ANALYSIS_SHARE`) plus the sum of its chunks'
progress, weighted by their length.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from .. import api
from ..analysis import Analysis, Plan
from ..chunking import plan_spans
from ..errors import EngineError, ReperformError
from ..options import GenerateOptions
from ..progress import ProgressSink
from ..storage import Storage
from .context import JobContext
from .execution import Lease, new_owner
from .notify import on_terminal
from .store.chunks import Chunks

log = logging.getLogger(__name__)

#: Share of a chunked job's progress bar taken by fetching, analysing and planning.
ANALYSIS_SHARE = 0.3
#: Files of a chunked attempt on the shared storage, under ``chunks/<job id>/<attempt tag>/``.
_INPUTS = ("video.bin", "audio.bin")
_RECORDS = ("analysis/analysis.json", "analysis/analysis.npz", "plan/plan.json", "plan/plan.npz")


def _prefix(job_id: str, tag: str) -> str:
    return f"chunks/{job_id}/{tag}"


def _tag(owner: str) -> str:
    return owner.rsplit(":", 1)[-1]


def _scaled(sink: ProgressSink, lo: float, hi: float) -> ProgressSink:
    """A sink that maps a stage's 0..1 onto ``lo..hi`` of the job's bar."""
    return lambda stage, fraction, detail="": sink(stage, lo + (hi - lo) * fraction, detail)


def analyse_and_split(ctx: JobContext, job_id: str, owner: str, lease: Lease, video: Path, audio: Path,
                      options: GenerateOptions, work: Path) -> tuple[Path | None, tuple[str, ...]]:
    """Analyse and plan the job. A short output is rendered here (returns its path and the
    engine's warnings); a long one is cut into chunks for the queue (returns None: the chunks'
    workers finish the job, and the joining one gathers the warnings)."""
    config = ctx.settings.engine_config()
    analysis = api.analyze(video, audio, options, progress=_scaled(lease.progress, 0.0, ANALYSIS_SHARE),
                           config=config)
    plan = api.plan(analysis, options, config=config)
    spans = plan_spans(plan, 1, ctx.settings.chunk_s)
    if len(spans) < 2 or ctx.enqueue_chunk is None:
        out = work / "output.mp4"
        result = api.render(analysis, plan, out, progress=_scaled(lease.progress, ANALYSIS_SHARE, 1.0))
        return out, result.warnings
    analysis.release_frames()
    tag = _tag(owner)
    prefix = _prefix(job_id, tag)
    analysis.save(work / "analysis")
    plan.save(work / "plan")
    for name, local in zip(_INPUTS, (video, audio), strict=True):
        ctx.storage.put_file(local, f"{prefix}/{name}")
    for name in _RECORDS:
        ctx.storage.put_file(work / name, f"{prefix}/{name}")
    ids = ctx.store.chunks.create(job_id, owner, tag, spans)
    lease.progress("chunks", ANALYSIS_SHARE)
    for cid in ids:
        ctx.enqueue_chunk(cid)
    log.info("job %s: %d output frames in %d chunks on the queue", job_id, plan.n_out, len(ids))
    return None, analysis.warnings


class ChunkLease(Lease):
    """Renews a chunk's lease and its job's (the planning attempt's), and carries the job's
    progress: the analysis' share plus the sum of the chunks'."""

    def __init__(self, ctx: JobContext, chunk_id: str, job_id: str, job_owner: str, owner: str) -> None:
        super().__init__(ctx, job_id, owner)
        self.chunk_id, self.job_owner = chunk_id, job_owner

    def _beat(self, progress: float | None = None, stage: str | None = None) -> None:
        chunks, lease_s = self.ctx.store.chunks, self.ctx.settings.lease_s
        mine = chunks.heartbeat(self.chunk_id, self.owner, lease_s, progress=progress)
        overall = ANALYSIS_SHARE + (1 - ANALYSIS_SHARE) * chunks.progress(self.job_id, self.job_owner)
        job = self.ctx.store.jobs.heartbeat(self.job_id, self.job_owner, lease_s, progress=min(overall, 0.99),
                                            stage="rendering")
        if not (mine and job):
            self.lost.set()


def _stored(storage: Storage, key: str, local: Path) -> Path:
    """A readable local path of a stored file: the file itself on a local store, else a copy."""
    path = storage.local_path(key)
    if path is not None:
        return path
    storage.get_file(key, local)
    return local


def _load(ctx: JobContext, prefix: str, work: Path) -> tuple[Analysis, Plan]:
    """The attempt's analysis and plan, pointed at the stored inputs."""
    for name in _RECORDS:
        ctx.storage.get_file(f"{prefix}/{name}", work / name)
    analysis, plan = Analysis.load(work / "analysis"), Plan.load(work / "plan")
    analysis.relocate(_stored(ctx.storage, f"{prefix}/video.bin", work / "video.bin"),
                      _stored(ctx.storage, f"{prefix}/audio.bin", work / "audio.bin"))
    return analysis, plan


def render_chunk(ctx: JobContext, chunk_id: str) -> bool:
    """Run one attempt at one chunk (a ``render_chunk`` message). True if this call rendered it."""
    owner = new_owner()
    chunks: Chunks = ctx.store.chunks
    chunk = chunks.claim(chunk_id, owner, ctx.settings.lease_s)
    if chunk is None:
        log.info("chunk %s: done, busy or its job moved on; not running", chunk_id)
        return False
    job_id, job_owner = chunk.job_id, chunk.job_owner
    if chunk.attempts > ctx.settings.max_attempts:
        _fail(ctx, job_id, job_owner, EngineError(f"a chunk of the job was interrupted {chunk.attempts - 1} times"))
        return False
    tag = _tag(job_owner)
    prefix = _prefix(job_id, tag)
    work = ctx.settings.work_dir / job_id / f"chunk-{_tag(owner)}"
    log.info("chunk %s: frames %d..%d, attempt %d by %s", chunk_id, chunk.start, chunk.stop, chunk.attempts, owner)
    try:
        with ChunkLease(ctx, chunk_id, job_id, job_owner, owner) as lease:
            analysis, plan = _load(ctx, prefix, work)
            out = work / f"chunk{chunk.index:04d}.mp4"
            rendered = api.render(analysis, plan, out, frames=range(chunk.start, chunk.stop),
                                  progress=lease.progress)
            key = f"{prefix}/chunk{chunk.index:04d}.{_tag(owner)}.mp4"
            ctx.storage.put_file(out, key)
        # The chunk's own warnings only: the analysis' are added once, by the join.
        own = [w for w in rendered.warnings if w not in analysis.warnings]
        if lease.lost.is_set() or not chunks.complete(chunk_id, owner, key, own):
            log.warning("chunk %s: lost to another attempt; discarding %s", chunk_id, key)
            ctx.storage.delete(key)
            return False
        log.info("chunk %s: rendered", chunk_id)
        if chunks.all_done(job_id, job_owner) and chunks.claim_join(job_id, job_owner):
            _join(ctx, job_id, job_owner, analysis, plan, work)
    except ReperformError as exc:
        _fail(ctx, job_id, job_owner, exc)
    except Exception as exc:  # a bug or environment problem: fail the job, keep the worker alive
        log.exception("chunk %s: internal error", chunk_id)
        _fail(ctx, job_id, job_owner, EngineError(f"internal error ({exc.__class__.__name__}); the server's log "
                                                  "has the details"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return True


def _join(ctx: JobContext, job_id: str, job_owner: str, analysis: Analysis, plan: Plan, work: Path) -> None:
    """Join the attempt's chunks into the job's output and complete the job (compare-and-set)."""
    tag = _tag(job_owner)
    with Lease(ctx, job_id, job_owner) as lease:
        rows = ctx.store.chunks.of_attempt(job_id, job_owner)
        files = [_stored(ctx.storage, str(r.output_key), work / f"joined{r.index:04d}.mp4") for r in rows]
        out = work / "output.mp4"
        api.join(analysis, plan, files, out)
        job = ctx.store.jobs.get(job_id)
        key = f"outputs/{job_id}/{tag}/{(job.output_file_name if job else None) or 'output'}.mp4"
        ctx.storage.put_file(out, key)
    warnings = dict.fromkeys([*analysis.warnings, *(w for r in rows for w in (r.warnings or []))])
    if lease.lost.is_set() or not ctx.store.jobs.complete(job_id, job_owner, key, round(api.probe(out).duration_s, 3),
                                                          list(warnings)):
        log.warning("job %s: another attempt finished first; discarding %s", job_id, key)
        ctx.storage.delete(key)
        return
    log.info("job %s: COMPLETED from %d chunks", job_id, len(rows))
    _clean(ctx, _prefix(job_id, tag))
    shutil.rmtree(ctx.settings.work_dir / job_id, ignore_errors=True)
    on_terminal(ctx, job_id)


def _fail(ctx: JobContext, job_id: str, job_owner: str, exc: ReperformError) -> None:
    log.info("job %s: FAILED in a chunk: %s: %s", job_id, exc.code, exc.message)
    if ctx.store.jobs.fail(job_id, job_owner, exc.message, exc.code):
        _clean(ctx, _prefix(job_id, _tag(job_owner)))
        on_terminal(ctx, job_id)


def _clean(ctx: JobContext, prefix: str) -> None:
    """Remove an attempt's chunk files from the storage (once its job has ended)."""
    for key in ctx.storage.list(prefix):
        ctx.storage.delete(key)

