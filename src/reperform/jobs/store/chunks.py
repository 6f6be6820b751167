"""Chunks of long jobs on the Celery queue (issue 18): created PENDING, claimed with a lease, done once.

The same compare-and-set rules as jobs (:mod:`.jobs`): a worker claims a chunk with a lease and
renews it while rendering; a worker killed mid-chunk stops renewing, the lease expires and the
maintenance loop sends the chunk again (:meth:`Chunks.due_for_requeue`); a late finisher of a
lost attempt is refused. While any chunk of a job is unfinished the maintenance loop keeps the
job's own lease alive (:meth:`Chunks.keep_jobs_alive`): a job waiting in the queue for a free
worker is not a dead job, and re-running its analysis would only waste the workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import and_, exists, func, or_, select, update

from ...protocol.views import COMPLETED, PENDING, PROCESSING
from ..db import Job, JobChunk, utcnow
from .database import Database

#: The job's stage while one worker joins its chunks (set once: the other finishers leave it).
JOINING = "joining"


def chunk_id(job_id: str, tag: str, index: int) -> str:
    """The id of chunk ``index`` of the job's attempt ``tag``."""
    return f"{job_id}.{tag}.{index}"


class Chunks:
    """The ``job_chunks`` rows."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, job_id: str, job_owner: str, tag: str, spans: list[tuple[int, int]]) -> list[str]:
        """PENDING rows for ``spans`` (output frame ranges, in order); returns their ids."""
        now = utcnow()
        rows = [JobChunk(id=chunk_id(job_id, tag, i), job_id=job_id, job_owner=job_owner, index=i, start=a, stop=b,
                         status=PENDING, progress=0.0, attempts=0, enqueued_at=now, created_at=now)
                for i, (a, b) in enumerate(spans)]
        with self._db.session() as s, s.begin():
            s.add_all(rows)
        return [r.id for r in rows]

    def get(self, cid: str) -> JobChunk | None:
        with self._db.session() as s:
            return s.get(JobChunk, cid)

    def of_attempt(self, job_id: str, job_owner: str) -> list[JobChunk]:
        """Every chunk the attempt ``job_owner`` cut the job into, in output order."""
        with self._db.session() as s:
            return list(s.scalars(select(JobChunk).where(JobChunk.job_id == job_id, JobChunk.job_owner == job_owner)
                                  .order_by(JobChunk.index)))

    def claim(self, cid: str, owner: str, lease_s: float) -> JobChunk | None:
        """Take the chunk for ``owner`` if it is PENDING or its lease expired, and its job is still
        held by the attempt that made it; None otherwise (done, busy, or its job moved on)."""
        now = utcnow()
        job_alive = exists().where(Job.id == JobChunk.job_id, Job.status == PROCESSING,
                                   Job.lease_owner == JobChunk.job_owner)
        with self._db.session() as s, s.begin():
            res = s.execute(
                update(JobChunk)
                .where(JobChunk.id == cid, job_alive,
                       or_(JobChunk.status == PENDING,
                           and_(JobChunk.status == PROCESSING, JobChunk.lease_until < now)))
                .values(status=PROCESSING, lease_owner=owner, lease_until=now + timedelta(seconds=lease_s),
                        attempts=JobChunk.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            claimed = res.rowcount == 1
        return self.get(cid) if claimed else None

    def heartbeat(self, cid: str, owner: str, lease_s: float, progress: float | None = None) -> bool:
        """Renew the chunk's lease (and record its progress); False once ``owner`` lost it."""
        now = utcnow()
        values: dict[str, object] = {"lease_until": now + timedelta(seconds=lease_s)}
        if progress is not None:
            values["progress"] = progress
        with self._db.session() as s, s.begin():
            res = s.execute(update(JobChunk).where(JobChunk.id == cid, JobChunk.lease_owner == owner,
                                                   JobChunk.status == PROCESSING).values(**values))
            return res.rowcount == 1

    def complete(self, cid: str, owner: str, output_key: str, warnings: Sequence[str] = ()) -> bool:
        """Mark the chunk rendered (its file at ``output_key``, the renderer's ``warnings``) if
        ``owner`` still holds it."""
        with self._db.session() as s, s.begin():
            res = s.execute(update(JobChunk).where(JobChunk.id == cid, JobChunk.lease_owner == owner,
                                                   JobChunk.status == PROCESSING)
                            .values(status=COMPLETED, progress=1.0, lease_until=None, output_key=output_key,
                                    warnings=list(warnings)))
            return res.rowcount == 1

    def progress(self, job_id: str, job_owner: str) -> float:
        """Share of the job's output frames rendered: the chunks' progress weighted by their length."""
        with self._db.session() as s:
            done, total = s.execute(
                select(func.sum(JobChunk.progress * (JobChunk.stop - JobChunk.start)),
                       func.sum(JobChunk.stop - JobChunk.start))
                .where(JobChunk.job_id == job_id, JobChunk.job_owner == job_owner)).one()
        return float(done or 0.0) / float(total) if total else 0.0

    def due_for_requeue(self, pending_after_s: float, limit: int = 100) -> list[str]:
        """Chunks whose message may be lost: expired leases (a killed worker) and PENDING chunks
        sent long ago, of jobs still held by the attempt that made them. Marked as sent now."""
        now = utcnow()
        stale = now - timedelta(seconds=pending_after_s)
        job_alive = exists().where(Job.id == JobChunk.job_id, Job.status == PROCESSING,
                                   Job.lease_owner == JobChunk.job_owner)
        cond = and_(job_alive, or_(and_(JobChunk.status == PROCESSING, JobChunk.lease_until < now),
                                   and_(JobChunk.status == PENDING, JobChunk.enqueued_at < stale)))
        return self._db.claim_for_resend(JobChunk, cond, now, limit)

    def keep_jobs_alive(self, lease_s: float) -> int:
        """Renew the lease of every job that still has unfinished chunks of its current attempt;
        returns how many. (Its chunks are re-sent when their own leases expire.)"""
        now = utcnow()
        unfinished = exists().where(JobChunk.job_id == Job.id, JobChunk.job_owner == Job.lease_owner,
                                    JobChunk.status != COMPLETED)
        with self._db.session() as s, s.begin():
            res = s.execute(update(Job).where(Job.status == PROCESSING, unfinished)
                            .values(lease_until=now + timedelta(seconds=lease_s))
                            .execution_options(synchronize_session=False))
            return int(res.rowcount)

    def all_done(self, job_id: str, job_owner: str) -> bool:
        """Whether every chunk of the attempt is rendered."""
        with self._db.session() as s:
            left = s.scalar(select(func.count()).where(JobChunk.job_id == job_id, JobChunk.job_owner == job_owner,
                                                       JobChunk.status != COMPLETED))
        return left == 0

    def claim_join(self, job_id: str, job_owner: str) -> bool:
        """Let one finisher join the chunks: True for the first caller once all are rendered."""
        with self._db.session() as s, s.begin():
            res = s.execute(update(Job).where(Job.id == job_id, Job.status == PROCESSING,
                                              Job.lease_owner == job_owner,
                                              or_(Job.stage.is_(None), Job.stage != JOINING))
                            .values(stage=JOINING, updated_at=utcnow()))
            return res.rowcount == 1
