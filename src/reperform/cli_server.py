"""Service commands: ``serve``, ``worker`` and ``keys create|list|revoke``.

Mounted into the main CLI by ``reperform.cli``; also runnable on its own as
``python -m reperform.cli_server ...``. Each command builds :class:`~reperform.settings.Settings`
from ``REPERFORM_*`` variables plus its flags (flags win) and passes them down.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from .settings import Settings

app = typer.Typer(help="Run the sync v2–compatible server and its workers.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="folder for the database and files [REPERFORM_DATA_DIR]")]
DatabaseUrl = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL (default: SQLite in the data dir)")]


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")


def serve(
    host: Annotated[str | None, typer.Option(help="interface to listen on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8000)")] = None,
    workers: Annotated[int | None, typer.Option(help="jobs run at once by the embedded pool; 0 = API only")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    storage_url: Annotated[str | None, typer.Option(help="fsspec URL for files (default: data dir)")] = None,
    queue: Annotated[str | None, typer.Option(help="embedded (default) or celery")] = None,
    redis_url: Annotated[str | None, typer.Option(help="Redis broker URL for --queue celery")] = None,
    public_url: Annotated[str | None, typer.Option(help="base URL clients use to reach this server")] = None,
    allow_private_urls: Annotated[bool | None, typer.Option(
        "--allow-private-urls/--no-allow-private-urls",
        help="allow media and webhook URLs on loopback/private networks")] = None,
    rate_limit: Annotated[int | None, typer.Option(help="creates per key per minute (0 = off)")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
) -> None:
    """Serve the /v2 API (and the Studio at /studio)."""
    import uvicorn

    from .server.app import create_app

    _logging(log_level)
    settings = _settings(host=host, port=port, workers=workers, data_dir=data_dir, database_url=database_url,
                         storage_url=storage_url, queue=queue, redis_url=redis_url, public_url=public_url,
                         allow_private_urls=allow_private_urls, rate_limit_create_per_min=rate_limit)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=log_level.lower(),
                access_log=log_level.lower() == "debug")


def worker(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    storage_url: Annotated[str | None, typer.Option(help="fsspec URL for files (must match the server's)")] = None,
    redis_url: Annotated[str | None, typer.Option(help="Redis broker URL [REPERFORM_REDIS_URL]")] = None,
    concurrency: Annotated[int, typer.Option(help="jobs this worker runs at once")] = 1,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork (isolated processes), threads or solo")] = "prefork",
    allow_private_urls: Annotated[bool | None, typer.Option(
        "--allow-private-urls/--no-allow-private-urls",
        help="allow media and webhook URLs on loopback/private networks (workers do the fetching)")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
) -> None:
    """Run a Celery worker that executes jobs queued by `serve --queue celery`."""
    from celery import signals

    from .jobs.maintenance import Maintenance
    from .jobs.store import JobStore
    from .jobs.tasks import chunk_sender, job_sender, make_celery

    _logging(log_level)
    settings = _settings(data_dir=data_dir, database_url=database_url, storage_url=storage_url,
                         redis_url=redis_url, queue="celery", allow_private_urls=allow_private_urls)
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    celery_app = make_celery(settings)
    holder: dict[str, Maintenance] = {}

    @signals.worker_ready.connect(weak=False)
    def _start_maintenance(**_: Any) -> None:
        # Started once the pool has forked, so no child inherits the thread's half-held locks.
        store = JobStore(settings.db_url)
        holder["m"] = Maintenance(settings, store, job_sender(celery_app), chunk_sender(celery_app))
        holder["m"].requeue_once()
        holder["m"].start()

    name = f"reperform-{os.getpid()}@{socket.gethostname()}"
    celery_app.worker_main(["worker", f"--concurrency={concurrency}", f"--pool={pool}", f"--loglevel={log_level.upper()}",
                            "--without-gossip", "--without-mingle", f"--hostname={name}"])


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="a label for the key")] = "default",
    org: Annotated[str | None, typer.Option(help="add the key to this organisation id (default: a new one)")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Make an API key. It is printed once; only its hash is stored."""
    from .jobs.store import JobStore

    settings = _settings(data_dir=data_dir, database_url=database_url)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    store = JobStore(settings.db_url)
    try:
        new = store.keys.create(name, org)
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    typer.echo(new.secret)
    typer.echo(f"key id: {new.key_id} (for `reperform keys revoke`)", err=True)
    typer.echo(f"organisation: {new.org_id}", err=True)
    typer.echo(f"webhook signing secret: {new.webhook_secret}", err=True)
    typer.echo("store the key now: it cannot be shown again", err=True)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List the keys: id, printed prefix, name, organisation, created, revoked. Secrets are not stored."""
    from .jobs.store import JobStore

    store = JobStore(_settings(data_dir=data_dir, database_url=database_url).db_url)
    try:
        for k in store.keys.list():
            typer.echo(f"{k.id}  {k.prefix}…  {k.name!r}  org {k.org_id}  {k.created_at:%Y-%m-%d %H:%M}"
                       f"{'  REVOKED' if k.revoked else ''}")
    finally:
        store.close()


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="the key id, the key itself, or its printed prefix (rp_xxxxx)")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: requests with it get 401 (running servers notice within 10 s)."""
    from .jobs.store import AUTH_CACHE_S, JobStore

    store = JobStore(_settings(data_dir=data_dir, database_url=database_url).db_url)
    try:
        revoked = store.keys.revoke(key)
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    typer.echo(f"revoked key {revoked.id} ({revoked.prefix}…, {revoked.name!r}); running servers refuse it "
               f"within {AUTH_CACHE_S:.0f} s", err=True)


app.command()(serve)
app.command()(worker)


def register(parent: typer.Typer) -> None:
    """Mount ``serve``, ``worker`` and ``keys`` on the main ``reperform`` CLI."""
    parent.command()(serve)
    parent.command()(worker)
    parent.add_typer(keys_app, name="keys")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
