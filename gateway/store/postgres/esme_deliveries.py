"""Receipts and replies for ESMEs on PostgreSQL (the rules: gateway.store.esme_deliveries).

Rows are added by the transaction whose change causes them
(:func:`write_deliveries`, where status events and replies are written).
Several daemons may hold binds of one credential: a taker leases rows with
``FOR UPDATE SKIP LOCKED``, so each row is given to one taker at a time; a
lease that runs out (its daemon died, or it gave up the row) makes the row
takeable again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from gateway.model.esme import DeliveryKind, EsmeDelivery
from gateway.model.records import EsmeDeliveryCount, InboundMessage
from gateway.store.esme_deliveries import (
    DELIVERY_COLUMNS,
    INSERT_COLUMNS,
    DeliveryRow,
    delivery_from,
    reply_rows,
)

_TYPES = (
    "text",
    "text",
    "text",
    "text",
    "text",
    "float8",
    "text",
    "text",
    "text",
    "int",
    "float8",
    "int",
    "text",
    "float8",
    "float8",
)
_INSERT = (
    f"INSERT INTO esme_deliveries ({INSERT_COLUMNS}) SELECT * FROM unnest("  # noqa: S608 (constants)
    + ", ".join(f"${i}::{t}[]" for i, t in enumerate(_TYPES, start=1))
    + ") ON CONFLICT DO NOTHING"
)
_TAKE = (
    "UPDATE esme_deliveries SET lease_owner = $2, lease_until = $4 "  # noqa: S608 (constants)
    "WHERE id IN (SELECT id FROM esme_deliveries WHERE system_id = $1 "
    "AND delivered_at IS NULL AND next_attempt_at <= $3 "
    "AND (lease_until IS NULL OR lease_until <= $3) ORDER BY next_attempt_at, id LIMIT $5 "
    f"FOR UPDATE SKIP LOCKED) RETURNING {DELIVERY_COLUMNS}"
)
_KIND = {k.value: k for k in DeliveryKind}

if len(_TYPES) != len(DeliveryRow._fields):
    msg = "the unnest types of esme_deliveries and DeliveryRow's fields differ"
    raise RuntimeError(msg)


async def write_deliveries(conn: Any, rows: Sequence[DeliveryRow]) -> None:
    if rows:
        await conn.execute(_INSERT, *(list(c) for c in zip(*rows, strict=True)))


async def mark_origins(conn: Any, origins: Sequence[tuple[str, int, str]]) -> None:
    """(system_id, registered_delivery, message_id): the messages an ESME submitted."""
    if origins:
        await conn.execute(
            "UPDATE messages AS m SET esme_system_id = u.s, esme_registered_delivery = u.r "
            "FROM unnest($1::text[], $2::int[], $3::text[]) AS u(s, r, id) WHERE m.id = u.id",
            *(list(c) for c in zip(*origins, strict=True)),
        )


async def add_replies(conn: Any, m: InboundMessage, now: float) -> None:
    """A stored reply, one delivery per ESME credential of its account."""
    if m.account is None:
        return
    rows = await conn.fetch(
        "SELECT system_id FROM esme_credentials WHERE account = $1 ORDER BY system_id",
        m.account,
    )
    await write_deliveries(conn, reply_rows(m, [r[0] for r in rows], now))


async def take_deliveries(
    conn: Any, system_id: str, *, owner: str, limit: int, now: float, lease: float
) -> list[EsmeDelivery]:
    rows = await conn.fetch(_TAKE, system_id, owner, now, now + lease, limit)
    return [delivery_from(r) for r in sorted(rows, key=lambda r: r[0])]


async def deliveries_done(conn: Any, ids: Sequence[int], now: float) -> None:
    await conn.execute(
        "UPDATE esme_deliveries SET delivered_at = $1, lease_owner = NULL, lease_until = NULL "
        "WHERE id = ANY($2::bigint[]) AND delivered_at IS NULL",
        now,
        list(ids),
    )


async def delivery_retry(conn: Any, delivery_id: int, at: float) -> None:
    await conn.execute(
        "UPDATE esme_deliveries SET attempts = attempts + 1, next_attempt_at = $1, "
        "lease_owner = NULL, lease_until = NULL WHERE id = $2 AND delivered_at IS NULL",
        at,
        delivery_id,
    )


async def release_deliveries(conn: Any, owner: str, ids: Sequence[int]) -> int:
    rows = await conn.fetch(
        "UPDATE esme_deliveries SET lease_owner = NULL, lease_until = NULL "
        "WHERE lease_owner = $1 AND delivered_at IS NULL "
        "AND (cardinality($2::bigint[]) = 0 OR id = ANY($2::bigint[])) RETURNING id",
        owner,
        list(ids),
    )
    return len(rows)


def _counts(rows: Iterable[Any]) -> list[EsmeDeliveryCount]:
    return [EsmeDeliveryCount(system_id=s, kind=_KIND[k], count=n) for s, k, n in rows]


async def expire_deliveries(
    conn: Any, before: float, delivered_before: float | None
) -> list[EsmeDeliveryCount]:
    """Deliveries stored before ``before`` and never delivered, deleted and counted;
    delivered ones that old, or delivered before ``delivered_before``, deleted too
    (not counted). Rows another taker holds locked are left for the next run."""
    if delivered_before is not None:
        await conn.execute("DELETE FROM esme_deliveries WHERE delivered_at < $1", delivered_before)
    rows = await conn.fetch(
        "WITH gone AS (DELETE FROM esme_deliveries WHERE id IN (SELECT id FROM "
        "esme_deliveries WHERE created_at < $1 FOR UPDATE SKIP LOCKED) "
        "RETURNING system_id, kind, delivered_at) "
        "SELECT system_id, kind, count(*)::int FROM gone WHERE delivered_at IS NULL "
        "GROUP BY system_id, kind ORDER BY system_id, kind",
        before,
    )
    return _counts(tuple(r) for r in rows)


async def pending_deliveries(conn: Any) -> list[EsmeDeliveryCount]:
    rows = await conn.fetch(
        "SELECT system_id, kind, count(*)::int FROM esme_deliveries WHERE delivered_at IS NULL "
        "GROUP BY system_id, kind ORDER BY system_id, kind"
    )
    return _counts(tuple(r) for r in rows)
