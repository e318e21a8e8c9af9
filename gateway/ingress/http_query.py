"""The query strings of the API's lists: each parameter checked, unknown ones refused
(a typo such as ``?sinse=`` must not silently list everything).

Every refusal is an :class:`~gateway.model.errors.InvalidPayload` subclass (400)
naming the parameter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from aiohttp import web
from multidict import MultiMapping
from yarl import URL

from gateway.model.errors import InvalidField, InvalidPayload
from gateway.model.message import MessageState
from gateway.store.pages import MAX_PAGE

__all__ = ["DEFAULT_LIMIT", "Query", "UnknownParameter", "next_link"]

DEFAULT_LIMIT = 100
_EXAMPLE = "e.g. 2026-12-01T09:00:00Z or 2026-12-01T10:00:00+01:00"


class UnknownParameter(InvalidPayload):
    code = "unknown_parameter"


class Query:
    """A request's query parameters, of which only ``allowed`` may appear (each once)."""

    def __init__(self, query: MultiMapping[str], allowed: Collection[str]) -> None:
        unknown = [key for key in query if key not in allowed]
        if unknown:
            names = ", ".join(repr(k[:40]) for k in unknown[:10])
            known = ", ".join(allowed) or "none"
            raise UnknownParameter(f"unknown query parameter(s) {names}; known: {known}")
        for key in allowed:
            if len(query.getall(key, [])) > 1:
                raise InvalidField(key, "given more than once")
        self._query = query

    def text(self, name: str) -> str | None:
        return self._query.get(name)

    def limit(self) -> int:
        raw = self._query.get("limit")
        if raw is None:
            return DEFAULT_LIMIT
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
            raise InvalidField("limit", f"{raw[:20]!r}: a whole number, 1 to {MAX_PAGE}")
        return int(raw)

    def time(self, name: str) -> float | None:
        """An ISO 8601 time with a time zone, as POSIX seconds."""
        raw = self._query.get(name)
        if raw is None:
            return None
        shown = repr(raw[:40])
        try:
            when = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise InvalidField(name, f"{shown} is not an ISO 8601 time ({_EXAMPLE})") from None
        if when.tzinfo is None or when.utcoffset() is None:
            raise InvalidField(name, f"{shown} has no time zone ({_EXAMPLE})")
        return when.timestamp()

    def state(self) -> MessageState | None:
        raw = self._query.get("status")
        if raw is None:
            return None
        try:
            return MessageState(raw)
        except ValueError:
            names = ", ".join(s.value for s in MessageState)
            raise InvalidField("status", f"{raw[:40]!r} is not one of {names}") from None

    def choice(self, name: str, choices: Collection[str]) -> str | None:
        raw = self._query.get(name)
        if raw is not None and raw not in choices:
            raise InvalidField(name, f"{raw[:40]!r} is not one of {', '.join(choices)}")
        return raw


def next_link(request: web.Request, cursor: str | None) -> dict[str, str] | None:
    """The ``Link`` header to a list's next page (None on the last one)."""
    if cursor is None:
        return None
    url: URL = request.rel_url.update_query(cursor=cursor)
    return {"Link": f'<{url}>; rel="next"'}
