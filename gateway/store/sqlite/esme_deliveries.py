"""Receipts and replies for ESMEs on SQLite (the rules: gateway.store.esme_deliveries).

Rows are added by the transaction whose change causes them
(:func:`write_deliveries`, called where status events and replies are
written). Taking them is one ``UPDATE ... RETURNING`` on the store's one
writer: two pumps of one daemon never take the same row while its lease runs.
"""

from __future__ import annotations

import sqlite3
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

_INSERT = (
    f"INSERT OR IGNORE INTO esme_deliveries ({INSERT_COLUMNS}) "  # noqa: S608 (constants)
    f"VALUES ({', '.join('?' * len(DeliveryRow._fields))})"
)
_KIND = {k.value: k for k in DeliveryKind}


def write_deliveries(conn: sqlite3.Connection, rows: Sequence[DeliveryRow]) -> None:
    if rows:
        conn.executemany(_INSERT, rows)


def mark_origins(conn: sqlite3.Connection, origins: Iterable[tuple[str, int, str]]) -> None:
    """(system_id, registered_delivery, message_id): the messages an ESME submitted."""
    conn.executemany(
        "UPDATE messages SET esme_system_id = ?, esme_registered_delivery = ? WHERE id = ?",
        origins,
    )


def add_replies(conn: sqlite3.Connection, m: InboundMessage, now: float) -> None:
    """A stored reply, one delivery per ESME credential of its account."""
    if m.account is None:
        return
    system_ids = [
        r[0]
        for r in conn.execute(
            "SELECT system_id FROM esme_credentials WHERE account = ? ORDER BY system_id",
            (m.account,),
        )
    ]
    write_deliveries(conn, reply_rows(m, system_ids, now))


def take_deliveries(
    conn: sqlite3.Connection, system_id: str, *, owner: str, limit: int, now: float, lease: float
) -> list[EsmeDelivery]:
    rows = conn.execute(
        "UPDATE esme_deliveries SET lease_owner = ?, lease_until = ? "  # noqa: S608 (constants)
        "WHERE id IN (SELECT id FROM esme_deliveries INDEXED BY esme_deliveries_due "
        "WHERE system_id = ? AND delivered_at IS NULL AND next_attempt_at <= ? "
        "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at, id LIMIT ?) "
        f"RETURNING {DELIVERY_COLUMNS}",
        (owner, now + lease, system_id, now, now, limit),
    ).fetchall()
    return [delivery_from(r) for r in sorted(rows, key=lambda r: r[0])]


def deliveries_done(conn: sqlite3.Connection, ids: Sequence[int], now: float) -> None:
    conn.executemany(
        "UPDATE esme_deliveries SET delivered_at = ?, lease_owner = NULL, lease_until = NULL "
        "WHERE id = ? AND delivered_at IS NULL",
        [(now, i) for i in ids],
    )


def delivery_retry(conn: sqlite3.Connection, delivery_id: int, at: float) -> None:
    conn.execute(
        "UPDATE esme_deliveries SET attempts = attempts + 1, next_attempt_at = ?, "
        "lease_owner = NULL, lease_until = NULL WHERE id = ? AND delivered_at IS NULL",
        (at, delivery_id),
    )


def release_deliveries(conn: sqlite3.Connection, owner: str, ids: Sequence[int]) -> int:
    if ids:
        marks = ",".join("?" * len(ids))
        cur = conn.execute(
            "UPDATE esme_deliveries SET lease_owner = NULL, lease_until = NULL "  # noqa: S608 (placeholders only)
            f"WHERE lease_owner = ? AND delivered_at IS NULL AND id IN ({marks})",
            (owner, *ids),
        )
    else:
        cur = conn.execute(
            "UPDATE esme_deliveries SET lease_owner = NULL, lease_until = NULL "
            "WHERE lease_owner = ? AND delivered_at IS NULL",
            (owner,),
        )
    return cur.rowcount


def _counts(rows: Iterable[Any]) -> list[EsmeDeliveryCount]:
    return [EsmeDeliveryCount(system_id=s, kind=_KIND[k], count=n) for s, k, n in rows]


def expire_deliveries(
    conn: sqlite3.Connection, before: float, delivered_before: float | None
) -> list[EsmeDeliveryCount]:
    """Deliveries stored before ``before`` and never delivered, deleted and counted;
    delivered ones that old, or delivered before ``delivered_before``, deleted too
    (not counted)."""
    if delivered_before is not None:
        conn.execute("DELETE FROM esme_deliveries WHERE delivered_at < ?", (delivered_before,))
    gone: dict[tuple[str, str], int] = {}
    for system_id, kind, delivered in conn.execute(
        "DELETE FROM esme_deliveries WHERE created_at < ? "
        "RETURNING system_id, kind, delivered_at IS NOT NULL",
        (before,),
    ):
        if not delivered:
            gone[(system_id, kind)] = gone.get((system_id, kind), 0) + 1
    return _counts((s, k, n) for (s, k), n in sorted(gone.items()))


def pending_deliveries(conn: sqlite3.Connection) -> list[EsmeDeliveryCount]:
    return _counts(
        conn.execute(
            "SELECT system_id, kind, count(*) FROM esme_deliveries WHERE delivered_at IS NULL "
            "GROUP BY system_id, kind ORDER BY system_id, kind"
        )
    )
