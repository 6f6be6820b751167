"""Deployment-wide values shared by the server and its workers through the database."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from ..db import Meta as MetaRow
from .database import Database

log = logging.getLogger(__name__)


class Meta:
    """Named values: the URL-signing secret, the public URL the server advertises to workers."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str, default_factory: Callable[[], str] | None = None) -> str | None:
        """Read a shared value; with ``default_factory`` create it once (first writer wins)."""
        with self._db.session() as s:
            row = s.get(MetaRow, key)
            if row is not None or default_factory is None:
                return row.value if row else None
        try:
            with self._db.session() as s, s.begin():
                s.add(MetaRow(key=key, value=default_factory()))
        except Exception:  # noqa: BLE001 - a concurrent first writer won; read its value
            log.debug("meta %s created concurrently", key)
        with self._db.session() as s:
            row = s.get(MetaRow, key)
            return row.value if row else None

    def set(self, key: str, value: str) -> None:
        with self._db.session() as s, s.begin():
            s.merge(MetaRow(key=key, value=value))

    def url_secret(self) -> str:
        """The secret that signs output URLs, shared through the database by the server and workers."""
        value = self.get("url_secret", lambda: secrets.token_hex(32))
        assert value is not None
        return value
