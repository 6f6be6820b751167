"""JobStore: every state change of a job, key, asset, batch or webhook goes through here.

Exactly-once in effect comes from compare-and-set updates: a worker *claims* a job with a lease
(``lease_owner`` = a fresh attempt id), renews it while working, and may only finish the job while
it still owns it. A worker that was killed loses the lease when it expires; whoever claims next
starts a new attempt, and a late finisher from a dead attempt is refused (its output discarded).
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, make_url, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from ..errors import InputError
from .db import ApiKey, Asset, Batch, Job, Meta, Org, WebhookDelivery, create_tables, make_engine, utcnow

log = logging.getLogger(__name__)

PENDING, PROCESSING, COMPLETED, FAILED, REJECTED = "PENDING", "PROCESSING", "COMPLETED", "FAILED", "REJECTED"
TERMINAL = frozenset({COMPLETED, FAILED, REJECTED})
#: Printed prefix of API keys, so a leaked key is recognisable in logs and secret scanners.
API_KEY_PREFIX = "rp_"
#: Largest page of generations returned when a client asks for no limit (keeps responses bounded).
MAX_LIST = 1000
#: Attempts a job gets before it is failed (each attempt died: a killed worker, a crash).
DEFAULT_MAX_ATTEMPTS = 3
#: How long a verified API key is trusted without asking the database again (every request checks one).
AUTH_CACHE_S = 10.0
#: Assets never change once stored, so their rows are cached (bounded; responses echo their URLs).
ASSET_CACHE_SIZE = 4096
#: The SQLite database holds the webhook and URL-signing secrets: readable by its owner only.
PRIVATE_FILE_MODE = 0o600


class UnknownAsset(InputError):
    """An input names an asset that does not exist *for this organisation* (foreign ids included)."""


class QueueFull(InputError):
    """The organisation already has as many queued and running jobs as it may."""

    code = "concurrency_limit_reached"
    http_status = 429


def _private_sqlite_file(db_url: str) -> None:
    """Create the SQLite file (and fix an existing one, with its WAL and shared-memory files) as 0600.

    SQLite gives the ``-wal`` and ``-shm`` files it creates later the database file's mode, so
    setting it on the database before the first connection covers all three.
    """
    path = make_url(db_url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE_MODE))
    for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
        try:
            if os.path.exists(name) and os.stat(name).st_mode & 0o077:
                os.chmod(name, PRIVATE_FILE_MODE)
        except OSError as exc:  # not our file: say so rather than refuse to start
            log.warning("cannot make %s private (%s); its secrets are readable by others", name, exc)


class Claim(enum.Enum):
    """Outcome of trying to claim a job."""

    CLAIMED = "claimed"  # this attempt now owns the job
    DONE = "done"  # the job is already terminal: nothing to do (a duplicate message)
    BUSY = "busy"  # another attempt holds a live lease: try again after it expires
    GAVE_UP = "gave_up"  # attempts kept dying (a crashing input?): this call failed the job for good
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly made key; ``secret`` is shown once and never stored."""

    secret: str
    key_id: str
    org_id: str
    webhook_secret: str


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_id() -> str:
    return str(uuid.uuid4())


