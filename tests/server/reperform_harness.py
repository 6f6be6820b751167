"""Real processes for the server tests: the server, Redis, a Celery worker, a loopback file host.

Nothing here is a stand-in: the server is ``python -m reperform.cli_server serve`` on a free
loopback port, Redis is the Debian ``redis-server`` binary, the worker is ``reperform worker``.
Every process is started in its own session so a test can ``kill -9`` it (and its children)
the way a crash would.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
REDIS_SERVER = "/usr/bin/redis-server"
#: How long a test waits for a process to come up or a job to finish before failing.
STARTUP_TIMEOUT_S = 30.0
JOB_TIMEOUT_S = 180.0
#: Small limits for the shared test server, so the limit paths are reachable with the short clips.
UPLOAD_LIMIT_BYTES = 3_000_000
CREATE_LIMIT_PER_MIN = 25


def media_dir() -> Path:
    return Path(os.environ.get("REPERFORM_SHARED_MEDIA") or REPO.parent / "shared" / "media")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy; jobs are asynchronous by design."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def child_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: this checkout's sources, fast leases, no Whisper download."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPERFORM_")}
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update({
        "REPERFORM_LEASE_S": "6",
        "REPERFORM_MAINTENANCE_INTERVAL_S": "0.3",
        "REPERFORM_WEBHOOK_BACKOFF_S": "0.2",
        "REPERFORM_WEBHOOK_TIMEOUT_S": "5",
        "REPERFORM_REQUEUE_PENDING_AFTER_S": "30",
        "REPERFORM_WHISPER_MODEL": "",  # phones without a transcript: quicker, same code path otherwise
    })
    env.update(extra)
    return env


class Hook:
    """What the loopback host received on one webhook path."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = 0  # answer this many deliveries with HTTP 500 first (to exercise retries)
        self.lock = threading.Lock()


class FileHost:
    """A loopback HTTP server: serves media files by name and records webhook POSTs."""

    def __init__(self) -> None:
        self.files: dict[str, Path | bytes] = {}
        self.hooks: dict[str, Hook] = {}
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                name = self.path.split("?", 1)[0].lstrip("/")
                item = host.files.get(name)
                if item is None:
                    self.send_error(404)
                    return
                data = item.read_bytes() if isinstance(item, Path) else item
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                name = self.path.lstrip("/")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook = host.hooks.setdefault(name, Hook())
                with hook.lock:
                    hook.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    failing = len(hook.calls) <= hook.fail_first
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def hook(self, name: str) -> Hook:
        return self.hooks.setdefault(name, Hook())

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class SlowHost:
    """A loopback peer that answers every connection one byte per ``interval_s``, forever.

    It reads the request, then trickles ``HTTP/1.1 200 OK`` and a header line that never ends:
    each read completes within any per-read timeout, so only a wall-clock deadline stops the
    exchange. ``close()`` ends every connection. ``open`` counts connections still held.
    """

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.connections = 0
        self.open = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, name: str = "slow.mp4") -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.open += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                conn.recv(1 << 16)  # the request (headers, and a small body with them)
            text = b"HTTP/1.1 200 OK\r\nX-Slow: "
            n = 0
            while not self.stop.wait(self.interval_s):
                conn.sendall(text[n:n + 1] if n < len(text) else b"a")
                n += 1
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                self.open -= 1

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def stream_request(port: int, path: str, headers: dict[str, str], first: bytes, filler: bytes,
                   total_bytes: int) -> tuple[int | None, bytes, int]:
    """POST a chunked body of ``first`` then ``filler`` repeated up to ``total_bytes``, stopping
    as soon as the server answers; returns ``(status or None, response bytes, body bytes sent)``.

    Raw sockets on purpose: HTTP clients finish sending before they read, which hides whether
    the server stopped reading at its limit or swallowed the whole body first.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "127.0.0.1", "Transfer-Encoding": "chunked", **headers}.items())
    sock.sendall(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode())
    sock.setblocking(False)
    sent, pending, data, finished = 0, b"", first, False
    deadline = time.monotonic() + JOB_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [] if finished else [sock], [], 1.0)
            if readable:
                break
            if not writable:
                continue
            if not pending:
                if sent >= total_bytes:
                    pending, finished = b"0\r\n\r\n", True
                else:
                    pending = f"{len(data):x}\r\n".encode() + data + b"\r\n"
                    data = filler
            try:
                n = sock.send(pending)
            except OSError:  # the server closed on us: what it said is still in our receive buffer
                break
            sent, pending = sent + n, pending[n:]
        sock.setblocking(True)
        sock.settimeout(30)
        response = b""
        try:
            while chunk := sock.recv(1 << 16):
                response += chunk
        except OSError:
            pass
    finally:
        sock.close()
    status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None
    return status, response, sent


class Proc:
    """A child process in its own session, with its output in a log file for failure messages."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        fh = self.log.open("ab")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=fh, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=REPO)
        fh.close()

    def kill9(self) -> None:
        """SIGKILL the whole process group, as a crash or an OOM kill of the container would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill9()

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class LiveServer(Proc):
    """``reperform serve`` on a free loopback port, with its own data folder."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        super().__init__([sys.executable, "-m", "reperform.cli_server", "serve", "--host", "127.0.0.1",
                          "--port", str(self.port), "--data-dir", str(data_dir), *args],
                         env or child_env(), data_dir / "server.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        super().start()

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, STARTUP_TIMEOUT_S, "the server to answer /healthz")

    def store(self) -> Any:
        """The server's own database, opened the way an operator's script would."""
        if str(SRC) not in sys.path:
            sys.path.insert(0, str(SRC))
        from reperform.jobs.store import JobStore

        return JobStore(f"sqlite:///{self.data_dir / 'reperform.db'}")

    def make_key(self, name: str = "test") -> str:
        """A new key in a new organisation (the ``keys create`` command itself is tested separately)."""
        store = self.store()
        try:
            return store.keys.create(name).secret
        finally:
            store.close()

    def make_key_with_cli(self, name: str = "test") -> str:
        """A new key made with the real ``keys create`` command, as an operator would."""
        out = subprocess.run([sys.executable, "-m", "reperform.cli_server", "keys", "create", "--name", name,
                              "--data-dir", str(self.data_dir)], env=self.env, capture_output=True, text=True,
                             check=True, cwd=REPO)
        return out.stdout.strip()

    def webhook_secret(self, key: str) -> str:
        """The organisation's webhook secret, read the way an operator would: from the database."""
        store = self.store()
        try:
            api_key = store.keys.authenticate(key)
            assert api_key is not None
            org = store.orgs.get(api_key.org_id)
            assert org is not None
            return org.webhook_secret
        finally:
            store.close()

    def job_row(self, job_id: str) -> Any:
        store = self.store()
        try:
            return store.jobs.get(job_id)
        finally:
            store.close()

    def output_files(self, job_id: str) -> list[str]:
        root = self.data_dir / "files" / "outputs" / job_id
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


