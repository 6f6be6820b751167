"""Outbound HTTP — media downloads, cost-estimate probes, webhooks — that cannot be turned against us.

Three rules hold for every request that leaves the service:

- **Public addresses only.** We resolve the host ourselves; unless the operator allows private
  addresses (``--allow-private-urls``), every address it resolves to must be globally routable
  unicast (:func:`is_public`). Refusals name the host, never the address it resolved to, so the
  API is not an oracle for the internal DNS.
- **Connect to the address that was checked.** The request goes to that IP (the URL's host is
  replaced; the ``Host`` header and TLS's SNI and certificate check keep the name), so a second,
  different DNS answer cannot send it elsewhere (DNS rebinding). Redirects are followed by hand
  and every hop is resolved, checked and pinned again.
- **One wall-clock deadline per request** covering resolution, connect, response headers and
  body. httpx's timeouts are per read, so a peer that trickles a byte every few seconds would
  never trip them; ``asyncio.timeout`` cancels the whole exchange wherever it is waiting.

The work is asynchronous, so the server can run cost-estimate downloads on its event loop
without holding a request thread; workers call the blocking :func:`fetch` wrapper.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import os
import socket
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx

from ..errors import InputError
from .errors import UrlNotAllowed, VideoInaccessible

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Redirect hops followed before giving up (browsers use ~20; media hosts need one or two).
MAX_REDIRECTS = 5
#: Threads for DNS lookups (getaddrinfo blocks). Our own pool, not the event loop's default one:
#: a lookup abandoned at its deadline must not make ``asyncio.run`` wait for it on the way out.
DNS_THREADS = 16

#: Downloads ask for the bytes as stored: the limit then counts what lands on disk, and no
#: compressed response can expand past it in memory.
IDENTITY = {"Accept-Encoding": "identity"}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: IPv6 ranges Python calls global that can still lead inside: 6to4 (relays to any embedded IPv4),
#: deprecated site-local, local-use NAT64 (RFC 8215) and deprecated IPv4-compatible addresses.
_NOT_PUBLIC_V6 = tuple(ipaddress.ip_network(n) for n in ("2002::/16", "fec0::/10", "64:ff9b:1::/48", "::/96"))
#: Well-known NAT64 prefix: reaches the IPv4 address in its last 32 bits, which must be public itself.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses.

    ``is_global`` (not merely "not private") is the test: it also excludes carrier-grade NAT
    (100.64.0.0/10, where some clouds put their metadata service), reserved, documentation and
    benchmarking ranges. IPv6 forms that embed an IPv4 address are judged by that address.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public(ip.ipv4_mapped)
        if ip in _NAT64:
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
        if any(ip in net for net in _NOT_PUBLIC_V6):
            return False
    return ip.is_global and not ip.is_multicast


_dns_pool: tuple[int, ThreadPoolExecutor] | None = None


def _dns_executor() -> ThreadPoolExecutor:
    """The lookup pool of this process (made after a fork, never inherited from the parent)."""
    global _dns_pool
    if _dns_pool is None or _dns_pool[0] != os.getpid():
        _dns_pool = (os.getpid(), ThreadPoolExecutor(DNS_THREADS, thread_name_prefix="dns"))
    return _dns_pool[1]


async def _resolve(host: str, port: int) -> list[IPAddress]:
    with contextlib.suppress(ValueError):
        return [ipaddress.ip_address(host)]
    loop = asyncio.get_running_loop()
    lookup = functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = await loop.run_in_executor(_dns_executor(), lookup)
    except OSError as exc:
        raise UrlNotAllowed(f"cannot resolve {host}: {exc.strerror or exc}") from None
    ips = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not ips:
        raise UrlNotAllowed(f"cannot resolve {host}")
    return ips


@dataclass(frozen=True, slots=True)
class Target:
    """Where one request goes: the URL with a checked IP as its host (one per address the name
    resolved to, in the resolver's order of preference), and the name it stands for."""

    urls: tuple[httpx.URL, ...]
    host_header: str
    sni_hostname: str | None


async def pin(url: str, *, allow_private: bool) -> Target:
    """Resolve and check ``url``'s host once; the returned target connects to that very address."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise UrlNotAllowed(f"not a valid URL: {url[:200]}") from None
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise UrlNotAllowed(f"not an http(s) URL: {url[:200]}")
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded: what DNS and TLS see
    ips = await _resolve(host, parsed.port or (443 if parsed.scheme == "https" else 80))
    if not allow_private and not all(is_public(ip) for ip in ips):
        raise UrlNotAllowed(f"{parsed.host} resolves to a non-public address; refused")
    shown = f"[{host}]" if ":" in host else host
    return Target(urls=tuple(parsed.copy_with(host=str(ip)) for ip in dict.fromkeys(ips)),
                  host_header=shown + (f":{parsed.port}" if parsed.port else ""),
                  sni_hostname=host if parsed.scheme == "https" else None)


@contextlib.asynccontextmanager
async def open_url(method: str, url: str, *, allow_private: bool, timeout_s: float,
                   headers: dict[str, str] | None = None, content: bytes | None = None,
                   ) -> AsyncIterator[httpx.Response]:
    """One checked, pinned request (no redirects followed); the response body is left to stream.

    The caller wraps this in its deadline. A fresh client per request: a pooled connection made
    for one name must never carry a request for another name that happens to share its address.
    ``trust_env`` is off: an environment proxy would make the pinning (and the check) moot.
    """
    target = await pin(url, allow_private=allow_private)
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, trust_env=False) as client:
        for n, pinned in enumerate(target.urls, 1):
            request = client.build_request(method, pinned, content=content, extensions=extensions,
                                           headers={**(headers or {}), "Host": target.host_header})
            try:
                response = await client.send(request, stream=True)
            except httpx.ConnectError:
                if n == len(target.urls):
                    raise
                continue  # that address is unreachable (say, IPv6 without a route): try the next checked one
            try:
                yield response
            finally:
                await response.aclose()
            return


def describe(exc: httpx.HTTPError) -> str:
    """A one-line account of a transport failure (the message is kept: it holds no address of ours)."""
    text = str(exc)
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


async def fetch_async(url: str, dest: Path, *, max_bytes: int, timeout_s: float, allow_private: bool,
                      error: type[InputError] = VideoInaccessible) -> Path:
    """Download ``url`` into ``dest`` within ``timeout_s`` of wall time and ``max_bytes``.

    Raises ``error`` (an :class:`InputError`) with a human message on any failure; a partial
    download never appears under ``dest``.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        async with asyncio.timeout(timeout_s):
            current = url
            for _ in range(MAX_REDIRECTS + 1):
                async with open_url("GET", current, allow_private=allow_private, timeout_s=timeout_s,
                                    headers=IDENTITY) as resp:
                    if resp.is_redirect and "location" in resp.headers:
                        current = urljoin(current, resp.headers["location"])
                        continue
                    if resp.status_code != 200:
                        raise error(f"fetching {url[:200]} failed: HTTP {resp.status_code}")
                    declared = resp.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise error(f"{url[:200]} is {declared} bytes, over the limit of {max_bytes}")
                    size = 0
                    with part.open("wb") as fh:
                        async for chunk in resp.aiter_raw():
                            size += len(chunk)
                            if size > max_bytes:
                                raise error(f"{url[:200]} is over the limit of {max_bytes} bytes")
                            fh.write(chunk)
                    if size == 0:
                        raise error(f"{url[:200]} returned an empty body")
                    part.replace(dest)
                    return dest
            raise error(f"{url[:200]}: too many redirects")
    except TimeoutError:
        raise error(f"fetching {url[:200]} took longer than {timeout_s:g} s") from None
    except UrlNotAllowed as exc:
        raise error(exc.message) from None
    except httpx.HTTPError as exc:
        raise error(f"fetching {url[:200]} failed: {describe(exc)}") from None
    finally:
        part.unlink(missing_ok=True)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, also from a thread whose event loop is already running (a sync API built
    on one, such as Playwright's, or a blocking call made from async code): the coroutine then
    gets a loop on a thread of its own, since a running loop cannot be re-entered."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1, thread_name_prefix="fetch") as pool:
        return pool.submit(asyncio.run, coro).result()


def fetch(url: str, dest: Path, *, max_bytes: int, timeout_s: float, allow_private: bool,
          error: type[InputError] = VideoInaccessible) -> Path:
    """Blocking :func:`fetch_async`, for job workers."""
    return _run(fetch_async(url, dest, max_bytes=max_bytes, timeout_s=timeout_s, allow_private=allow_private,
                            error=error))


def check_url(url: str, *, allow_private: bool) -> Target:
    """Where a request to ``url`` would connect; raises :class:`UrlNotAllowed` unless it is http(s)
    to a host we may contact."""
    return _run(pin(url, allow_private=allow_private))