class JobStore:
    """The database behind the service. Thread-safe; one instance per process."""

    def __init__(self, db_url: str) -> None:
        if db_url.startswith("sqlite"):
            _private_sqlite_file(db_url)
        self.engine = make_engine(db_url)
        create_tables(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._auth_cache: dict[str, tuple[ApiKey, float]] = {}
        self._asset_cache: dict[str, Asset] = {}

    def session(self) -> Session:
        return self._session()

    def close(self) -> None:
        self.engine.dispose()

    # --- deployment-wide values -------------------------------------------------------------

    def meta(self, key: str, default_factory: Any = None) -> str | None:
        """Read a shared value; with ``default_factory`` create it once (first writer wins)."""
        with self.session() as s:
            row = s.get(Meta, key)
            if row is not None or default_factory is None:
                return row.value if row else None
        try:
            with self.session() as s, s.begin():
                s.add(Meta(key=key, value=default_factory()))
        except Exception:  # noqa: BLE001 - a concurrent first writer won; read its value
            log.debug("meta %s created concurrently", key)
        with self.session() as s:
            row = s.get(Meta, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.session() as s, s.begin():
            s.merge(Meta(key=key, value=value))

    def url_secret(self) -> str:
        """The secret that signs output URLs, shared through the database by the server and workers."""
        value = self.meta("url_secret", lambda: secrets.token_hex(32))
        assert value is not None
        return value

    # --- keys ------------------------------------------------------------------------------------

    def create_key(self, name: str = "default", org_id: str | None = None) -> NewKey:
        """Make an API key; without ``org_id`` a new organisation is created for it."""
        secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
        with self.session() as s, s.begin():
            if org_id is None:
                org = Org(id=new_id(), name=name, webhook_secret="whsec_" + secrets.token_hex(24))
                s.add(org)
                s.flush()
            else:
                org = s.get(Org, org_id)
                if org is None:
                    raise KeyError(f"no organisation {org_id}")
            key = ApiKey(id=new_id(), org_id=org.id, name=name, key_hash=hash_key(secret), prefix=secret[:8])
            s.add(key)
        return NewKey(secret=secret, key_id=key.id, org_id=org.id, webhook_secret=org.webhook_secret)

    def authenticate(self, secret: str) -> ApiKey | None:
        if not secret:
            return None
        digest = hash_key(secret)
        cached = self._auth_cache.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        with self.session() as s:
            key = s.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
        if key is None or key.revoked:
            return None
        if len(self._auth_cache) > ASSET_CACHE_SIZE:
            self._auth_cache.clear()
        self._auth_cache[digest] = (key, time.monotonic() + AUTH_CACHE_S)
        return key

    def list_keys(self) -> list[ApiKey]:
        """Every key (hashes only: secrets are never stored), oldest first."""
        with self.session() as s:
            return list(s.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))

    def revoke_key(self, ident: str) -> ApiKey:
        """Revoke one key named by its id, its full secret, or its printed prefix (``rp_xxxxx``).

        Raises ``KeyError`` when nothing or more than one key matches. Other server processes
        stop accepting the key when their authentication cache expires (``AUTH_CACHE_S``).
        """
        cond = or_(ApiKey.id == ident, ApiKey.key_hash == hash_key(ident), ApiKey.prefix == ident)
        with self.session() as s, s.begin():
            matches = list(s.scalars(select(ApiKey).where(cond)))
            if not matches:
                raise KeyError(f"no API key matches {ident!r}")
            if len(matches) > 1:
                raise KeyError(f"{ident!r} matches {len(matches)} keys; give the key id instead")
            key = matches[0]
            key.revoked = True
        self._auth_cache.clear()
        return key

    def org(self, org_id: str) -> Org | None:
        with self.session() as s:
            return s.get(Org, org_id)

    # --- jobs ------------------------------------------------------------------------------------

    def create_job(self, *, org_id: str, api_key_id: str, model: str, input: list[Any],
                   options: dict[str, Any] | None, segments: list[Any] | None, webhook_url: str | None,
                   output_file_name: str | None, max_active: int | None = None) -> Job:
        """A PENDING job. Raises :class:`UnknownAsset` for an asset the organisation does not own and
        :class:`QueueFull` when it would hold more than ``max_active`` queued or running jobs."""
        with self.session() as s, s.begin():
            self._lock_org(s, org_id)
            job = self._add_job(s, org_id=org_id, api_key_id=api_key_id, model=model, input=input,
                                options=options, segments=segments, webhook_url=webhook_url,
                                output_file_name=output_file_name)
            self._admit(s, org_id, max_active)
        return job

    def _add_job(self, s: Session, *, org_id: str, api_key_id: str, model: str, input: list[Any],
                 options: dict[str, Any] | None, segments: list[Any] | None, webhook_url: str | None,
                 output_file_name: str | None, batch_id: str | None = None,
                 request_id: str | None = None) -> Job:
        # Every asset a job will read is checked against the job's organisation here, whatever
        # route created it: the one place a foreign assetId could enter a job.
        for item in input:
            if item.get("assetId") and self.get_asset(str(item["assetId"]), org_id) is None:
                raise UnknownAsset(f"asset {item['assetId']} does not exist")
        job = Job(
            id=new_id(), org_id=org_id, api_key_id=api_key_id, status=PENDING, model=model, input=input,
            options=options, segments=segments, webhook_url=webhook_url, output_file_name=output_file_name,
            batch_id=batch_id, request_id=request_id, enqueued_at=utcnow(), progress=0.0, attempts=0,
        )
        s.add(job)
        return job

    @staticmethod
    def _lock_org(s: Session, org_id: str) -> None:
        """Serialise one organisation's creates on PostgreSQL (SQLite serialises all writers anyway;
        its dialect drops FOR UPDATE)."""
        s.execute(select(Org.id).where(Org.id == org_id).with_for_update())

    @staticmethod
    def _admit(s: Session, org_id: str, max_active: int | None) -> None:
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

    def get_job(self, job_id: str, org_id: str | None = None) -> Job | None:
        """The job, or None when it does not exist or belongs to another organisation."""
        with self.session() as s:
            job = s.get(Job, job_id)
        if job is None or (org_id is not None and job.org_id != org_id):
            return None
        return job

    def list_jobs(self, org_id: str, *, statuses: Sequence[str] = (), ids: Sequence[str] = (),
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
                anchor = self.get_job(cursor, org_id)
                if anchor is not None:
                    q = q.where(or_(Job.created_at < anchor.created_at,
                                    and_(Job.created_at == anchor.created_at, Job.id < anchor.id)))
            q = q.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
        with self.session() as s:
            return list(s.scalars(q))

    def count_active(self, org_id: str) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(Job).where(
                Job.org_id == org_id, Job.status.in_([PENDING, PROCESSING]))) or 0)

    def claim(self, job_id: str, owner: str, lease_s: float,
              max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> tuple[Claim, Job | None]:
        """Take the job for attempt ``owner`` if it is PENDING or its holder's lease has expired.

        A job whose ``max_attempts`` attempts all died without finishing is failed instead, so one
        input that crashes the engine cannot occupy the workers forever.
        """
        now = utcnow()
        with self.session() as s, s.begin():
            gave_up = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == PROCESSING, Job.lease_until < now,
                       Job.attempts >= max_attempts)
                .values(status=FAILED, error=f"the job was interrupted {max_attempts} times without finishing",
                        error_code="generation_engine_failed", lease_until=None, stage="failed",
                        updated_at=now, finished_at=now)
            ).rowcount == 1
        if gave_up:
            return Claim.GAVE_UP, self.get_job(job_id)
        with self.session() as s, s.begin():
            res = s.execute(
                update(Job)
                .where(Job.id == job_id, or_(Job.status == PENDING,
                                              and_(Job.status == PROCESSING, Job.lease_until < now)))
                .values(status=PROCESSING, lease_owner=owner, lease_until=now + timedelta(seconds=lease_s),
                        attempts=Job.attempts + 1, stage="starting", updated_at=now)
            )
            claimed = res.rowcount == 1
        job = self.get_job(job_id)
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
        with self.session() as s, s.begin():
            res = s.execute(update(Job).where(Job.id == job_id, Job.lease_owner == owner,
                                              Job.status == PROCESSING).values(**values))
            return res.rowcount == 1

    def release(self, job_id: str, owner_prefix: str) -> bool:
        """Hand a job back (PENDING, attempt not counted) after its worker was stopped on purpose."""
        with self.session() as s, s.begin():
            res = s.execute(update(Job).where(Job.id == job_id, Job.status == PROCESSING,
                                              Job.lease_owner.startswith(owner_prefix, autoescape=True))
                            .values(status=PENDING, lease_owner=None, lease_until=None, stage=None,
                                    attempts=Job.attempts - 1, updated_at=utcnow()))
            return res.rowcount == 1

    def complete(self, job_id: str, owner: str, output_key: str, duration_s: float) -> bool:
        """Finish the job as COMPLETED if ``owner`` still holds it (compare-and-set)."""
        return self._finish(job_id, owner, status=COMPLETED, output_key=output_key,
                            output_duration_s=duration_s, progress=1.0, stage="done")

    def fail(self, job_id: str, owner: str | None, error: str, error_code: str, *,
             status: str = FAILED) -> bool:
        """Finish the job as FAILED (or REJECTED); ``owner=None`` fails a job nobody has claimed."""
        return self._finish(job_id, owner, status=status, error=error, error_code=error_code, stage="failed")

    def _finish(self, job_id: str, owner: str | None, **values: Any) -> bool:
        now = utcnow()
        cond = [Job.id == job_id]
        cond += [Job.status == PENDING] if owner is None else [Job.status == PROCESSING, Job.lease_owner == owner]
        with self.session() as s, s.begin():
            res = s.execute(update(Job).where(*cond).values(
                lease_until=None, updated_at=now, finished_at=now, **values))
            return res.rowcount == 1

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
        with self.session() as s:
            return list(s.scalars(q))

    def due_for_requeue(self, pending_after_s: float, limit: int = 100) -> list[str]:
        """Jobs whose broker message may be lost: expired leases, and PENDING jobs sent long ago.

        Marks them as sent now, so concurrent maintenance loops do not all re-send them.
        """
        now = utcnow()
        stale = now - timedelta(seconds=pending_after_s)
        cond = or_(and_(Job.status == PROCESSING, Job.lease_until < now),
                   and_(Job.status == PENDING, or_(Job.enqueued_at.is_(None), Job.enqueued_at < stale)))
        out: list[str] = []
        with self.session() as s:
            candidates = list(s.scalars(select(Job.id).where(cond).order_by(Job.created_at).limit(limit)))
        for job_id in candidates:
            with self.session() as s, s.begin():
                res = s.execute(update(Job).where(Job.id == job_id, cond,
                                                  or_(Job.enqueued_at.is_(None), Job.enqueued_at < now))
                                .values(enqueued_at=now + timedelta(seconds=1)))
                if res.rowcount == 1:
                    out.append(job_id)
        return out

    # --- assets ----------------------------------------------------------------------------------

    def create_asset(self, asset: Asset) -> Asset:
        with self.session() as s, s.begin():
            s.add(asset)
        return asset

    def get_asset(self, asset_id: str, org_id: str) -> Asset | None:
        """The asset, or None when it does not exist or belongs to another organisation.

        The only way to look an asset up: ``org_id`` is required, so no route, job or view can
        resolve an id without saying whose it must be.
        """
        asset = self._asset_cache.get(asset_id)
        if asset is None:
            with self.session() as s:
                asset = s.get(Asset, asset_id)
            if asset is not None:
                if len(self._asset_cache) >= ASSET_CACHE_SIZE:
                    self._asset_cache.clear()
                self._asset_cache[asset_id] = asset
        if asset is None or asset.org_id != org_id:
            return None
        return asset

    def delete_asset(self, asset_id: str, org_id: str) -> None:
        """Forget an asset row (the caller deletes its file): uploads of a refused create."""
        self._asset_cache.pop(asset_id, None)
        with self.session() as s, s.begin():
            s.execute(delete(Asset).where(Asset.id == asset_id, Asset.org_id == org_id))

    def list_assets(self, org_id: str, *, limit: int, offset: int, types: Iterable[str] = (),
                    search: str | None = None, sort_by: str = "dateDesc") -> tuple[list[Asset], int]:
        q = select(Asset).where(Asset.org_id == org_id)
        types = [t.upper() for t in types]
        if types:
            q = q.where(Asset.type.in_(types))
        if search:
            q = q.where(Asset.name.ilike(f"%{search}%"))
        ascending = sort_by.endswith("Asc")
        field = sort_by.removesuffix("Asc").removesuffix("Desc")
        column = {"name": Asset.name, "date": Asset.created_at, "duration": Asset.duration_s,
                  "size": Asset.size, "kind": Asset.type}.get(field, Asset.created_at)
        order = column.asc() if ascending else column.desc()
        with self.session() as s:
            total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
            rows = list(s.scalars(q.order_by(order, Asset.id).offset(offset).limit(limit)))
        return rows, total

    # --- batches ---------------------------------------------------------------------------------

    def create_batch(self, *, org_id: str, api_key_id: str, webhook_url: str | None,
                     requests: list[tuple[str, dict[str, Any]]],
                     max_active: int | None = None) -> tuple[Batch, list[str]]:
        """A batch and one PENDING job per ``(request_id, normalised generate body)``, in one transaction.

        All or nothing: an :class:`UnknownAsset` in any line, or a :class:`QueueFull`, stores none.
        """
        batch = Batch(id=new_id(), org_id=org_id, webhook_url=webhook_url, total=len(requests))
        job_ids: list[str] = []
        with self.session() as s, s.begin():
            self._lock_org(s, org_id)
            s.add(batch)
            for request_id, body in requests:
                job = self._add_job(s, org_id=org_id, api_key_id=api_key_id, batch_id=batch.id,
                                    request_id=request_id, **body)
                job_ids.append(job.id)
            self._admit(s, org_id, max_active)
        return batch, job_ids

    def get_batch(self, batch_id: str, org_id: str | None = None) -> Batch | None:
        with self.session() as s:
            batch = s.get(Batch, batch_id)
        if batch is None or (org_id is not None and batch.org_id != org_id):
            return None
        return batch

    def list_batches(self, org_id: str, *, created_after: datetime | None = None,
                     created_before: datetime | None = None) -> list[Batch]:
        q = select(Batch).where(Batch.org_id == org_id)
        if created_after:
            q = q.where(Batch.created_at >= created_after)
        if created_before:
            q = q.where(Batch.created_at <= created_before)
        with self.session() as s:
            return list(s.scalars(q.order_by(Batch.created_at.desc())))

    def batch_jobs(self, batch_id: str) -> list[Job]:
        with self.session() as s:
            return list(s.scalars(select(Job).where(Job.batch_id == batch_id).order_by(Job.created_at, Job.id)))

    def mark_batch_notified(self, batch_id: str) -> bool:
        """Claim the one-time batch webhook; True for exactly one caller."""
        with self.session() as s, s.begin():
            res = s.execute(update(Batch).where(Batch.id == batch_id, Batch.notified.is_(False))
                            .values(notified=True))
            return res.rowcount == 1

    # --- webhooks --------------------------------------------------------------------------------

    def enqueue_webhook(self, *, org_id: str, url: str, payload: str, job_id: str | None = None,
                        batch_id: str | None = None) -> str:
        row = WebhookDelivery(id=new_id(), org_id=org_id, url=url, payload=payload, job_id=job_id,
                              batch_id=batch_id, state="pending", attempts=0, next_attempt_at=utcnow(), log=[])
        with self.session() as s, s.begin():
            s.add(row)
        return row.id

    def claim_due_webhooks(self, hold_s: float, limit: int = 32) -> list[WebhookDelivery]:
        """Pending deliveries whose time has come, each held for ``hold_s`` so only one process sends it."""
        now = utcnow()
        out: list[WebhookDelivery] = []
        with self.session() as s:
            ids = list(s.scalars(select(WebhookDelivery.id).where(
                WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at).limit(limit)))
        for wid in ids:
            with self.session() as s, s.begin():
                res = s.execute(update(WebhookDelivery).where(
                    WebhookDelivery.id == wid, WebhookDelivery.state == "pending",
                    WebhookDelivery.next_attempt_at <= now)
                    .values(next_attempt_at=now + timedelta(seconds=hold_s)))
                if res.rowcount == 1:
                    row = s.get(WebhookDelivery, wid)
                    if row is not None:
                        out.append(row)
        return out

    def record_webhook_attempt(self, delivery_id: str, *, ok: bool, status_code: int | None, error: str | None,
                               max_attempts: int, backoff_s: float) -> None:
        now = utcnow()
        with self.session() as s, s.begin():
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

    def missing_webhooks(self, grace_s: float, window_s: float = 24 * 3600.0) -> list[str]:
        """Ended jobs with a webhook URL but no delivery row: their finisher died before queueing it."""
        now = utcnow()
        has_row = select(WebhookDelivery.id).where(WebhookDelivery.job_id == Job.id).exists()
        with self.session() as s:
            return list(s.scalars(select(Job.id).where(
                Job.status.in_(list(TERMINAL)), Job.webhook_url.is_not(None),
                Job.finished_at < now - timedelta(seconds=grace_s),
                Job.finished_at > now - timedelta(seconds=window_s), ~has_row).limit(100)))

    def webhook_deliveries(self, job_id: str) -> list[WebhookDelivery]:
        with self.session() as s:
            return list(s.scalars(select(WebhookDelivery).where(WebhookDelivery.job_id == job_id)))
