"""The connection every repository of the store shares, and the SQLite file's privacy."""

from __future__ import annotations

import logging
import os
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, make_url, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from ..db import create_tables, make_engine

log = logging.getLogger(__name__)

#: The SQLite database holds the webhook and URL-signing secrets: readable by its owner only.
PRIVATE_FILE_MODE = 0o600


def new_id() -> str:
    return str(uuid.uuid4())


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


class Database:
    """The engine and its sessions; the tables are created on first use of a URL."""

    def __init__(self, db_url: str) -> None:
        if db_url.startswith("sqlite"):
            _private_sqlite_file(db_url)
        self.engine = make_engine(db_url)
        create_tables(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._session()

    def claim_for_resend(self, table: Any, due: ColumnElement[bool], now: datetime, limit: int) -> list[str]:
        """Ids of up to ``limit`` rows of ``table`` (oldest first) that are ``due`` for their broker
        message to be sent again, each marked as sent (``enqueued_at`` just after ``now``).

        Jobs and chunks are re-sent by the same rule: every maintenance loop (one per server
        process) may look at once, so each row is taken by a compare-and-set of its own — ``due``
        still holds and no other loop marked it since ``now`` — and only the loop whose update
        changed the row sends it.
        """
        with self.session() as s:
            candidates = list(s.scalars(select(table.id).where(due).order_by(table.created_at).limit(limit)))
        out: list[str] = []
        for row_id in candidates:
            with self.session() as s, s.begin():
                res = s.execute(update(table).where(table.id == row_id, due,
                                                    or_(table.enqueued_at.is_(None), table.enqueued_at < now))
                                .values(enqueued_at=now + timedelta(seconds=1))
                                .execution_options(synchronize_session=False))
                if res.rowcount == 1:
                    out.append(row_id)
        return out

    def close(self) -> None:
        self.engine.dispose()
