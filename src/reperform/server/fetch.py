"""Download media named by URL, refusing what could turn the server into a proxy into its own network.

Every hop (redirects are followed by hand) must be http(s) to a host whose addresses are all
public, unless the operator allows private addresses (``--allow-private-urls``). Downloads are
bounded in bytes and in wall time, and land in a ``.part`` file renamed into place.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from ..errors import InputError

log = logging.getLogger(__name__)

#: Redirect hops followed before giving up (browsers use ~20; media hosts need one or two).
MAX_REDIRECTS = 5
#: Per-read and connect timeout; the whole download also has the caller's overall limit.
IO_TIMEOUT_S = 15.0


class UrlNotAllowed(InputError):
    """The URL is malformed, not http(s), or points at a private, loopback or link-local address."""


class VideoInaccessible(InputError):
    """The video URL could not be downloaded."""

    code = "generation_input_video_inaccessible"


class AudioInaccessible(InputError):
    """The audio URL could not be downloaded."""

    code = "generation_input_audio_inaccessible"


def _blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified)


def check_url(url: str, *, allow_private: bool) -> None:
    """Raise :class:`UrlNotAllowed` unless ``url`` is http(s) to a host we may contact."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlNotAllowed(f"not an http(s) URL: {url[:200]}")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UrlNotAllowed(f"cannot resolve {parts.hostname}: {exc}") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if _blocked(ip):
            raise UrlNotAllowed(f"{parts.hostname} resolves to a non-public address ({ip}); refused")


def fetch(url: str, dest: Path, *, max_bytes: int, timeout_s: float, allow_private: bool,
          error: type[InputError] = VideoInaccessible) -> Path:
    """Download ``url`` into ``dest``; raises ``error`` (an InputError) with a human message on failure.

    The residual risk is DNS rebinding between our check and httpx's own lookup; operators who
    need to close it should run workers in a network without access to internal services.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    deadline = time.monotonic() + timeout_s
    timeout = httpx.Timeout(min(IO_TIMEOUT_S, timeout_s))
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            current = url
            for _ in range(MAX_REDIRECTS + 1):
                check_url(current, allow_private=allow_private)
                with client.stream("GET", current) as resp:
                    if resp.is_redirect and "location" in resp.headers:
                        current = urljoin(current, resp.headers["location"])
                        continue
                    if resp.status_code != 200:
                        raise error(f"fetching {url[:200]} failed: HTTP {resp.status_code}")
                    declared = int(resp.headers.get("content-length") or 0)
                    if declared > max_bytes:
                        raise error(f"{url[:200]} is {declared} bytes, over the limit of {max_bytes}")
                    size = 0
                    with part.open("wb") as fh:
                        for chunk in resp.iter_bytes():
                            size += len(chunk)
                            if size > max_bytes:
                                raise error(f"{url[:200]} is over the limit of {max_bytes} bytes")
                            if time.monotonic() > deadline:
                                raise error(f"fetching {url[:200]} took longer than {timeout_s:.0f} s")
                            fh.write(chunk)
                    if size == 0:
                        raise error(f"{url[:200]} returned an empty body")
                    part.replace(dest)
                    return dest
            raise error(f"{url[:200]}: too many redirects")
    except UrlNotAllowed as exc:
        raise error(str(exc)) from None
    except httpx.HTTPError as exc:
        raise error(f"fetching {url[:200]} failed: {exc.__class__.__name__}: {exc}") from None
    finally:
        part.unlink(missing_ok=True)
