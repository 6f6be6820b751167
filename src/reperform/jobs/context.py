"""What running a job needs in one process, built once from :class:`Settings`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..analysis_cache import AnalysisCache
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

    def analysis_cache(self) -> AnalysisCache | None:
        """This machine's cache of analyses (under the data folder), or None when turned off."""
        s = self.settings
        return AnalysisCache(s.data_dir / "analyses", s.analysis_cache_bytes) if s.analysis_cache_bytes else None

    def signer(self) -> UrlSigner:
        """File URLs in payloads point where the server said it is reachable (it records that at start)."""
        base = self.settings.public_url or self.store.meta.get("public_url") or self.settings.base_url
        return UrlSigner(self.store.meta.url_secret(), base, self.settings.output_url_ttl_s)
