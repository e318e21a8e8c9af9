"""Pages of an account's lists, for the HTTP API and the console alike: its
messages, its credit journal and its replies, newest first, with opaque cursors.

A cursor is the key of the page's last row (gateway.store.spans): the next
page holds the rows below it, so rows added meanwhile never shift or repeat
one. It is URL-safe base64 of a small JSON array tagged with its list, which
a client passes back as it got it; anything else is refused with
:class:`~gateway.model.errors.InvalidField` (``cursor``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.accounting.journal import JournalRow
from gateway.model.errors import InvalidField
from gateway.model.message import MessageState
from gateway.model.records import InboundMessage, LedgerEntry, Message
from gateway.store.base import Store

__all__ = [
    "MAX_PAGE",
    "InboundPage",
    "JournalPage",
    "MessagePage",
    "inbound_page",
    "journal_page",
    "journal_rows",
    "message_page",
]

MAX_PAGE = 1000  # rows per page
_MAX_CURSOR = 400  # characters
_MAX_ID = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagePage:
    messages: tuple[Message, ...]
    next_cursor: str | None  # None: this is the last page


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalPage:
    rows: tuple[JournalRow, ...]  # newest first
    next_cursor: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundPage:
    replies: tuple[InboundMessage, ...]
    next_cursor: str | None


def _encode(tag: str, key: Sequence[Any]) -> str:
    raw = json.dumps([tag, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(tag: str, cursor: str) -> list[Any]:
    bad = InvalidField("cursor", "not a cursor of this list: pass next_cursor as it came")
    if not cursor or len(cursor) > _MAX_CURSOR or not cursor.isascii():
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(value, list) or not value or value[0] != tag:
        raise bad
    return value[1:]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def message_cursor(m: Message) -> str:
    return _encode("m", (m.created_at, m.id))


def parse_message_cursor(cursor: str) -> tuple[float, str]:
    key = _decode("m", cursor)
    match key:
        case [at, str(message_id)] if (
            _number(at) and math.isfinite(at) and len(message_id) < _MAX_ID
        ):
            return float(at), message_id
    raise InvalidField("cursor", "not a cursor of this list: pass next_cursor as it came")


def journal_cursor(e: LedgerEntry) -> str:
    return _encode("j", (e.id,))


def parse_journal_cursor(cursor: str) -> int:
    key = _decode("j", cursor)
    match key:
        case [int(entry_id)] if not isinstance(entry_id, bool):
            return entry_id
    raise InvalidField("cursor", "not a cursor of this list: pass next_cursor as it came")


def inbound_cursor(m: InboundMessage) -> str:
    return _encode("i", (m.id,))


def parse_inbound_cursor(cursor: str) -> str:
    key = _decode("i", cursor)
    match key:
        case [str(reply_id)] if len(reply_id) < _MAX_ID:
            return reply_id
    raise InvalidField("cursor", "not a cursor of this list: pass next_cursor as it came")


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidField("limit", f"{limit}: a whole number, 1 to {MAX_PAGE}")


async def message_page(
    store: Store,
    account: str,
    *,
    state: MessageState | None = None,
    since: float | None = None,
    until: float | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> MessagePage:
    """The account's messages, newest first: up to ``limit`` below ``cursor``."""
    _check_limit(limit)
    before = parse_message_cursor(cursor) if cursor is not None else None
    found = await store.list_messages(
        account=account, state=state, since=since, until=until, before=before, limit=limit + 1
    )
    shown = tuple(found[:limit])
    more = len(found) > limit
    return MessagePage(messages=shown, next_cursor=message_cursor(shown[-1]) if more else None)


async def journal_rows(store: Store, entries: Sequence[LedgerEntry]) -> list[JournalRow]:
    """Each entry with the destination and segments of the message it is for."""
    ids = list(dict.fromkeys(e.message_id for e in entries if e.message_id is not None))
    messages = {m.id: m for m in await store.get_messages(ids)} if ids else {}
    rows: list[JournalRow] = []
    for e in entries:
        m = messages.get(e.message_id) if e.message_id is not None else None
        rows.append(
            JournalRow(
                entry=e,
                destination=None if m is None else m.destination,
                segments=None if m is None else m.segments,
            )
        )
    return rows


async def journal_page(
    store: Store,
    account: str,
    *,
    since: float | None = None,
    until: float | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> JournalPage:
    """The account's journal, newest first: up to ``limit`` entries below ``cursor``."""
    _check_limit(limit)
    before = parse_journal_cursor(cursor) if cursor is not None else None
    found = await store.history(account, limit=limit + 1, since=since, until=until, before=before)
    more = len(found) > limit
    shown = list(reversed(found[1:] if more else found))  # the store's are oldest first
    rows = await journal_rows(store, shown)
    return JournalPage(rows=tuple(rows), next_cursor=journal_cursor(shown[-1]) if more else None)


async def inbound_page(
    store: Store,
    account: str,
    *,
    since: float | None = None,
    until: float | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> InboundPage:
    """The account's replies, newest first: up to ``limit`` below ``cursor``."""
    _check_limit(limit)
    before = parse_inbound_cursor(cursor) if cursor is not None else None
    found = await store.list_inbound(
        account=account, since=since, until=until, before=before, limit=limit + 1
    )
    shown = tuple(found[:limit])
    more = len(found) > limit
    return InboundPage(replies=shown, next_cursor=inbound_cursor(shown[-1]) if more else None)