class RedisServer(Proc):
    """The Debian ``redis-server`` on a free port, no persistence. Missing binary → a clear failure."""

    def __init__(self, workdir: Path) -> None:
        if not Path(REDIS_SERVER).exists() and shutil.which("redis-server") is None:
            raise AssertionError("redis-server is not installed: run `make setup` (it installs the Debian "
                                 "package redis-server); the Celery tests need a real Redis")
        binary = REDIS_SERVER if Path(REDIS_SERVER).exists() else str(shutil.which("redis-server"))
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", str(workdir)], dict(os.environ), workdir / "redis.log")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        super().start()

        def ready() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_for(ready, STARTUP_TIMEOUT_S, "redis-server to answer PING")


class PostgresServer(Proc):
    """A throwaway PostgreSQL cluster (Debian ``postgresql``) on a free loopback port, in a temp folder.

    PostgreSQL refuses to run as root, so under root it runs as the ``postgres`` system user.
    """

    def __init__(self) -> None:
        bindir = self._bindir()
        self.port = free_port()
        # Its own folder under /tmp: pytest's temp folders are private to root, and postgres is not root.
        workdir = self.workdir = Path(tempfile.mkdtemp(prefix="reperform-pg-"))
        self.data = workdir / "pgdata"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(workdir, "postgres")
        subprocess.run([*self.as_user, str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
        super().__init__([*self.as_user, str(bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                          "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={workdir}",
                          "-c", "fsync=off"], dict(os.environ), workdir / "postgres.log")

    @staticmethod
    def _bindir() -> Path:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if versions:
            return versions[-1].parent
        initdb = shutil.which("initdb")
        if initdb is None:
            raise AssertionError("PostgreSQL is not installed: install the Debian package postgresql "
                                 "(the PostgreSQL tests run the server against a real database)")
        return Path(initdb).resolve().parent

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        super().start()

        def ready() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
            except OSError:
                return False
            import psycopg

            try:
                psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres").close()
                return True
            except psycopg.OperationalError:
                return False

        wait_for(ready, STARTUP_TIMEOUT_S, "PostgreSQL to accept connections")

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class CeleryWorker(Proc):
    """``reperform worker`` (Celery, prefork pool) against a Redis URL and a shared data folder."""

    def __init__(self, data_dir: Path, redis_url: str, env: dict[str, str], name: str = "worker") -> None:
        super().__init__([sys.executable, "-m", "reperform.cli_server", "worker", "--data-dir", str(data_dir),
                          "--redis-url", redis_url, "--concurrency", "1", "--allow-private-urls"], env, data_dir / f"{name}.log")

    def start(self) -> None:
        super().start()
        wait_for(lambda: "ready" in self.tail(200) or self._dead(), STARTUP_TIMEOUT_S, "the Celery worker")
        if self._dead():
            raise AssertionError(f"worker exited:\n{self.tail()}")

    def _dead(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None


def poll_generation(client: Any, gen_id: str, timeout_s: float = JOB_TIMEOUT_S) -> Any:
    """Poll with the SDK until the generation is terminal, the way sync's quickstart does."""
    return wait_for(lambda: (g := client.generations.get(gen_id)).status in ("COMPLETED", "FAILED", "REJECTED")
                    and g, timeout_s, f"generation {gen_id} to finish", interval_s=0.5)


def create_lips_job(client: Any, host: FileHost, name: str = "clip.mp4") -> str:
    """Start a lips-mode generation of the hosted clip ``name`` speaking its own sound; its id.
    The durability and chunk tests need a real job, not a particular one: the cheapest kind."""
    clip = host.url(name)
    return client.generations.create(model="react-1", options={"model_mode": "lips"},
                                     input=[{"type": "video", "url": clip}, {"type": "audio", "url": clip}]).id


def dumps(obj: Any) -> str:
    return json.dumps(obj)
