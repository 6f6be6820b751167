"""``reperform studio``: one command, a private server, and the Studio opened already signed in.

The command runs for real in a subprocess (``--no-browser``); Chromium opens the address it
prints, as a person would after copying it from the terminal.
"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from reperform.cli_server import STUDIO_KEY_NAME, is_loopback, studio_address, user_data_dir

from .conftest import KEY_PATTERN, REPO_ROOT, SERVER_START_TIMEOUT_S

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

UI_TIMEOUT_MS = 20_000
ADDRESS = re.compile(r"reperform Studio: (http://\S+)")


@dataclass
class StudioRun:
    proc: subprocess.Popen[str]
    url: str
    log_path: Path
    data_dir: Path
    stdout: list[str]

    @property
    def key(self) -> str:
        return self.url.split("#key=", 1)[1]

    def stop(self) -> list[str]:
        """End the command as Ctrl+C would (SIGTERM: uvicorn shuts down cleanly); return everything it
        wrote, stdout (where uvicorn's access log goes) and stderr (the log records), line by line."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        return [*self.stdout, *self.log_path.read_text().splitlines(keepends=True)]


def _first_address(proc: subprocess.Popen[str], seen: list[str]) -> str:
    """The address the command prints on stdout, waiting no longer than a server start may take;
    every stdout line (then and later) is appended to ``seen``."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=SERVER_START_TIMEOUT_S)
        except queue.Empty:
            pytest.fail(f"`reperform studio` printed no address in {SERVER_START_TIMEOUT_S:.0f} s: {seen}")
        if match := ADDRESS.search(line):
            return match.group(1)


@contextmanager
def _studio(data_dir: Path, log_path: Path, *args: str) -> Iterator[StudioRun]:
    """``reperform studio --no-browser ARGS`` running until the block ends."""
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reperform.cli", "studio", "--no-browser", "--data-dir", str(data_dir), *args],
            stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO_ROOT,
        )
        run = StudioRun(proc, "", log_path, data_dir, [])
        try:
            run.url = _first_address(proc, run.stdout)
            yield run
        finally:
            run.stop()


@pytest.fixture
def studio_run(tmp_path: Path, output_dir: Path) -> Iterator[StudioRun]:
    with _studio(tmp_path / "data", output_dir / "studio-command.log", "--log-level", "debug") as run:
        yield run


def _studio_keys(data_dir: Path) -> list:
    from reperform.jobs.store import JobStore

    store = JobStore(f"sqlite:///{data_dir / 'reperform.db'}")
    try:
        return [k for k in store.keys.list() if k.name == STUDIO_KEY_NAME]
    finally:
        store.close()


def test_studio_command_opens_the_page_signed_in_and_never_logs_the_key(
    studio_run: StudioRun, desktop_page, output_dir: Path
) -> None:
    page = desktop_page
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/studio/#key=rp_\S+", studio_run.url)
    page.goto(studio_run.url)
    # Signed in without pasting anything: the key checked against /v2/models and the models listed.
    page.wait_for_selector("#key-status.ok", timeout=UI_TIMEOUT_MS)
    assert page.locator("#model option").count() >= 1
    page.wait_for_function("() => document.querySelector('#history-status').textContent !== ''",
                           timeout=UI_TIMEOUT_MS)
    assert "#" not in page.url and studio_run.key not in page.url, "the key must leave the address bar"
    assert page.evaluate("() => localStorage.getItem('reperform.studio.apiKey')") == studio_run.key
    page.screenshot(path=str(output_dir / "40-studio-command.png"))
    # A reload (address now without the key) stays signed in from the page's own storage.
    page.reload()
    page.wait_for_selector("#key-status.ok", timeout=UI_TIMEOUT_MS)
    assert page.console_errors == []

    output = studio_run.stop()
    log = "".join(line for line in output if not ADDRESS.search(line))
    assert "GET /studio/ HTTP" in log and "GET /v2/models" in log, "the requests were logged (debug level)"
    assert studio_run.key not in log, "the key must be printed once, in the address, and never logged"
    keys = _studio_keys(studio_run.data_dir)
    assert len(keys) == 1 and keys[0].revoked, "the run's key is revoked when the command ends"
    stored = b"".join(f.read_bytes() for f in studio_run.data_dir.rglob("*") if f.is_file())
    assert studio_run.key.encode() not in stored, "only the key's hash is stored"


def test_a_server_other_machines_can_reach_needs_the_key_pasted(tmp_path: Path, output_dir: Path,
                                                                desktop_page) -> None:
    """``--host 0.0.0.0``: the address carries no key, the page asks for one, the printed key works;
    a later run (loopback) signs into the same organisation, so the history carries over."""
    page = desktop_page
    data_dir = tmp_path / "data"
    with _studio(data_dir, output_dir / "studio-command-lan.log", "--host", "0.0.0.0") as run:
        assert "#" not in run.url
        page.goto(run.url)
        expect(page.locator("#key-status")).to_have_text("Enter your API key to start.", timeout=UI_TIMEOUT_MS)
        printed = next(m.group(0) for line in run.stdout if (m := KEY_PATTERN.search(line)))
        page.fill("#api-key", printed)
        page.click("#key-form button[type=submit]")
        page.wait_for_selector("#key-status.ok", timeout=UI_TIMEOUT_MS)
    with _studio(data_dir, output_dir / "studio-command-again.log"):
        pass
    first, second = sorted(_studio_keys(data_dir), key=lambda k: k.created_at)
    assert first.org_id == second.org_id and first.revoked and second.revoked


def test_only_a_loopback_server_puts_the_key_in_the_address() -> None:
    assert studio_address("127.0.0.1", 8123, "rp_x") == "http://127.0.0.1:8123/studio/#key=rp_x"
    assert studio_address("::1", 8123, "rp_x") == "http://[::1]:8123/studio/#key=rp_x"
    for host in ("0.0.0.0", "192.168.1.20", "studio.example.com"):
        assert "rp_x" not in studio_address(host, 8123, "rp_x"), host
        assert not is_loopback(host)
    assert is_loopback("localhost") and is_loopback("127.0.0.2")


def test_studio_data_lives_in_the_users_data_folder_by_default() -> None:
    assert user_data_dir({"HOME": "/home/ann"}, "linux") == Path("/home/ann/.local/share/reperform")
    assert user_data_dir({"HOME": "/home/ann", "XDG_DATA_HOME": "/d"}, "linux") == Path("/d/reperform")
    assert user_data_dir({"HOME": "/Users/ann"}, "darwin") == Path("/Users/ann/Library/Application Support/reperform")
    assert user_data_dir({"HOME": "C:/u", "LOCALAPPDATA": "C:/u/L"}, "win32") == Path("C:/u/L/reperform")
