"""The webhook outbox: deliveries to make, claimed by one sender at a time, retried with backoff.

A terminal job writes its delivery row in the process that finished it; senders
(:mod:`reperform.jobs.outbox`) claim due rows and record every attempt on the row.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from ...protocol.views import TERMINAL
from ..db import Job, WebhookDelivery, utcnow
from .database import Database, new_id


class Webhooks:
    """Outbox rows (``webhook_deliveries``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def enqueue(self, *, org_id: str, url: str, payload: str, job_id: str | None = None,
                batch_id: str | None = None) -> str:
        row = WebhookDelivery(id=new_id(), org_id=org_id, url=url, payload=payload, job_id=job_id,
                              batch_id=batch_id, state="pending", attempts=0, next_attempt_at=utcnow(), log=[])
        with self._db.session() as s, s.begin():
            s.add(row)
        return row.id

    def claim_due(self, hold_s: float, limit: int = 32) -> list[WebhookDelivery]:
        """Pending deliveries whose time has come, each held for ``hold_s`` so only one process sends it."""
        now = utcnow()
        out: list[WebhookDelivery] = []
        with self._db.session() as s:
            ids = list(s.scalars(select(WebhookDelivery.id).where(
                WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at).limit(limit)))
        for wid in ids:
            with self._db.session() as s, s.begin():
                res = s.execute(update(WebhookDelivery).where(
                    WebhookDelivery.id == wid, WebhookDelivery.state == "pending",
                    WebhookDelivery.next_attempt_at <= now)
                    .values(next_attempt_at=now + timedelta(seconds=hold_s)))
                if res.rowcount == 1:
                    row = s.get(WebhookDelivery, wid)
                    if row is not None:
                        out.append(row)
        return out

    def record_attempt(self, delivery_id: str, *, ok: bool, status_code: int | None, error: str | None,
                       max_attempts: int, backoff_s: float) -> None:
        now = utcnow()
        with self._db.session() as s, s.begin():
            row = s.get(WebhookDelivery, delivery_id)
            if row is None:
                return
            row.attempts += 1
            row.last_status_code = status_code
            row.log = [*row.log, {"at": now.isoformat(), "statusCode": status_code, "error": error}]
            if ok:
                row.state = "delivered"
            elif row.attempts >= max_attempts:
                row.state = "failed"
            else:
                row.next_attempt_at = now + timedelta(seconds=backoff_s * 2 ** (row.attempts - 1))

    def missing(self, grace_s: float, window_s: float = 24 * 3600.0) -> list[str]:
        """Ended jobs with a webhook URL but no delivery row: their finisher died before queueing it."""
        now = utcnow()
        has_row = select(WebhookDelivery.id).where(WebhookDelivery.job_id == Job.id).exists()
        with self._db.session() as s:
            return list(s.scalars(select(Job.id).where(
                Job.status.in_(list(TERMINAL)), Job.webhook_url.is_not(None),
                Job.finished_at < now - timedelta(seconds=grace_s),
                Job.finished_at > now - timedelta(seconds=window_s), ~has_row).limit(100)))

    def of_job(self, job_id: str) -> list[WebhookDelivery]:
        with self._db.session() as s:
            return list(s.scalars(select(WebhookDelivery).where(WebhookDelivery.job_id == job_id)))
