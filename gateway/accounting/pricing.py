"""Prices per segment by destination prefix (longest match), per account over a default list.

``+`` alone is the catch-all prefix: it matches every destination.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.model.errors import NoPrice, UserError
from gateway.model.records import Price

_PREFIX = re.compile(r"^\+?\d{0,15}$")


def normalize_prefix(raw: str) -> str:
    """``33``, ``+33``, ``+33 6`` -> ``+336``; ``*`` or ``+`` -> ``+`` (every destination)."""
    text = raw.strip().replace(" ", "")
    if text in {"*", "+"}:
        return "+"
    if not text or not _PREFIX.match(text):
        msg = f"bad prefix {raw!r}: + then up to 15 digits (e.g. +33, +3361), or * for any"
        raise UserError(msg)
    return "+" + text.removeprefix("+")


class PriceList:
    """The prices an account pays: its own entries first, then the default list's."""

    def __init__(self, *, own: Iterable[Price] = (), default: Iterable[Price] = ()) -> None:
        self._own = {p.prefix: p.credits for p in own}
        self._default = {p.prefix: p.credits for p in default}
        lengths = {len(k) for k in self._own} | {len(k) for k in self._default}
        self._lengths = sorted(lengths, reverse=True)

    def price(self, destination: str) -> int:
        """Credits per segment for ``destination`` (+E164); NoPrice when nothing matches."""
        for table in (self._own, self._default):
            for n in self._lengths:
                credits_ = table.get(destination[:n])
                if credits_ is not None and n <= len(destination):
                    return credits_
        raise NoPrice(destination)
