"""Fixtures for driving the Studio in Debian's Chromium against a live ``reperform serve``.

Nothing is mocked: the server is the real command in a subprocess with its own temporary data
folder, the key is made with the real ``keys create`` command, and the page talks to the server
exactly as a person's browser would.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

log = logging.getLogger(__name__)

#: Debian's browser; the project setup installs it (``apt-get install chromium``). Never ``playwright install``.
CHROMIUM_PATH = Path("/usr/bin/chromium")

#: Flags for a quiet, offline, container-friendly headless Chromium.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

#: How long the server may take to import the engine and open its port (cold imports of mediapipe/cv2).
SERVER_START_TIMEOUT_S = 60.0

#: Where screenshots and the server log go (gitignored).
OUTPUT_DIR = Path(__file__).resolve().parents[1] / "output" / "browser"

#: A key as ``keys create`` prints it.
KEY_PATTERN = re.compile(r"\brp_[A-Za-z0-9_\-]{16,}")

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LiveServer:
    """A running ``reperform serve``: where it listens and the key made for the tests."""

    base_url: str
    api_key: str
    data_dir: Path

    @property
    def studio_url(self) -> str:
        return f"{self.base_url}/studio/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_env(data_dir: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "REPERFORM_DATA_DIR": str(data_dir),
            "REPERFORM_HOST": "127.0.0.1",
            "REPERFORM_PORT": str(port),
            "REPERFORM_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "REPERFORM_QUEUE": "embedded",
            "REPERFORM_WORKERS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _server_cli() -> list[str]:
    """The command that runs ``serve`` and ``keys``: ``reperform`` itself once it mounts the server
    commands, else the server package's own CLI module (same commands, same options)."""
    from reperform import cli

    names = {c.name or (c.callback.__name__ if c.callback else "") for c in cli.app.registered_commands}
    if "serve" in names:
        return [sys.executable, "-m", "reperform.cli"]
    return [sys.executable, "-m", "reperform.cli_server"]


def _create_key(env: dict[str, str]) -> str:
    """Make an API key with the real CLI (``reperform keys create``) and read it from its output."""
    cmd = [*_server_cli(), "keys", "create", "--name", "browser-tests"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    match = KEY_PATTERN.search(proc.stdout)
    if proc.returncode != 0 or not match:
        pytest.fail(f"could not create an API key with `{' '.join(cmd[1:])}` (exit {proc.returncode}):\n"
                    f"{proc.stdout}\n{proc.stderr}")
    return match.group(0)


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUTPUT_DIR


@pytest.fixture(scope="session")
def shared_media() -> Path:
    root = Path(os.environ.get("REPERFORM_SHARED_MEDIA", REPO_ROOT.parent / "shared" / "media"))
    if not (root / "videos" / "pcavs_00373.mp4").exists():
        pytest.fail(f"shared test media not found at {root} (set REPERFORM_SHARED_MEDIA)")
    return root


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, output_dir: Path) -> Iterator[LiveServer]:
    """``reperform serve`` in a subprocess with a fresh data folder, plus a key made by the CLI.

    Setting ``REPERFORM_BROWSER_BASE_URL`` and ``REPERFORM_BROWSER_API_KEY`` points the tests at a
    server that is already running instead (e.g. a deployment being checked by hand).
    """
    external = os.environ.get("REPERFORM_BROWSER_BASE_URL")
    if external:
        yield LiveServer(base_url=external.rstrip("/"), api_key=os.environ.get("REPERFORM_BROWSER_API_KEY", ""),
                         data_dir=Path())
        return
    data_dir = tmp_path_factory.mktemp("reperform-data")
    port = _free_port()
    env = _server_env(data_dir, port)
    api_key = _create_key(env)
    base_url = f"http://127.0.0.1:{port}"
    log_path = output_dir / "server.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [*_server_cli(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        try:
            _wait_until_listening(proc, base_url, log_path)
            yield LiveServer(base_url=base_url, api_key=api_key, data_dir=data_dir)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


def _wait_until_listening(proc: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    """Poll the studio page until the server answers; fail with its log if it exits first."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`reperform serve` exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            response = httpx.get(f"{base_url}/studio/", timeout=2.0)
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)  # readiness poll of an external process; nothing to wait on instead
    pytest.fail(f"`reperform serve` did not answer within {SERVER_START_TIMEOUT_S:.0f} s:\n"
                f"{log_path.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium through Playwright; a clear failure if it is not installed."""
    if not CHROMIUM_PATH.exists():
        pytest.fail(
            f"{CHROMIUM_PATH} is missing: the browser tests drive Debian's Chromium. "
            "Install it with `make setup` (or `sudo apt-get install chromium`); do not use `playwright install`."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM_PATH), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def desktop_page(browser, output_dir: Path) -> Iterator[object]:
    """A 1280×800 page (the layout's reference size) that accepts downloads and records console errors."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, accept_downloads=True, color_scheme="dark"
    )
    page = context.new_page()
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def phone_page(browser) -> Iterator[object]:
    """A 390×844 touch page, the size of a current mid-range phone."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True,
        color_scheme="dark",
    )
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
