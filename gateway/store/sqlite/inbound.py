"""The parts of concatenated replies on SQLite (``inbound_parts``).

The rules are gateway.store.reassembly's; this module loads a key's parts and
saves what they decide, inside the engine's one write transaction (one writer:
a key needs no lock of its own). Which keys are silent is read first on a
reader, so that a sweep with nothing to release takes no write lock.
"""

from __future__ import annotations

import sqlite3

from gateway.link.interface import InboundPart
from gateway.model.ids import new_id
from gateway.model.records import ReassembledReply
from gateway.store.reassembly import (
    PART_COLUMNS,
    HeldPart,
    PartKey,
    Step,
    assemble,
    held_from,
    key_of,
    part_row,
    place,
    release,
    silent,
)
from gateway.store.sqlite.events import add_inbound

_KEY = "source = ? AND destination = ? AND reference = ? AND total = ?"
SELECT_KEY = f"SELECT {PART_COLUMNS} FROM inbound_parts WHERE {_KEY}"  # noqa: S608 - constants
INSERT_PART = (
    f"INSERT OR IGNORE INTO inbound_parts ({PART_COLUMNS}) "  # noqa: S608 - constants
    f"VALUES ({', '.join('?' for _ in PART_COLUMNS.split(','))})"
)
DELETE_KEY = f"DELETE FROM inbound_parts WHERE {_KEY}"  # noqa: S608 - constants
DONE_KEY = f"UPDATE inbound_parts SET done = 1 WHERE {_KEY}"  # noqa: S608 - constants
# the keys with a part older than ``before`` (its index), then those of them whose
# newest part is: a sweep reads the old parts, not every part held
SILENT_KEYS = (
    "SELECT source, destination, reference, total FROM inbound_parts "
    "WHERE (source, destination, reference, total) IN ("
    "SELECT source, destination, reference, total FROM inbound_parts WHERE received_at < ?1) "
    "GROUP BY source, destination, reference, total HAVING max(received_at) < ?1 "
    "ORDER BY min(received_at) LIMIT ?2"
)


def _held(conn: sqlite3.Connection, key: PartKey) -> list[HeldPart]:
    return [held_from(row) for row in conn.execute(SELECT_KEY, key)]


def add_inbound_part(
    conn: sqlite3.Connection,
    part: InboundPart,
    account: str | None,
    message_id: str,
    *,
    outbox: bool = True,
) -> ReassembledReply | None:
    """Hold ``part``; the reply, stored, when it made its key whole."""
    key = key_of(part)
    placement = place(_held(conn, key), part)
    if placement.step is Step.REDELIVERED:
        return None
    if placement.forget:
        conn.execute(DELETE_KEY, key)
    complete = placement.step is Step.COMPLETE
    conn.execute(INSERT_PART, part_row(part, account, done=complete))
    if not complete:
        return None
    conn.execute(DONE_KEY, key)
    reply = assemble(placement.parts, total=key.total, message_id=message_id, account=account)
    add_inbound(conn, reply.message, outbox=outbox)
    return reply


def silent_keys(conn: sqlite3.Connection, before: float, limit: int) -> list[PartKey]:
    """Keys whose newest part came before ``before``, the oldest first (a read)."""
    return [PartKey(*row) for row in conn.execute(SILENT_KEYS, (before, limit))]


def expire_inbound_parts(
    conn: sqlite3.Connection,
    keys: list[PartKey],
    before: float,
    now: float,
    *,
    outbox: bool = True,
) -> list[ReassembledReply]:
    """Release the keys of ``keys`` still silent since ``before``: their incomplete
    replies stored, a stored reply's parts forgotten."""
    released: list[ReassembledReply] = []
    for key in keys:
        held = _held(conn, key)
        if not silent(held, before=before):
            continue  # a part came since the read, or another sweep took it
        conn.execute(DELETE_KEY, key)
        reply = release(held, message_id=new_id(now))
        if reply is not None:
            add_inbound(conn, reply.message, outbox=outbox)
            released.append(reply)
    return released
