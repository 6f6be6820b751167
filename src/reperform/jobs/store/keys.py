"""Organisations and their API keys.

An organisation owns keys, generations and assets and signs its webhooks with its secret. Keys
are stored only as their SHA-256 (they are 256-bit random, so no slow hash is needed).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..db import ApiKey, Org
from .database import Database, new_id

#: Printed prefix of API keys, so a leaked key is recognisable in logs and secret scanners.
API_KEY_PREFIX = "rp_"
#: How long a verified API key is trusted without asking the database again (every request checks one).
AUTH_CACHE_S = 10.0
#: Entries the key cache holds before it starts over.
AUTH_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly made key; ``secret`` is shown once and never stored."""

    secret: str
    key_id: str
    org_id: str
    webhook_secret: str


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Orgs:
    """Organisations: made with their first key, looked up to sign webhooks, locked to admit jobs."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, org_id: str) -> Org | None:
        with self._db.session() as s:
            return s.get(Org, org_id)

    @staticmethod
    def add(s: Session, name: str) -> Org:
        """A new organisation with its own webhook signing secret, in the caller's transaction."""
        org = Org(id=new_id(), name=name, webhook_secret="whsec_" + secrets.token_hex(24))
        s.add(org)
        s.flush()
        return org

    @staticmethod
    def lock(s: Session, org_id: str) -> None:
        """Serialise one organisation's creates on PostgreSQL (SQLite serialises all writers anyway;
        its dialect drops FOR UPDATE)."""
        s.execute(select(Org.id).where(Org.id == org_id).with_for_update())


class Keys:
    """API keys: made, checked on every request (briefly cached), listed and revoked."""

    def __init__(self, db: Database, orgs: Orgs) -> None:
        self._db, self._orgs = db, orgs
        self._cache: dict[str, tuple[ApiKey, float]] = {}

    def create(self, name: str = "default", org_id: str | None = None) -> NewKey:
        """Make an API key; without ``org_id`` a new organisation is created for it."""
        secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
        with self._db.session() as s, s.begin():
            if org_id is None:
                org = self._orgs.add(s, name)
            else:
                found = s.get(Org, org_id)
                if found is None:
                    raise KeyError(f"no organisation {org_id}")
                org = found
            key = ApiKey(id=new_id(), org_id=org.id, name=name, key_hash=hash_key(secret), prefix=secret[:8])
            s.add(key)
        return NewKey(secret=secret, key_id=key.id, org_id=org.id, webhook_secret=org.webhook_secret)

    def authenticate(self, secret: str) -> ApiKey | None:
        if not secret:
            return None
        digest = hash_key(secret)
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        with self._db.session() as s:
            key = s.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
        if key is None or key.revoked:
            return None
        if len(self._cache) > AUTH_CACHE_SIZE:
            self._cache.clear()
        self._cache[digest] = (key, time.monotonic() + AUTH_CACHE_S)
        return key

    def list(self) -> list[ApiKey]:
        """Every key (hashes only: secrets are never stored), oldest first."""
        with self._db.session() as s:
            return list(s.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))

    def revoke(self, ident: str) -> ApiKey:
        """Revoke one key named by its id, its full secret, or its printed prefix (``rp_xxxxx``).

        Raises ``KeyError`` when nothing or more than one key matches. Other server processes
        stop accepting the key when their authentication cache expires (:data:`AUTH_CACHE_S`).
        """
        cond = or_(ApiKey.id == ident, ApiKey.key_hash == hash_key(ident), ApiKey.prefix == ident)
        with self._db.session() as s, s.begin():
            matches = list(s.scalars(select(ApiKey).where(cond)))
            if not matches:
                raise KeyError(f"no API key matches {ident!r}")
            if len(matches) > 1:
                raise KeyError(f"{ident!r} matches {len(matches)} keys; give the key id instead")
            key = matches[0]
            key.revoked = True
        self._cache.clear()
        return key
