"""Identifiers and secrets: time-sortable ids, random tokens, with no dependency
(usable from any layer)."""

from __future__ import annotations

import os
import secrets

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # sorts like the values it encodes
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits -> 2 characters


_SHIFTS = range(120, -10, -10)  # 13 groups of 10 bits, most significant first


def _text(value: int) -> str:
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


def new_id(now: float) -> str:
    """A 26-character, time-sortable id (ULID layout): 48-bit milliseconds, 80 random bits."""
    return _text((int(now * 1000) << 80) | int.from_bytes(os.urandom(10), "big"))


def new_ids(now: float, count: int) -> list[str]:
    """``count`` ids of :func:`new_id`'s form, with one read of the random source."""
    ms = int(now * 1000) << 80
    raw = os.urandom(10 * count)
    return [_text(ms | int.from_bytes(raw[i : i + 10], "big")) for i in range(0, 10 * count, 10)]


def new_webhook_secret() -> str:
    """An account's webhook signing secret: 32 random bytes, hex."""
    return secrets.token_hex(32)
