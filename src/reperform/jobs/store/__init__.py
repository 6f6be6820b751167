"""JobStore: the database behind the service, one repository per resource.

Every state change of a key, organisation, job, asset, batch or webhook goes through here:
``store.keys``, ``store.orgs``, ``store.jobs``, ``store.assets``, ``store.batches``,
``store.webhooks``, ``store.chunks`` (and ``store.meta`` for deployment-wide values). The repositories share one
:class:`Database`; one that needs another's rows is given it (jobs check assets, batches add
jobs), so what depends on what is written in :meth:`JobStore.__init__`.

Exactly-once in effect comes from compare-and-set updates (see :mod:`.jobs`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from .assets import Assets
from .batches import Batches
from .chunks import Chunks
from .database import Database, new_id
from .jobs import Claim, Jobs, QueueFull, UnknownAsset
from .keys import AUTH_CACHE_S, Keys, NewKey, Orgs
from .meta import Meta
from .webhooks import Webhooks

__all__ = ["AUTH_CACHE_S", "Claim", "JobStore", "NewKey", "QueueFull", "UnknownAsset", "new_id"]


class JobStore:
    """The database of one deployment. Thread-safe; one instance per process."""

    def __init__(self, db_url: str) -> None:
        self.db = Database(db_url)
        self.meta = Meta(self.db)
        self.orgs = Orgs(self.db)
        self.keys = Keys(self.db, self.orgs)
        self.assets = Assets(self.db)
        self.jobs = Jobs(self.db, self.orgs, self.assets)
        self.batches = Batches(self.db, self.orgs, self.jobs)
        self.webhooks = Webhooks(self.db)
        self.chunks = Chunks(self.db)

    def session(self) -> Session:
        return self.db.session()

    def close(self) -> None:
        self.db.close()
