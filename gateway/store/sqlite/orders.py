"""Credit orders on SQLite; the writing functions run inside the writer's transaction
(one writer: an order's "paid" and its top-up are one transaction, never two at once)."""

from __future__ import annotations

import sqlite3

from gateway.accounting.orders import (
    check_cancel,
    check_pack,
    must_credit,
    no_order,
    order_note,
    order_reference,
)
from gateway.model.orders import Order, OrderPayment, OrderStatus
from gateway.model.records import LedgerEntry
from gateway.store.columns import LEDGER_COLUMNS, entry_from
from gateway.store.orders import ORDER_COLUMNS, list_limit, order_from
from gateway.store.sqlite import ledger
from gateway.store.sqlite.rows import require_account

_SELECT = f"SELECT {ORDER_COLUMNS} FROM orders"  # noqa: S608 (constant column list)


def create_order(conn: sqlite3.Connection, account: str, amount: int, now: float) -> Order:
    check_pack(amount, 1)  # the minimum pack is the caller's: here, a whole pack
    require_account(conn, account)
    cur = conn.execute(
        "INSERT INTO orders (account, credits, status, created_at, updated_at) "
        "VALUES (?, ?, 'pending', ?, ?)",
        (account, amount, now, now),
    )
    return Order(
        id=int(cur.lastrowid or 0),
        account=account,
        credits=amount,
        status=OrderStatus.PENDING,
        payment_ref=None,
        created_at=now,
        updated_at=now,
    )


def get_order(conn: sqlite3.Connection, order_id: int) -> Order:
    row = conn.execute(_SELECT + " WHERE id = ?", (order_id,)).fetchone()
    if row is None:
        raise no_order(order_id)
    return order_from(row)


def list_orders(
    conn: sqlite3.Connection, account: str | None, status: OrderStatus | None, limit: int
) -> list[Order]:
    """Newest first."""
    if account is not None:
        require_account(conn, account)
    rows = conn.execute(
        _SELECT + " WHERE (? IS NULL OR account = ?) AND (? IS NULL OR status = ?) "
        "ORDER BY id DESC LIMIT ?",
        (account, account, status and status.value, status and status.value, list_limit(limit)),
    ).fetchall()
    return [order_from(r) for r in rows]


def pay_order(
    conn: sqlite3.Connection, order_id: int, payment_ref: str | None, now: float
) -> OrderPayment:
    order = get_order(conn, order_id)
    if not must_credit(order):
        return OrderPayment(order=order, entry=_topup_of(conn, order), duplicate=True)
    result = ledger.topup(
        conn,
        order.account,
        order.credits,
        reference=order_reference(order.id),
        note=order_note(order, payment_ref),
        now=now,
    )
    conn.execute(
        "UPDATE orders SET status = 'paid', payment_ref = ?, updated_at = ? WHERE id = ?",
        (payment_ref, now, order.id),
    )
    paid = get_order(conn, order.id)
    return OrderPayment(order=paid, entry=result.entry, crossing=result.crossing)


def _topup_of(conn: sqlite3.Connection, order: Order) -> LedgerEntry | None:
    row = conn.execute(
        f"SELECT {LEDGER_COLUMNS} FROM ledger "  # noqa: S608 (constant column list)
        "WHERE account = ? AND reference = ? AND kind = 'topup'",
        (order.account, order_reference(order.id)),
    ).fetchone()
    return None if row is None else entry_from(row)


def cancel_order(conn: sqlite3.Connection, order_id: int, now: float) -> Order:
    order = get_order(conn, order_id)
    check_cancel(order)
    conn.execute(
        "UPDATE orders SET status = 'cancelled', updated_at = ? WHERE id = ?", (now, order_id)
    )
    return get_order(conn, order_id)
