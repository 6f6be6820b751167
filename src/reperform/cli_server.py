"""Service commands: ``serve``, ``studio``, ``worker`` and ``keys create|list|revoke``.

Mounted into the main CLI by ``reperform.cli``; also runnable on its own as
``python -m reperform.cli_server ...``. Each command builds :class:`~reperform.settings.Settings`
from ``REPERFORM_*`` variables plus its flags (flags win) and passes them down.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
import webbrowser
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


#: Name of the keys ``reperform studio`` makes; later runs reuse their organisation (same history).
STUDIO_KEY_NAME = "studio"


def user_data_dir(env: dict[str, str] | None = None, platform: str = sys.platform) -> Path:
    """Where ``reperform studio`` keeps its data when nothing is configured: the platform's per-user
    data folder (XDG on Linux), so a laptop user's uploads and history survive from run to run
    without a ``reperform-data`` folder appearing in whatever directory they started from."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    if platform == "darwin":
        return home / "Library" / "Application Support" / "reperform"
    if platform.startswith("win"):
        return Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local") / "reperform"
    return Path(env.get("XDG_DATA_HOME") or home / ".local" / "share") / "reperform"


def is_loopback(host: str) -> bool:
    """True when only this machine can reach ``host`` (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything, so treat it as reachable from outside


def studio_address(host: str, port: int, key: str) -> str:
    """The Studio's address; on loopback it carries ``key`` in the fragment, which browsers never
    send to the server (not in requests, logs or Referer headers) and the page removes at once.
    A server other machines can reach gets no key in its address: whoever opens it pastes one."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    url = f"http://{shown}:{port}/studio/"
    return f"{url}#key={key}" if is_loopback(host) else url


def _studio_key(settings: Settings) -> tuple[str, str]:
    """A new key for this run (secret, key id), in the organisation of earlier Studio runs if any."""
    from .jobs.store import JobStore

    store = JobStore(settings.db_url)
    try:
        earlier = [k for k in store.keys.list() if k.name == STUDIO_KEY_NAME]
        org = max(earlier, key=lambda k: k.created_at).org_id if earlier else None
        new = store.keys.create(STUDIO_KEY_NAME, org)
        return new.secret, new.key_id
    finally:
        store.close()


def _revoke(settings: Settings, key_id: str) -> None:
    from .jobs.store import JobStore

    store = JobStore(settings.db_url)
    try:
        store.keys.revoke(key_id)
    finally:
        store.close()


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so ``--port 0`` gets a free port whose number we know."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    return sock


def studio(
    host: Annotated[str, typer.Option(help="interface to listen on; anything but loopback makes users paste a key")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port)")] = 0,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="folder for the database and files [REPERFORM_DATA_DIR; default: your user data folder]")]
    = None,
    workers: Annotated[int, typer.Option(help="jobs run at once")] = 1,
    browser: Annotated[bool, typer.Option("--browser/--no-browser", help="open the Studio in a web browser")] = True,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "warning",
) -> None:
    """Start a private server and open the Studio, signed in with a key made for this run."""
    import uvicorn

    from .server.app import create_app

    _logging(log_level)
    folder = data_dir or Path(os.environ.get("REPERFORM_DATA_DIR") or user_data_dir())
    sock = _listen(host, port)
    bound = int(sock.getsockname()[1])
    settings = _settings(host=host, port=bound, data_dir=folder, workers=workers, queue="embedded")
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret, key_id = _studio_key(settings)
    url = studio_address(host, bound, secret)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level=log_level.lower(),
                                         access_log=log_level.lower() == "debug"))
    threading.Thread(target=_announce, args=(server, url, secret, browser), daemon=True).start()
    # uvicorn re-raises the SIGTERM that stopped it once it has shut down; raised as SystemExit
    # rather than the default (die at once), it lets the key be revoked below.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        _revoke(settings, key_id)  # the key was for this run only: a copy left in a browser stops working


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _announce(server: object, url: str, key: str, open_browser: bool) -> None:
    """Once the server answers: print where the Studio is (stdout, never the log) and open it."""
    while not getattr(server, "started", False):
        if getattr(server, "should_exit", False):
            return
        threading.Event().wait(0.05)  # uvicorn offers no readiness callback to wait on instead
    print(f"reperform Studio: {url}", flush=True)
    if "#key=" not in url:
        print(f"This server can be reached from other machines, so the key is not in the address: paste "
              f"{key} into the Studio (it stops working when this command ends).", flush=True)
    if open_browser and not webbrowser.open(url):
        print("No web browser could be opened: open the address above yourself.", flush=True)
    print("Press Ctrl+C to stop.", flush=True)


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
app.command()(studio)
app.command()(worker)


def register(parent: typer.Typer) -> None:
    """Mount ``serve``, ``studio``, ``worker`` and ``keys`` on the main ``reperform`` CLI."""
    parent.command()(serve)
    parent.command()(studio)
    parent.command()(worker)
    parent.add_typer(keys_app, name="keys")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
