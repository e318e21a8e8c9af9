"""API tokens -> their owners (an account, or an operator token), remembered for at most
:data:`TOKEN_TTL` seconds.

Reading the token's row at every request cost the daemon a trip to the
store's reader thread per request. Here an account found for a token is
remembered for ``ttl`` seconds (monotonic, from the injected clock), then
read again: a token revoked anywhere (``smsgw token revoke``, another worker
process, another daemon on the same PostgreSQL) stops working within ``ttl``
seconds in every process, with no message between processes. An operator's
token (gateway.store.operator_tokens) is remembered and revoked the same way;
its owner is its :class:`~gateway.model.records.OperatorToken`, which
:func:`store_lookup` reads from its own table (the token's prefix says which).

Memory is bounded: only tokens the store knew are remembered (an unknown or
revoked token is read again at every request and forgotten), at most
``size`` of them, the oldest replaced first. Entries are keyed by the
token's SHA-256 (gateway.store.accounts.token_hash), as the store finds
them: the secret itself is neither kept nor compared character by character.
Requests arriving while a token's row is being read wait for that one read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.records import OperatorToken
from gateway.store.accounts import token_hash
from gateway.store.base import Store
from gateway.store.operator_tokens import is_operator_token

__all__ = ["TOKEN_CACHE", "TOKEN_TTL", "Owner", "TokenCache", "store_lookup"]

TOKEN_TTL = 1.0  # seconds: a revoked token is refused within this time
TOKEN_CACHE = 10_000  # tokens remembered, at most

# a token's owner: the name of its account, or the operator token it is
Owner = str | OperatorToken
Lookup = Callable[[str], Awaitable[Owner | None]]


def store_lookup(store: Store) -> Lookup:
    """The owner of a token as ``store`` has it: an operator token's record from
    operator_tokens, an account's name from api_tokens; None when unknown or revoked."""

    async def lookup(token: str) -> Owner | None:
        if is_operator_token(token):
            return await store.operator_for_token(token)
        return await store.account_for_token(token)

    return lookup


class TokenCache:
    """The owner of an API token (an account's name, or an operator token): from
    ``lookup`` (the store), or as it answered less than ``ttl`` seconds ago."""

    __slots__ = ("_clock", "_entries", "_lookup", "_reading", "_size", "_ttl")

    def __init__(
        self,
        lookup: Lookup,
        *,
        clock: Clock = SYSTEM_CLOCK,
        ttl: float = TOKEN_TTL,
        size: int = TOKEN_CACHE,
    ) -> None:
        self._lookup = lookup
        self._clock = clock
        self._ttl = ttl
        self._size = size
        # token hash -> (good until, owner); insertion order is age order
        self._entries: dict[str, tuple[float, Owner]] = {}
        # token hash -> the read in progress, shared by the requests that wait for it
        self._reading: dict[str, asyncio.Future[Owner | None]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def owner(self, token: str) -> Owner | None:
        """The account ``token`` belongs to, or the operator token it is; None when
        unknown or revoked."""
        if self._ttl <= 0:
            return await self._lookup(token)
        key = token_hash(token)
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock.monotonic():
            return entry[1]
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self._read(key, token))
            self._reading[key] = reading
        return await asyncio.shield(reading)

    def forget(self, account: str) -> None:
        """Read ``account``'s tokens again at their next use (one was revoked here: this
        process refuses it at once, the others within ``ttl``)."""
        for key in [k for k, (_, owner) in self._entries.items() if owner == account]:
            del self._entries[key]

    async def _read(self, key: str, token: str) -> Owner | None:
        # good until ttl after the read began: a revocation committed before the
        # store read the row is refused ttl after it at the latest
        until = self._clock.monotonic() + self._ttl
        try:
            owner = await self._lookup(token)
        finally:
            del self._reading[key]
        self._entries.pop(key, None)  # re-inserted last: the youngest
        if owner is None:
            return None
        while len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (until, owner)
        return owner
