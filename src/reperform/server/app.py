"""``create_app(settings)``: the FastAPI application, its job execution, and the Studio.

Jobs run in the embedded pool (child processes beside the server, no other service needed) or,
with ``queue="celery"``, on Celery workers fed through Redis. Either way the database row is the
truth; the maintenance loop re-sends lost work and delivers webhooks.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..jobs.maintenance import Maintenance
from ..jobs.pool import EmbeddedPool
from ..jobs.store import JobStore
from ..protocol.requests import GenerateBody, GenerateForm
from ..settings import Settings
from ..storage import Storage
from . import errors, openapi
from .bodies import FORM_OVERHEAD_BYTES, BodyLimit
from .deps import ServerState
from .routes import batch, generate, misc

log = logging.getLogger(__name__)

#: Where the Studio's static files live (written by the Studio's own module).
STUDIO_DIR = Path(__file__).resolve().parents[1] / "studio" / "static"


def _advertised_url(settings: Settings) -> str:
    """The URL workers put into webhook payloads when no public URL is configured."""
    if settings.public_url:
        return settings.public_url
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def create_app(settings: Settings) -> FastAPI:
    """Build the app for ``settings``. Nothing happens at import time; state lives on ``app.state``."""
    # A new data folder is private to its owner: it holds the database (secrets) and every upload.
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.db_url)
    state = ServerState(settings=settings, store=store, storage=Storage(settings.files_url),
                        url_secret=store.meta.url_secret())

    pool: EmbeddedPool | None = None
    if settings.queue == "celery":
        from ..jobs.tasks import RUN_JOB, chunk_sender, make_celery

        celery_app = make_celery(settings)

        def enqueue(job_id: str) -> None:
            try:
                celery_app.send_task(RUN_JOB, args=[job_id])
            except Exception:  # broker down: the job stays PENDING and the maintenance loop re-sends it
                log.exception("could not send job %s to the broker; it will be re-sent", job_id)

        state.on_created = enqueue
        maintenance = Maintenance(settings, store, enqueue, chunk_sender(celery_app))
    else:
        pool = EmbeddedPool(settings, store)
        state.on_created = lambda _job_id: pool.wake()
        maintenance = Maintenance(settings, store, None)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        store.meta.set("public_url", _advertised_url(settings))
        if pool is not None:
            pool.start()
        maintenance.start()
        log.info("reperform server ready (%s queue, data in %s)", settings.queue, settings.data_dir)
        try:
            yield
        finally:
            maintenance.stop()
            if pool is not None:
                pool.stop()
            store.close()

    app = FastAPI(
        title="reperform", version=__version__, lifespan=lifespan,
        description="Self-hosted, sync.so v2–compatible API for re-performing faces in video. "
                    "Authenticate with the `x-api-key` header (make one with `reperform keys create`).",
    )
    app.state.reperform = state
    errors.install(app)
    openapi.add_models(app, [GenerateBody, GenerateForm])
    app.add_middleware(BodyLimit, other_bytes=settings.max_json_bytes,
                       multipart_bytes=generate.MAX_CREATE_FILES * settings.max_upload_bytes + FORM_OVERHEAD_BYTES)
    app.include_router(generate.router)
    app.include_router(batch.router)
    app.include_router(misc.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "queue": settings.queue, "version": __version__})

    if STUDIO_DIR.is_dir():
        app.mount("/studio", StaticFiles(directory=STUDIO_DIR, html=True), name="studio")

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/studio/")

    return app
