"""Status webhooks: signed POSTs to a message's ``callback_url``.

One call is one attempt; the event outbox keeps the event and calls again
after :func:`retry_delay` until it is delivered or :data:`MAX_ATTEMPTS` are
spent, so retries survive a restart of the daemon.

Attempts are spread over receivers by :class:`HookQueue`: one FIFO per host,
served in turn, with a limit per host and in all, each attempt bounded by
:data:`ATTEMPT_TIMEOUT` (connect, request and answer), so a receiver that
accepts and never answers holds only its own slots, for that long each.

Signature: ``X-Smsgw-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` where
the HMAC, keyed with the account's webhook secret, covers ``"<t>." + body``.
A receiver recomputes it, compares in constant time (:func:`verify`) and
refuses timestamps older than a few minutes (replays).
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import ipaddress
import random
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from gateway.events.callbacks import ONLY_PUBLIC, CallbackPolicy
from gateway.model.records import WebhookEvent

SIGNATURE_HEADER = "X-Smsgw-Signature"
MAX_ATTEMPTS = 12  # about 4 hours of back-off in all
USER_AGENT = "smsgw-webhook/1"
ATTEMPT_TIMEOUT = 10.0  # seconds for one attempt in all: connect, send, the answer
CONNECT_TIMEOUT = 5.0  # of which connecting (TCP and TLS)
CONCURRENCY = 32  # attempts at once, in all
HOST_CONCURRENCY = 4  # attempts at once to one host (scheme, name, port)
HOST_HELD = 100  # due webhooks held in memory per host, waiting for a slot
MAX_HELD = 10_000  # due webhooks held in memory in all
RETRY_MAX = 3600.0  # seconds: the longest back-off between two attempts

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
    base = min(5.0 * 2.0 ** min(max(attempts - 1, 0), 16), RETRY_MAX)  # 2**16 * 5 s > 1 h
    jitter: float = (rng or random.Random()).random()
    return base * (0.5 + jitter / 2)


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    secret: bytes,
    now: float,
    policy: CallbackPolicy,
    timeout: float = ATTEMPT_TIMEOUT,
) -> Attempt:
    """One delivery attempt; never raises for network or HTTP trouble.

    ``url`` is checked against ``policy`` first (it may have been stored before
    the rule, or the rule changed); ``session`` must resolve names with a
    :class:`GuardedResolver` of the same policy (:func:`connector`).
    """
    refused = policy.refusal(url)
    if refused is not None:
        return Attempt(delivered=False, permanent=True, error=f"refused: {refused}")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(body, secret, int(now)),
    }
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout, connect=min(CONNECT_TIMEOUT, timeout)),
        ) as response:
            status = response.status
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, CallbackRefused):
            return Attempt(delivered=False, permanent=True, error=f"refused: {exc.os_error}")
        return Attempt(delivered=False, error=_described(exc))
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Attempt(delivered=False, error=_described(exc))
    if 200 <= status < 300:
        return Attempt(delivered=True, status=status)
    return Attempt(
        delivered=False, permanent=status in _PERMANENT, status=status, error=f"HTTP {status}"
    )


def _described(exc: BaseException) -> str:
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


def connector(
    policy: CallbackPolicy, *, limit: int = CONCURRENCY, limit_per_host: int = HOST_CONCURRENCY
) -> aiohttp.TCPConnector:
    """The connector of a webhook session: names resolved through ``policy``."""
    return aiohttp.TCPConnector(
        limit=limit, limit_per_host=limit_per_host, resolver=GuardedResolver(policy)
    )


def host_of(url: str) -> tuple[str, str, int]:
    """The receiver a URL names, as limits count it: (scheme, host name, port)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").rstrip("."), port or (443 if scheme == "https" else 80)


class HookQueue:
    """Due webhooks held in memory: a FIFO per host, served in turn, under limits.

    :meth:`offer` a hook read from the store (refused when it is held already or
    its host's FIFO is full: it stays in the store, read again later);
    :meth:`take` the next one to attempt, from the next host with a free slot;
    :meth:`done` when its attempt is over (its outcome stored). Sans-IO.
    """

    def __init__(
        self,
        *,
        concurrency: int = CONCURRENCY,
        per_host: int = HOST_CONCURRENCY,
        per_host_held: int = HOST_HELD,
        max_held: int = MAX_HELD,
    ) -> None:
        self._concurrency = concurrency
        self._per_host = per_host
        self._per_host_held = per_host_held
        self._max_held = max_held
        self._waiting: dict[tuple[str, str, int], collections.deque[WebhookEvent]] = {}
        self._active: collections.Counter[tuple[str, str, int]] = collections.Counter()
        self._turns: collections.deque[tuple[str, str, int]] = collections.deque()
        self._held: set[int] = set()  # ids waiting or being attempted
        self.attempting = 0

    @property
    def held(self) -> int:
        return len(self._held)

    def offer(self, hook: WebhookEvent) -> bool:
        if hook.id in self._held or len(self._held) >= self._max_held:
            return False
        host = host_of(hook.url)
        fifo = self._waiting.get(host)
        if fifo is None:
            fifo = self._waiting[host] = collections.deque()
            self._turns.append(host)
        if len(fifo) + self._active[host] >= self._per_host_held:
            return False
        fifo.append(hook)
        self._held.add(hook.id)
        return True

    def take(self) -> WebhookEvent | None:
        """The next hook to attempt (it counts as attempting), or None for now."""
        if self.attempting >= self._concurrency:
            return None
        for _ in range(len(self._turns)):
            host = self._turns[0]
            self._turns.rotate(-1)  # the next call starts with the next host
            fifo = self._waiting[host]
            if fifo and self._active[host] < self._per_host:
                self._active[host] += 1
                self.attempting += 1
                return fifo.popleft()
        return None

    def done(self, hook: WebhookEvent) -> bool:
        """Its attempt is over; True when its host has none waiting (read what is due)."""
        host = host_of(hook.url)
        self._held.discard(hook.id)
        self.attempting -= 1
        self._active[host] -= 1
        drained = not self._waiting[host]
        if not self._active[host]:
            del self._active[host]
            if drained:  # forget idle hosts: memory follows what is due
                del self._waiting[host]
                self._turns.remove(host)
        return drained


class CallbackRefused(OSError):
    """A receiver's address the policy refuses (raised when connecting)."""


class GuardedResolver(AbstractResolver):
    """aiohttp's default resolver, keeping only the addresses the policy allows.

    A name whose every address is refused fails to connect with
    :class:`CallbackRefused`; aiohttp does not ask the resolver for literal
    addresses, which :func:`post` checks with :meth:`CallbackPolicy.refusal`.
    """

    def __init__(self, policy: CallbackPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._policy.host_allowed(host):
            return results
        allowed = [r for r in results if self._allowed(r["host"])]
        if not allowed:
            found = ", ".join(sorted({r["host"] for r in results})) or "nothing"
            msg = f"{host.rstrip('.')} resolves to {found}; {ONLY_PUBLIC}"
            raise CallbackRefused(msg)
        return allowed

    def _allowed(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return self._policy.address_allowed(address)

    async def close(self) -> None:
        await self._inner.close()
