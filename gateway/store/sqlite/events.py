"""The event outbox on SQLite: status, inbound and rejected events.

Events are written by the operation that makes the change, in its
transaction (:mod:`gateway.store.sqlite.queue`, :mod:`gateway.store.sqlite.dispatch`,
:func:`add_inbound`): a change and its event are committed together or not
at all. ``outbox`` is the MQTT outbox: one row per transaction's events (an
enqueue of 500 messages writes one row of 500 ``queued`` events, not 500
rows), deleted once the broker acknowledged every event of it; a row
published in part (the broker went away) is published again whole, so
consumers may see an event twice, never miss one. ``webhooks`` holds the
same status payloads for messages with a ``callback_url``, one row each
with its delivery attempts (:mod:`gateway.store.sqlite.webhooks`).

An outbox row's ``body`` is its events one after the other, each a header
(:data:`EVENT_HEAD`: kind, account length, payload length) then the account
(UTF-8) and the payload.

Status payload (compact JSON, keys in this order)::

    {"event":"status","id":MSG_ID,"account":A,"to":"+E164","state":"delivered",
     "previous":"submitted","at":"2026-03-15T12:00:00.000Z","client_ref":null,"error":null}
"""

from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.model.isotime import iso_utc
from gateway.model.records import InboundMessage, OutboxBatch
from gateway.store.sqlite.webhooks import INSERT_WEBHOOK

EVENT_KINDS = frozenset({"status", "inbound", "rejected"})
# states a change to which is reported; "queued" is reported once, at enqueue
# (dispatching, and a retry's or a lost lease's way back to queued, are internal)
REPORTED_STATES = frozenset(
    {"submitted", "delivered", "undeliverable", "expired", "rejected", "cancelled", "failed"}
)
INSERT_OUTBOX = "INSERT INTO outbox (events, body, created_at) VALUES (?, ?, ?)"
# an event in an outbox row: kind (one letter), account length, payload length
EVENT_HEAD = struct.Struct(">cHI")
_KIND_CODE = {"status": b"s", "inbound": b"i", "rejected": b"r"}
_CODE_KIND = {code[0]: kind for kind, code in _KIND_CODE.items()}

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_quote = json.encoder.encode_basestring  # a str as a JSON string literal, non-ASCII kept


