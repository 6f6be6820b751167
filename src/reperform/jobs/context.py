"""What running a job needs in one process, built once from :class:`Settings`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..protocol.views import UrlSigner
from ..settings import Settings
from ..storage import Storage
from .store import JobStore


@dataclass
class JobContext:
    """The store, the file storage and the settings a worker (or the server's upkeep) works with."""

    settings: Settings
    store: JobStore
    storage: Storage
    #: Sends a chunk id to the queue (Celery workers); None where jobs are not split across workers.
    enqueue_chunk: Callable[[str], None] | None = None

    @classmethod
    def build(cls, settings: Settings) -> JobContext:
        return cls(settings=settings, store=JobStore(settings.db_url), storage=Storage(settings.files_url))

    def signer(self) -> UrlSigner:
        """File URLs in payloads point where the server said it is reachable (it records that at start)."""
        base = self.settings.public_url or self.store.meta.get("public_url") or self.settings.base_url
        return UrlSigner(self.store.meta.url_secret(), base, self.settings.output_url_ttl_s)
