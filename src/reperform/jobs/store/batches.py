"""Batches: a JSONL file's lines become jobs together; the batch's state is derived from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from ..db import Batch
from .database import Database, new_id
from .jobs import Jobs
from .keys import Orgs


class Batches:
    """Batch rows, created with their jobs in one transaction."""

    def __init__(self, db: Database, orgs: Orgs, jobs: Jobs) -> None:
        self._db, self._orgs, self._jobs = db, orgs, jobs

    def create(self, *, org_id: str, api_key_id: str, webhook_url: str | None,
               requests: list[tuple[str, dict[str, Any]]], max_active: int | None = None) -> tuple[Batch, list[str]]:
        """A batch and one PENDING job per ``(request_id, normalised generate body)``, in one transaction.

        All or nothing: an :class:`~.jobs.UnknownAsset` in any line, or a
        :class:`~.jobs.QueueFull`, stores none.
        """
        batch = Batch(id=new_id(), org_id=org_id, webhook_url=webhook_url, total=len(requests))
        job_ids: list[str] = []
        with self._db.session() as s, s.begin():
            self._orgs.lock(s, org_id)
            s.add(batch)
            for request_id, body in requests:
                job = self._jobs.add(s, org_id=org_id, api_key_id=api_key_id, batch_id=batch.id,
                                     request_id=request_id, **body)
                job_ids.append(job.id)
            self._jobs.admit(s, org_id, max_active)
        return batch, job_ids

    def get(self, batch_id: str, org_id: str | None = None) -> Batch | None:
        with self._db.session() as s:
            batch = s.get(Batch, batch_id)
        if batch is None or (org_id is not None and batch.org_id != org_id):
            return None
        return batch

    def list(self, org_id: str, *, created_after: datetime | None = None,
             created_before: datetime | None = None) -> list[Batch]:
        """The organisation's batches, newest first."""
        q = select(Batch).where(Batch.org_id == org_id)
        if created_after:
            q = q.where(Batch.created_at >= created_after)
        if created_before:
            q = q.where(Batch.created_at <= created_before)
        with self._db.session() as s:
            return list(s.scalars(q.order_by(Batch.created_at.desc())))

    def mark_notified(self, batch_id: str) -> bool:
        """Claim the one-time batch webhook; True for exactly one caller."""
        with self._db.session() as s, s.begin():
            res = s.execute(update(Batch).where(Batch.id == batch_id, Batch.notified.is_(False))
                            .values(notified=True))
            return res.rowcount == 1
