"""The events' JSON and the outbox row's body: the same for every store backend.

A change and its event are written in one transaction by the backend
(gateway.store.sqlite, gateway.store.postgres); what the event says is
decided here. The MQTT outbox keeps one row per transaction's events (an
enqueue of 500 messages writes one row of 500 ``queued`` events); a row's
body is its events one after the other, each a header (:data:`EVENT_HEAD`:
kind, account length, payload length) then the account (UTF-8) and the
payload. Webhook rows hold the same status payloads for messages with a
``callback_url``.

Status payload (compact JSON, keys in this order)::

    {"event":"status","id":MSG_ID,"account":A,"to":"+E164","state":"delivered",
     "previous":"submitted","at":"2026-03-15T12:00:00.000Z","client_ref":null,"error":null}

Inbound payload::

    {"event":"inbound","id":ID,"from":"+E164","to":"+E164","text":T,"link":L,
     "received_at":"2026-03-15T12:00:00.000Z"}
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.model.isotime import iso_utc
from gateway.model.records import InboundMessage
from gateway.store.esme_deliveries import DeliveryRow

EVENT_KINDS = frozenset({"status", "inbound", "rejected"})
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


def inbound_payload(m: InboundMessage) -> bytes:
    return encode(
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


def check_kind(kind: str) -> None:
    if kind not in EVENT_KINDS:
        msg = f"unknown event kind {kind!r} (one of {', '.join(sorted(EVENT_KINDS))})"
        raise ValueError(msg)


class StatusEvents:
    """The status events and webhook rows of one transaction, as a backend writes
    them: the MQTT outbox entries (:func:`pack_event`, one outbox row for all)
    and one webhook row per event of a message with a ``callback_url``.

    ``mqtt=False`` (the daemon runs without ``[mqtt]``): no MQTT outbox entry,
    since nothing would read it; webhook rows are made all the same. Receipts
    for ESMEs (``deliveries``, gateway.store.esme_deliveries) are written with
    them, in the same transaction.
    """

    __slots__ = ("at", "deliveries", "events", "hooks", "mqtt", "now")

    def __init__(self, now: float, *, mqtt: bool = True) -> None:
        self.now = now
        self.mqtt = mqtt
        self.at = iso_ms(now)
        self.events: list[bytes] = []  # packed (pack_event)
        self.hooks: list[tuple[str, str, bytes, float, float]] = []
        self.deliveries: list[DeliveryRow] = []

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

    def delivery(self, row: DeliveryRow) -> None:
        self.deliveries.append(row)

    def take(self, event: bytes | None, hook: tuple[str, str, bytes, float, float] | None) -> None:
        if event is not None:
            self.events.append(event)
        if hook is not None:
            self.hooks.append(hook)


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
