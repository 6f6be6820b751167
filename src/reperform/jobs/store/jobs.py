"""Generations: created PENDING, claimed with a lease, finished once.

Exactly-once in effect comes from compare-and-set updates: a worker *claims* a job with a lease
(``lease_owner`` = a fresh attempt id), renews it while working, and may only finish the job while
it still owns it. A worker that was killed loses the lease when it expires; whoever claims next
starts a new attempt, and a late finisher from a dead attempt is refused (its output discarded).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from ...errors import InputError
from ...protocol.views import COMPLETED, FAILED, PENDING, PROCESSING, TERMINAL
from ..db import Job, utcnow
from .assets import Assets
from .database import Database, new_id
from .keys import Orgs

#: Largest page of generations returned when a client asks for no limit (keeps responses bounded).
MAX_LIST = 1000
#: Attempts a job gets before it is failed (each attempt died: a killed worker, a crash).
DEFAULT_MAX_ATTEMPTS = 3


class UnknownAsset(InputError):
    """An input names an asset that does not exist *for this organisation* (foreign ids included)."""


class QueueFull(InputError):
    """The organisation already has as many queued and running jobs as it may."""

    code = "concurrency_limit_reached"
    http_status = 429


class Claim(enum.Enum):
    """Outcome of trying to claim a job."""

    CLAIMED = "claimed"  # this attempt now owns the job
    DONE = "done"  # the job is already terminal: nothing to do (a duplicate message)
    BUSY = "busy"  # another attempt holds a live lease: try again after it expires
    GAVE_UP = "gave_up"  # attempts kept dying (a crashing input?): this call failed the job for good
    MISSING = "missing"


class Jobs:
    """Job rows: creation (checked against the organisation's assets and queue cap), the lease
    protocol of the workers, and the queries that find work."""

    def __init__(self, db: Database, orgs: Orgs, assets: Assets) -> None:
        self._db, self._orgs, self._assets = db, orgs, assets

    # --- creating ---------------------------------------------------------------------------------

    def create(self, *, org_id: str, api_key_id: str, model: str, input: list[Any],
               options: dict[str, Any] | None, segments: list[Any] | None, webhook_url: str | None,
               output_file_name: str | None, max_active: int | None = None) -> Job:
        """A PENDING job. Raises :class:`UnknownAsset` for an asset the organisation does not own and
        :class:`QueueFull` when it would hold more than ``max_active`` queued or running jobs."""
        with self._db.session() as s, s.begin():
            self._orgs.lock(s, org_id)
            job = self.add(s, org_id=org_id, api_key_id=api_key_id, model=model, input=input,
                           options=options, segments=segments, webhook_url=webhook_url,
                           output_file_name=output_file_name)
            self.admit(s, org_id, max_active)
        return job

    def add(self, s: Session, *, org_id: str, api_key_id: str, model: str, input: list[Any],
            options: dict[str, Any] | None, segments: list[Any] | None, webhook_url: str | None,
            output_file_name: str | None, batch_id: str | None = None, request_id: str | None = None) -> Job:
        """Insert a PENDING job in the caller's transaction (a single create, or a batch's lines)."""
        # Every asset a job will read is checked against the job's organisation here, whatever
        # route created it: the one place a foreign assetId could enter a job.
        for item in input:
            if item.get("assetId") and self._assets.get(str(item["assetId"]), org_id) is None:
                raise UnknownAsset(f"asset {item['assetId']} does not exist")
        job = Job(
            id=new_id(), org_id=org_id, api_key_id=api_key_id, status=PENDING, model=model, input=input,
            options=options, segments=segments, webhook_url=webhook_url, output_file_name=output_file_name,
            batch_id=batch_id, request_id=request_id, enqueued_at=utcnow(), progress=0.0, attempts=0,
        )
        s.add(job)
        return job

    @staticmethod
    def admit(s: Session, org_id: str, max_active: int | None) -> None:
        """Count after inserting, inside the write transaction, so concurrent creates cannot both
        slip under the cap; raising rolls the new jobs back."""
        if max_active is None:
            return
        s.flush()
        active = int(s.scalar(select(func.count()).select_from(Job).where(
            Job.org_id == org_id, Job.status.in_([PENDING, PROCESSING]))) or 0)
        if active > max_active:
            raise QueueFull(f"the organisation already has {max_active} generations queued or running "
                            f"(at most {max_active}); retry when some have finished")

    # --- reading ----------------------------------------------------------------------------------

    def get(self, job_id: str, org_id: str | None = None) -> Job | None:
        """The job, or None when it does not exist or belongs to another organisation."""
        with self._db.session() as s:
            job = s.get(Job, job_id)
        if job is None or (org_id is not None and job.org_id != org_id):
            return None
        return job

    def list(self, org_id: str, *, statuses: Sequence[str] = (), ids: Sequence[str] = (),
             limit: int | None = None, cursor: str | None = None) -> list[Job]:
        """Generations of one organisation. Without ``limit``: oldest first (as sync lists them)."""
        q = select(Job).where(Job.org_id == org_id)
        if statuses:
            q = q.where(Job.status.in_(list(statuses)))
        if ids:
            q = q.where(Job.id.in_(list(ids)))
        if limit is None:
            q = q.order_by(Job.created_at, Job.id).limit(MAX_LIST)
        else:
            if cursor:
                anchor = self.get(cursor, org_id)
                if anchor is not None:
                    q = q.where(or_(Job.created_at < anchor.created_at,
                                    and_(Job.created_at == anchor.created_at, Job.id < anchor.id)))
            q = q.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
        with self._db.session() as s:
            return list(s.scalars(q))

    def of_batch(self, batch_id: str) -> list[Job]:
        """A batch's jobs in the order its lines were created."""
        with self._db.session() as s:
            return list(s.scalars(select(Job).where(Job.batch_id == batch_id).order_by(Job.created_at, Job.id)))

    # --- the lease protocol -----------------------------------------------------------------------

    def claim(self, job_id: str, owner: str, lease_s: float,
              max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> tuple[Claim, Job | None]:
        """Take the job for attempt ``owner`` if it is PENDING or its holder's lease has expired.

        A job whose ``max_attempts`` attempts all died without finishing is failed instead, so one
        input that crashes the engine cannot occupy the workers forever.
        """
        now = utcnow()
        with self._db.session() as s, s.begin():
            gave_up = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == PROCESSING, Job.lease_until < now,
                       Job.attempts >= max_attempts)
                .values(status=FAILED, error=f"the job was interrupted {max_attempts} times without finishing",
                        error_code="generation_engine_failed", lease_until=None, stage="failed",
                        updated_at=now, finished_at=now)
            ).rowcount == 1
        if gave_up:
            return Claim.GAVE_UP, self.get(job_id)
        with self._db.session() as s, s.begin():
            res = s.execute(
                update(Job)
                .where(Job.id == job_id, or_(Job.status == PENDING,
                                              and_(Job.status == PROCESSING, Job.lease_until < now)))
                .values(status=PROCESSING, lease_owner=owner, lease_until=now + timedelta(seconds=lease_s),
                        attempts=Job.attempts + 1, stage="starting", updated_at=now)
            )
            claimed = res.rowcount == 1
        job = self.get(job_id)
        if job is None:
            return Claim.MISSING, None
        if claimed:
            return Claim.CLAIMED, job
        return (Claim.DONE if job.status in TERMINAL else Claim.BUSY), job

    def heartbeat(self, job_id: str, owner: str, lease_s: float, *, progress: float | None = None,
                  stage: str | None = None) -> bool:
        """Renew the lease (and record progress); False when this attempt no longer owns the job."""
        now = utcnow()
        values: dict[str, Any] = {"lease_until": now + timedelta(seconds=lease_s), "updated_at": now}
        if progress is not None:
            values["progress"] = progress
        if stage is not None:
            values["stage"] = stage
        with self._db.session() as s, s.begin():
            res = s.execute(update(Job).where(Job.id == job_id, Job.lease_owner == owner,
                                              Job.status == PROCESSING).values(**values))
            return res.rowcount == 1

    def release(self, job_id: str, owner_prefix: str) -> bool:
        """Hand a job back (PENDING, attempt not counted) after its worker was stopped on purpose."""
        with self._db.session() as s, s.begin():
            res = s.execute(update(Job).where(Job.id == job_id, Job.status == PROCESSING,
                                              Job.lease_owner.startswith(owner_prefix, autoescape=True))
                            .values(status=PENDING, lease_owner=None, lease_until=None, stage=None,
                                    attempts=Job.attempts - 1, updated_at=utcnow()))
            return res.rowcount == 1

    def complete(self, job_id: str, owner: str, output_key: str, duration_s: float,
                 warnings: Sequence[str] = ()) -> bool:
        """Finish the job as COMPLETED if ``owner`` still holds it (compare-and-set), with the
        engine's warnings (kept with the job, so every later read of it can show them)."""
        return self._finish(job_id, owner, status=COMPLETED, output_key=output_key,
                            output_duration_s=duration_s, progress=1.0, stage="done", warnings=list(warnings))

    def fail(self, job_id: str, owner: str | None, error: str, error_code: str, *,
             status: str = FAILED) -> bool:
        """Finish the job as FAILED (or REJECTED); ``owner=None`` fails a job nobody has claimed."""
        return self._finish(job_id, owner, status=status, error=error, error_code=error_code, stage="failed")

    def _finish(self, job_id: str, owner: str | None, **values: Any) -> bool:
        now = utcnow()
        cond = [Job.id == job_id]
        cond += [Job.status == PENDING] if owner is None else [Job.status == PROCESSING, Job.lease_owner == owner]
        with self._db.session() as s, s.begin():
            res = s.execute(update(Job).where(*cond).values(
                lease_until=None, updated_at=now, finished_at=now, **values))
            return res.rowcount == 1

    # --- finding work -----------------------------------------------------------------------------

    def claimable(self, limit: int) -> list[str]:
        """Ids of jobs a worker may claim now (PENDING, or PROCESSING with an expired lease), fairest first.

        Fair across organisations: each org's claimable jobs are ranked oldest first, and a job's
        turn is its rank plus the jobs its org is already running. So one org's 500-job batch takes
        one turn in each round instead of the next 500; ties go to the older job.
        """
        now = utcnow()
        rank = func.row_number().over(partition_by=Job.org_id, order_by=(Job.created_at, Job.id))
        ranked = (select(Job.id, Job.org_id, Job.created_at, rank.label("rank"))
                  .where(or_(Job.status == PENDING, and_(Job.status == PROCESSING, Job.lease_until < now)))
                  .subquery())
        running = (select(Job.org_id, func.count().label("n"))
                   .where(Job.status == PROCESSING, Job.lease_until >= now).group_by(Job.org_id).subquery())
        turn = ranked.c.rank + func.coalesce(running.c.n, 0)
        q = (select(ranked.c.id).outerjoin(running, running.c.org_id == ranked.c.org_id)
             .where(ranked.c.rank <= limit).order_by(turn, ranked.c.created_at, ranked.c.id).limit(limit))
        with self._db.session() as s:
            return list(s.scalars(q))

    def due_for_requeue(self, pending_after_s: float, limit: int = 100) -> list[str]:
        """Jobs whose broker message may be lost: expired leases, and PENDING jobs sent long ago.

        Marks them as sent now, so concurrent maintenance loops do not all re-send them.
        """
        now = utcnow()
        stale = now - timedelta(seconds=pending_after_s)
        cond = or_(and_(Job.status == PROCESSING, Job.lease_until < now),
                   and_(Job.status == PENDING, or_(Job.enqueued_at.is_(None), Job.enqueued_at < stale)))
        return self._db.claim_for_resend(Job, cond, now, limit)