def encode(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON."""
    return _JSON.encode(payload).encode()


def iso_ms(at: float) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``."""
    return iso_utc(at, timespec="milliseconds")


def _q(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def status_payload(
    *,
    message_id: str,
    account: str,
    to: str,
    state: str,
    previous: str | None,
    at: str,
    client_ref: str | None,
    error: str | None,
) -> bytes:
    """The status event body, written out directly (5x faster than a dict through json).

    ``state``, ``previous`` (message state names) and ``at`` (:func:`iso_ms`)
    need no escaping; every other string goes through the JSON string encoder.
    """
    prev = "null" if previous is None else f'"{previous}"'
    return (
        f'{{"event":"status","id":{_quote(message_id)},"account":{_quote(account)},'
        f'"to":{_quote(to)},"state":"{state}","previous":{prev},"at":"{at}",'
        f'"client_ref":{_q(client_ref)},"error":{_q(error)}}}'
    ).encode()


def pack_event(kind: str, account: str, payload: bytes) -> bytes:
    """One event as it is stored in an outbox row's body."""
    name = account.encode()
    return EVENT_HEAD.pack(_KIND_CODE[kind], len(name), len(payload)) + name + payload


def unpack_events(body: bytes) -> list[tuple[str, str, bytes]]:
    """An outbox row's events: (kind, account, payload)."""
    out: list[tuple[str, str, bytes]] = []
    pos, end, head, unpack = 0, len(body), EVENT_HEAD.size, EVENT_HEAD.unpack_from
    while pos < end:
        code, name_len, size = unpack(body, pos)
        pos += head
        account = body[pos : pos + name_len].decode()
        pos += name_len
        out.append((_CODE_KIND[code[0]], account, body[pos : pos + size]))
        pos += size
    return out


def add_outbox(conn: sqlite3.Connection, events: Sequence[bytes], now: float) -> int:
    """One outbox row holding ``events`` (:func:`pack_event`); its id."""
    cur = conn.execute(INSERT_OUTBOX, (len(events), b"".join(events), now))
    return int(cur.lastrowid or 0)


class StatusRows:
    """Status events and webhook rows of one transaction: one outbox row and an
    ``executemany`` for the webhooks.

    ``mqtt=False`` (the daemon runs without ``[mqtt]``): no MQTT outbox row,
    since nothing would read it; webhook rows are written all the same.
    """

    __slots__ = ("at", "events", "hooks", "mqtt", "now")

    def __init__(self, now: float, *, mqtt: bool = True) -> None:
        self.now = now
        self.mqtt = mqtt
        self.at = iso_ms(now)
        self.events: list[bytes] = []  # packed (pack_event)
        self.hooks: list[tuple[str, str, bytes, float, float]] = []

    def add(
        self,
        *,
        message_id: str,
        account: str,
        to: str,
        state: str,
        previous: str | None,
        client_ref: str | None,
        error: str | None,
        callback_url: str | None,
    ) -> None:
        event, hook = self.entry(
            message_id=message_id,
            account=account,
            to=to,
            state=state,
            previous=previous,
            client_ref=client_ref,
            error=error,
            callback_url=callback_url,
        )
        self.take(event, hook)

    def entry(
        self,
        *,
        message_id: str,
        account: str,
        to: str,
        state: str,
        previous: str | None,
        client_ref: str | None,
        error: str | None,
        callback_url: str | None,
    ) -> tuple[bytes | None, tuple[str, str, bytes, float, float] | None]:
        """The event's outbox entry and webhook row, to :meth:`take` later (or drop)."""
        if not (self.mqtt or callback_url):
            return None, None  # neither MQTT nor a webhook takes this event
        body = status_payload(
            message_id=message_id,
            account=account,
            to=to,
            state=state,
            previous=previous,
            at=self.at,
            client_ref=client_ref,
            error=error,
        )
        event = pack_event("status", account, body) if self.mqtt else None
        hook = (account, callback_url, body, self.now, self.now) if callback_url else None
        return event, hook

    def take(self, event: bytes | None, hook: tuple[str, str, bytes, float, float] | None) -> None:
        if event is not None:
            self.events.append(event)
        if hook is not None:
            self.hooks.append(hook)

    def write(self, conn: sqlite3.Connection) -> None:
        if self.events:
            add_outbox(conn, self.events, self.now)
        if self.hooks:
            conn.executemany(INSERT_WEBHOOK, self.hooks)


def add_inbound(conn: sqlite3.Connection, m: InboundMessage, *, outbox: bool = True) -> None:
    """Store a reply; a reply with an account gets its ``inbound`` event (once per id)
    when the MQTT outbox is in use (``outbox``)."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO inbound (id, account, link, source, destination, text, "
        "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (m.id, m.account, m.link, m.source, m.destination, m.text, m.received_at),
    )
    if cur.rowcount != 1 or m.account is None or not outbox:
        return  # already stored (and reported), or nobody to report it to
    body = encode(
        {
            "event": "inbound",
            "id": m.id,
            "from": m.source,
            "to": m.destination,
            "text": m.text,
            "link": m.link,
            "received_at": iso_ms(m.received_at),
        }
    )
    add_outbox(conn, [pack_event("inbound", m.account, body)], m.received_at)


def add_event(
    conn: sqlite3.Connection, account: str, kind: str, payload: Mapping[str, Any], now: float
) -> int:
    if kind not in EVENT_KINDS:
        msg = f"unknown event kind {kind!r} (one of {', '.join(sorted(EVENT_KINDS))})"
        raise ValueError(msg)
    return add_outbox(conn, [pack_event(kind, account, encode(payload))], now)


def pending_mqtt_events(conn: sqlite3.Connection, limit: int) -> list[OutboxBatch]:
    """The oldest outbox batches, up to about ``limit`` events (at least one batch)."""
    out: list[OutboxBatch] = []
    count = 0
    for batch, events, body in conn.execute(
        "SELECT id, events, body FROM outbox ORDER BY id LIMIT ?", (limit,)
    ):
        out.append(OutboxBatch(id=batch, events=tuple(unpack_events(bytes(body)))))
        count += events
        if count >= limit:
            break
    return out


def ack_mqtt_events(conn: sqlite3.Connection, batches: Sequence[int]) -> None:
    """Delete outbox rows whose every event was published: one range statement per
    run of consecutive ids."""
    conn.executemany("DELETE FROM outbox WHERE id BETWEEN ? AND ?", id_runs(batches))


def pending_event_count(conn: sqlite3.Connection) -> int:
    """Events waiting in the outbox."""
    return int(conn.execute("SELECT coalesce(sum(events), 0) FROM outbox").fetchone()[0])


def id_runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """``ids`` as (first, last) runs of consecutive integers (the outbox acks in id order)."""
    runs: list[tuple[int, int]] = []
    ordered = sorted(set(ids))
    if not ordered:
        return runs
    first = last = ordered[0]
    for i in ordered[1:]:
        if i != last + 1:
            runs.append((first, last))
            first = i
        last = i
    runs.append((first, last))
    return runs
