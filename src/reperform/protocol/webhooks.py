"""Webhooks as sync defines them: the ``Sync-Signature`` scheme and one delivery attempt.

Signature (Stripe-style, as sync documents it): ``Sync-Signature: t=<unix>,v1=<hex>`` where the
hex is HMAC-SHA256 over ``"<t>.<raw body>"`` keyed with the organisation's ``whsec_`` secret.
Which deliveries are due, their retries and their log are the job side's business (the outbox
in :mod:`reperform.jobs.outbox`); this module only signs, verifies and sends.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time

import httpx

from .errors import UrlNotAllowed
from .fetch import describe, open_url

SIGNATURE_HEADER = "Sync-Signature"


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Sync-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: float = 300.0) -> bool:
    """Check a ``Sync-Signature`` header (for receivers, and for our own tests)."""
    fields = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - t) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, body, t), header)


async def send_async(url: str, body: bytes, secret: str, *, timeout_s: float,
                     allow_private: bool) -> tuple[bool, int | None, str | None]:
    """One delivery attempt, over within ``timeout_s`` whatever the receiver does: ``(ok, status, error)``.

    2xx counts as delivered. The response body is never read: its status is all we need, and a
    receiver cannot make us download anything.
    """
    headers = {"Content-Type": "application/json", "User-Agent": "reperform-webhooks/1",
               SIGNATURE_HEADER: signature(secret, body, int(time.time()))}
    try:
        async with asyncio.timeout(timeout_s):
            async with open_url("POST", url, allow_private=allow_private, timeout_s=timeout_s,
                                headers=headers, content=body) as resp:
                status = resp.status_code
    except TimeoutError:
        return False, None, f"no answer within {timeout_s:g} s"
    except UrlNotAllowed as exc:
        return False, None, exc.message
    except httpx.HTTPError as exc:
        return False, None, describe(exc)
    ok = 200 <= status < 300
    return ok, status, None if ok else f"HTTP {status}"
