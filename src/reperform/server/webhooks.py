"""Signed webhook delivery with retries, driven by the ``webhook_deliveries`` outbox table.

A terminal job writes an outbox row in the same process that finished it; a maintenance loop
(in the server and in every Celery worker) sends due rows. Rows survive restarts, each attempt
is logged on the row, and failures back off exponentially until ``webhook_max_attempts``.

Signature (Stripe-style, as sync documents it): ``Sync-Signature: t=<unix>,v1=<hex>`` where the
hex is HMAC-SHA256 over ``"<t>.<raw body>"`` keyed with the organisation's ``whsec_`` secret.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

import httpx

from ..jobs.store import JobStore
from ..settings import Settings
from .fetch import UrlNotAllowed, check_url

log = logging.getLogger(__name__)

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


def send(url: str, body: bytes, secret: str, *, timeout_s: float, allow_private: bool) -> tuple[bool, int | None, str | None]:
    """One delivery attempt: ``(ok, status code, error)``; 2xx counts as delivered."""
    try:
        check_url(url, allow_private=allow_private)
        headers = {"Content-Type": "application/json", "User-Agent": "reperform-webhooks/1",
                   SIGNATURE_HEADER: signature(secret, body, int(time.time()))}
        resp = httpx.post(url, content=body, headers=headers, timeout=timeout_s, follow_redirects=False)
    except UrlNotAllowed as exc:
        return False, None, str(exc)
    except httpx.HTTPError as exc:
        return False, None, f"{exc.__class__.__name__}: {exc}"
    ok = 200 <= resp.status_code < 300
    return ok, resp.status_code, None if ok else f"HTTP {resp.status_code}"


def deliver_due(store: JobStore, settings: Settings) -> int:
    """Send every due outbox row once; returns how many attempts were made."""
    rows = store.claim_due_webhooks(hold_s=settings.webhook_timeout_s * 2)
    for row in rows:
        org = store.org(row.org_id)
        secret = org.webhook_secret if org else ""
        ok, status, error = send(row.url, row.payload.encode(), secret, timeout_s=settings.webhook_timeout_s,
                                 allow_private=settings.allow_private_urls)
        log.info("webhook %s for job %s attempt %d: %s", row.id, row.job_id or row.batch_id, row.attempts + 1,
                 "delivered" if ok else error)
        store.record_webhook_attempt(row.id, ok=ok, status_code=status, error=error,
                                     max_attempts=settings.webhook_max_attempts, backoff_s=settings.webhook_backoff_s)
    return len(rows)
