"""Outbound requests (issue 13): public addresses only, refusals that name no address, the
connection pinned to the checked address, and one wall-clock deadline per download. Each test
failed on bd9a033."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from reperform_harness import FileHost, SlowHost

from reperform.protocol import fetch as fetch_mod
from reperform.protocol.errors import UrlNotAllowed, VideoInaccessible
from reperform.protocol.fetch import check_url, fetch, is_public

# --- 8. public addresses only, no oracle, pinned connections -----------------------------------

@pytest.mark.parametrize("address", ["100.64.0.1", "100.100.100.200", "2002:7f00:1::1", "2002:a00:1::1",
                                     "fec0::1", "64:ff9b::7f00:1", "64:ff9b:1::a00:1", "::7f00:1", "192.0.2.1",
                                     "198.18.0.1", "224.0.0.1", "ff0e::1", "::ffff:10.0.0.1"])
def test_addresses_that_are_not_globally_routable_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(UrlNotAllowed):
        check_url(f"http://{host}/x", allow_private=False)


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700::1111", "64:ff9b::5db8:d822"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_a_refusal_names_the_host_but_not_the_address_it_resolved_to() -> None:
    with pytest.raises(UrlNotAllowed) as err:
        check_url("http://localhost:8080/x", allow_private=False)
    assert "localhost" in err.value.message and "127.0.0.1" not in err.value.message
    assert "::1" not in err.value.message


def test_the_connection_goes_to_the_address_that_was_checked_not_a_second_dns_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = FileHost()
    host.files["ten_kb.bin"] = b"x" * 10_000
    real = socket.getaddrinfo
    answers = ["127.0.0.1", "127.0.0.2"]  # the second lookup "rebinds" to an address nothing listens on
    lookups: list[str] = []

    def rebinding(name: str, port: object, *args: object, **kwargs: object) -> list:
        if name != "rebind.test":
            return real(name, port, *args, **kwargs)  # type: ignore[arg-type]
        ip = answers[min(len(lookups), 1)]
        lookups.append(ip)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, int(port)))]  # type: ignore[call-overload]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    # The policy under test treats the first answer as public and the rebound one as private.
    monkeypatch.setattr(fetch_mod, "is_public", lambda ip: str(ip) == "127.0.0.1")
    try:
        out = fetch(f"http://rebind.test:{host.port}/ten_kb.bin", tmp_path / "v", max_bytes=20_000, timeout_s=20,
                    allow_private=False)
    finally:
        host.close()
    assert out.read_bytes() == b"x" * 10_000
    assert lookups == ["127.0.0.1"]  # resolved once, and that answer was used


# --- 2. the fetch deadline covers headers, not just the gaps between body chunks ----------------

def test_a_download_whose_headers_trickle_in_ends_at_the_deadline(tmp_path: Path) -> None:
    slow = SlowHost(interval_s=0.5)  # every read completes well within any per-read timeout
    outcome: list[BaseException | Path] = []

    def run() -> None:
        try:
            outcome.append(fetch(slow.url(), tmp_path / "v", max_bytes=1000, timeout_s=2, allow_private=True))
        except BaseException as exc:  # noqa: BLE001 - asserted on below
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    slow.close()
    assert outcome, "the download was still running long after its deadline"
    assert isinstance(outcome[0], VideoInaccessible) and "took longer than 2 s" in outcome[0].message
    assert list(tmp_path.iterdir()) == []


def test_when_a_checked_address_is_unreachable_the_next_checked_one_is_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = FileHost()
    host.files["ten_kb.bin"] = b"x" * 10_000
    real = socket.getaddrinfo

    def two_answers(name: str, port: object, *args: object, **kwargs: object) -> list:
        if name != "two.test":
            return real(name, port, *args, **kwargs)  # type: ignore[arg-type]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, int(port)))  # type: ignore[call-overload]
                for ip in ("127.0.0.2", "127.0.0.1")]  # nothing listens on the first

    monkeypatch.setattr(socket, "getaddrinfo", two_answers)
    try:
        out = fetch(f"http://two.test:{host.port}/ten_kb.bin", tmp_path / "v", max_bytes=20_000, timeout_s=20,
                    allow_private=True)
    finally:
        host.close()
    assert out.read_bytes() == b"x" * 10_000


def test_the_blocking_helpers_work_on_a_thread_whose_event_loop_is_running(tmp_path: Path) -> None:
    """As under Playwright's sync API (the browser tests), or a blocking call made from async code."""
    host = FileHost()
    host.files["ten_kb.bin"] = b"x" * 10_000

    async def inside_a_loop() -> Path:
        with pytest.raises(UrlNotAllowed):
            check_url("http://10.0.0.1/x", allow_private=False)
        return fetch(host.url("ten_kb.bin"), tmp_path / "v", max_bytes=20_000, timeout_s=20, allow_private=True)

    try:  # on a thread of its own: this test's thread may have a running loop already (Playwright's)
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(asyncio.run, inside_a_loop()).result().read_bytes() == b"x" * 10_000
    finally:
        host.close()
