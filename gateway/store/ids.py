"""Identifiers: time-sortable, random, with no dependency (usable from any layer)."""

from __future__ import annotations

import os

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # sorts like the values it encodes
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits -> 2 characters


def new_id(now: float) -> str:
    """A 26-character, time-sortable id (ULID layout): 48-bit milliseconds, 80 random bits."""
    value = (int(now * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(120, -10, -10)])
