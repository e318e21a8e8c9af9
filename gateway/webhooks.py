"""Status webhooks: signed POSTs to a message's ``callback_url``.

One call is one attempt; the event outbox keeps the event and calls again
after :func:`retry_delay` until it is delivered or :data:`MAX_ATTEMPTS` are
spent, so retries survive a restart of the daemon.

Signature: ``X-Smsgw-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` where
the HMAC, keyed with the account's webhook secret, covers ``"<t>." + body``.
A receiver recomputes it, compares in constant time (:func:`verify`) and
refuses timestamps older than a few minutes (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass

import aiohttp

SIGNATURE_HEADER = "X-Smsgw-Signature"
MAX_ATTEMPTS = 12  # about 4 hours of back-off in all
USER_AGENT = "smsgw-webhook/1"

# answers that will not change if we try again
_PERMANENT = frozenset({400, 401, 403, 404, 405, 410, 413, 415, 422})


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    delivered: bool
    permanent: bool = False  # do not try again
    status: int | None = None  # HTTP status, None when no answer
    error: str | None = None


def sign(body: bytes, secret: bytes, timestamp: int) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(header: str, body: bytes, secret: bytes, *, now: float, tolerance: float = 300) -> bool:
    """Check a signature header as a receiver would (used by tests and documented for users)."""
    try:
        fields = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(body, secret, timestamp).rsplit("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def retry_delay(attempts: int, *, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempts + 1``: 5 s doubling to 1 h, with jitter."""
    base = min(5.0 * 2.0 ** min(max(attempts - 1, 0), 16), 3600.0)
    jitter: float = (rng or random.Random()).random()
    return base * (0.5 + jitter / 2)


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    secret: bytes,
    now: float,
    timeout: float = 10.0,
) -> Attempt:
    """One delivery attempt; never raises for network or HTTP trouble."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(body, secret, int(now)),
    }
    try:
        async with session.post(
            url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as response:
            status = response.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Attempt(delivered=False, error=type(exc).__name__ + (f": {exc}" if str(exc) else ""))
    if 200 <= status < 300:
        return Attempt(delivered=True, status=status)
    return Attempt(delivered=False, permanent=status in _PERMANENT, status=status,
                   error=f"HTTP {status}")
