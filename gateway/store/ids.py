"""Identifiers: time-sortable, random, with no dependency (usable from any layer)."""

from __future__ import annotations

import os

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # sorts like the values it encodes
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits -> 2 characters


def new_id(now: float) -> str:
    """A 26-character, time-sortable id (ULID layout): 48-bit milliseconds, 80 random bits."""
    value = (int(now * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(120, -10, -10)])


def new_ids(now: float, count: int) -> list[str]:
    """``count`` ids of :func:`new_id`'s form, with one read of the random source."""
    pairs = _PAIRS
    ms = int(now * 1000) << 80
    raw = os.urandom(10 * count)
    out = []
    for i in range(0, 10 * count, 10):
        value = ms | int.from_bytes(raw[i : i + 10], "big")
        out.append("".join([pairs[(value >> shift) & 1023] for shift in range(120, -10, -10)]))
    return out
