"""The parts of concatenated replies on PostgreSQL (``inbound_parts``).

The rules are gateway.store.reassembly's, as on SQLite; what this module adds
is the lock that several daemons need. The parts of one reply come on any
daemon's bind, so every writer of a key first takes the key's transaction
advisory lock (:data:`REPLY_LOCKS`, the key's hash): two daemons adding the
last two parts at once then count them one after the other, and the second
stores the reply, once. (Row locks could not do it: two first parts of a
key have no row to lock yet, and neither would see the other's.) A sweep
takes a silent key's lock with ``pg_try_advisory_xact_lock`` and leaves the
key when another daemon holds it, as ``FOR UPDATE SKIP LOCKED`` leaves a
locked row; one lock per key, not per part, so that two sweeps never share
out the parts of one key. A key's parts are read again under its lock: each
statement sees what the previous holder committed.
"""

from __future__ import annotations

from typing import Any

from gateway.link.interface import InboundPart
from gateway.model.ids import new_id
from gateway.model.records import ReassembledReply
from gateway.store.postgres.events import add_inbound
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

REPLY_LOCKS = 0x534D5352  # "SMSR": the first key of a reply's advisory lock
_KEY = "source = $1 AND destination = $2 AND reference = $3 AND total = $4"
SELECT_KEY = f"SELECT {PART_COLUMNS} FROM inbound_parts WHERE {_KEY}"  # noqa: S608 - constants
INSERT_PART = (
    f"INSERT INTO inbound_parts ({PART_COLUMNS}) "  # noqa: S608 - constants
    f"VALUES ({', '.join(f'${i}' for i in range(1, PART_COLUMNS.count(',') + 2))}) "
    "ON CONFLICT DO NOTHING"
)
DELETE_KEY = f"DELETE FROM inbound_parts WHERE {_KEY}"  # noqa: S608 - constants
DONE_KEY = f"UPDATE inbound_parts SET done = true WHERE {_KEY}"  # noqa: S608 - constants
# the keys with a part older than ``before`` (its index), then those of them whose
# newest part is: a sweep reads the old parts, not every part held
SILENT_KEYS = (
    "SELECT source, destination, reference, total FROM inbound_parts "
    "WHERE (source, destination, reference, total) IN ("
    "SELECT source, destination, reference, total FROM inbound_parts WHERE received_at < $1) "
    "GROUP BY source, destination, reference, total HAVING max(received_at) < $1 "
    "ORDER BY min(received_at) LIMIT $2"
)
LOCK = "SELECT pg_advisory_xact_lock($1::int, hashtext($2))"
TRY_LOCK = "SELECT pg_try_advisory_xact_lock($1::int, hashtext($2))"


def _lock_name(key: PartKey) -> str:
    return "\x1f".join(str(v) for v in key)


async def _held(conn: Any, key: PartKey) -> list[HeldPart]:
    return [held_from(row) for row in await conn.fetch(SELECT_KEY, *key)]


async def add_inbound_part(
    conn: Any,
    part: InboundPart,
    account: str | None,
    message_id: str,
    *,
    outbox: bool = True,
) -> ReassembledReply | None:
    """Hold ``part`` under its key's lock; the reply, stored, when it made the key whole."""
    key = key_of(part)
    await conn.execute(LOCK, REPLY_LOCKS, _lock_name(key))
    placement = place(await _held(conn, key), part)
    if placement.step is Step.REDELIVERED:
        return None
    if placement.forget:
        await conn.execute(DELETE_KEY, *key)
    complete = placement.step is Step.COMPLETE
    await conn.execute(INSERT_PART, *part_row(part, account, done=complete))
    if not complete:
        return None
    await conn.execute(DONE_KEY, *key)
    reply = assemble(placement.parts, total=key.total, message_id=message_id, account=account)
    await add_inbound(conn, reply.message, outbox=outbox)
    return reply


async def silent_keys(conn: Any, before: float, limit: int) -> list[PartKey]:
    """Keys whose newest part came before ``before``, the oldest first (no lock)."""
    return [PartKey(*row) for row in await conn.fetch(SILENT_KEYS, before, limit)]


async def expire_inbound_parts(
    conn: Any, keys: list[PartKey], before: float, now: float, *, outbox: bool = True
) -> list[ReassembledReply]:
    """Release the keys of ``keys`` no other daemon holds and still silent since
    ``before``: their incomplete replies stored, a stored reply's parts forgotten."""
    released: list[ReassembledReply] = []
    for key in keys:
        if not await conn.fetchval(TRY_LOCK, REPLY_LOCKS, _lock_name(key)):
            continue  # another daemon adds to it or releases it
        held = await _held(conn, key)
        if not silent(held, before=before):
            continue  # a part came since the read, or another sweep took it
        await conn.execute(DELETE_KEY, *key)
        reply = release(held, message_id=new_id(now))
        if reply is not None:
            await add_inbound(conn, reply.message, outbox=outbox)
            released.append(reply)
    return released
