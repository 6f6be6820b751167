"""Service wiring for the server and the job workers (``REPERFORM_*`` environment variables).

Three objects, three lifetimes: :class:`~reperform.options.GenerateOptions` per request,
:class:`~reperform.config.EngineConfig` per deployment (tuning), and :class:`Settings` for where
the service keeps its data and how it queues work. Only entry points (``reperform serve``,
``reperform worker``, a job child process) build a ``Settings``; everything below receives it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .config import EngineConfig

#: Where data lives when nothing is configured: beside the current directory, visible to the user.
DEFAULT_DATA_DIR = Path("reperform-data")


class Settings(BaseSettings):
    """Everything the service needs to run; every field can be set as ``REPERFORM_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="REPERFORM_", extra="ignore")

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="folder for the SQLite database and stored files")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/reperform.db (PostgreSQL works too)"
    )
    storage_url: str | None = Field(
        None, description="fsspec URL of the file store; default <data_dir>/files (s3://..., gs://... work)"
    )

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(
        None, description="base URL clients reach this server at (for outputUrl); default http://host:port"
    )
    queue: Literal["embedded", "celery"] = Field(
        "embedded", description="embedded: jobs run beside the server; celery: jobs go to Redis"
    )
    redis_url: str = "redis://127.0.0.1:6379/0"
    workers: int = Field(1, ge=0, description="jobs the embedded pool runs at once (0: API only)")

    allow_private_urls: bool = Field(
        False, description="let media and webhook URLs point at loopback/private/link-local addresses"
    )
    analysis_cache_bytes: int = Field(
        2 * 1024**3, ge=0, description="disk kept for analyses of recent inputs, so another emotion or mode on "
                                       "the same upload skips the analysis (0: off)"
    )
    max_upload_bytes: int = Field(200 * 1024 * 1024, ge=1, description="largest uploaded file (413 above)")
    max_json_bytes: int = Field(1024 * 1024, ge=1024, description="largest JSON request body (413 above)")
    max_fetch_bytes: int = Field(500 * 1024 * 1024, ge=1, description="largest media fetched by URL")
    fetch_timeout_s: float = Field(60.0, gt=0, description="whole-download time limit per media URL")

    rate_limit_create_per_min: int = Field(60, ge=0, description="creates per key per minute (0: off)")
    rate_limit_read_per_min: int = Field(600, ge=0, description="other requests per key per minute (0: off)")
    max_active_jobs_per_org: int = Field(
        1000, ge=0, description="queued + running generations an organisation may have (429 above; 0: off)"
    )
    max_estimates_per_org: int = Field(
        4, ge=0, description="cost estimates one organisation may have in flight (429 above; 0: off)"
    )

    lease_s: float = Field(
        60.0, gt=0, description="a job claimed by a worker that stops renewing for this long is re-queued"
    )
    max_attempts: int = Field(3, ge=1, description="attempts a job gets when its workers keep dying")
    requeue_pending_after_s: float = Field(
        120.0, gt=0, description="celery mode: PENDING jobs older than this are re-sent to the broker"
    )
    celery_visibility_timeout_s: float = Field(
        3600.0, gt=0, description="Redis redelivery delay for unacknowledged messages (above the longest job)"
    )
    maintenance_interval_s: float = Field(1.0, gt=0, description="how often leases and webhooks are checked")

    webhook_timeout_s: float = Field(10.0, gt=0)
    webhook_max_attempts: int = Field(5, ge=1)
    webhook_backoff_s: float = Field(2.0, gt=0, description="first retry delay; doubles per attempt")

    output_url_ttl_s: int = Field(7 * 24 * 3600, gt=0, description="lifetime of signed output URLs")

    chunk_s: float = Field(
        30.0, ge=8.0, description="celery mode: a job's output is rendered in chunks of about this many seconds "
                                  "by any free worker when it is at least 1.5 times as long"
    )
    render_workers: int = Field(
        0, ge=0, description="embedded mode: processes (one CPU each) a long job's render is split across "
                             "(0: every CPU the server may use; 1: never split)"
    )

    engine_threads: int = Field(2, ge=1)
    whisper_model: str | None = None

    @model_validator(mode="after")
    def _absolute_data_dir(self) -> Settings:
        # Job child processes and Celery workers may run in another working directory.
        self.data_dir = self.data_dir.expanduser().resolve()
        return self

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'reperform.db'}"

    @property
    def files_url(self) -> str:
        return self.storage_url or str(self.data_dir / "files")

    @property
    def work_dir(self) -> Path:
        """Scratch space for job attempts (downloads, per-attempt outputs)."""
        return self.data_dir / "work"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def engine_config(self) -> EngineConfig:
        return EngineConfig(whisper_model=self.whisper_model, threads=self.engine_threads)
