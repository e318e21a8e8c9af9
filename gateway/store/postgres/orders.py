"""Credit orders on PostgreSQL, several daemons on one database.

Marking an order paid locks its row first (``FOR UPDATE``), then tops the
account up through the ledger (the account row locked in turn, the
reference ``order:ID`` unique per account) and marks it paid, all in the
store's one write transaction: "paid" sent many times at once, by any
daemons, waits on the row; the first credits, the others find the order paid.
"""

from __future__ import annotations

from typing import Any

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
from gateway.store.postgres import ledger
from gateway.store.postgres.admin import require_account

_SELECT = f"SELECT {ORDER_COLUMNS} FROM orders"  # noqa: S608 (constant column list)


async def create_order(conn: Any, account: str, amount: int, now: float) -> Order:
    check_pack(amount, 1)  # the minimum pack is the caller's: here, a whole pack
    await require_account(conn, account)
    order_id = await conn.fetchval(
        "INSERT INTO orders (account, credits, status, created_at, updated_at) "
        "VALUES ($1, $2, 'pending', $3, $3) RETURNING id",
        account,
        amount,
        now,
    )
    return Order(
        id=int(order_id),
        account=account,
        credits=amount,
        status=OrderStatus.PENDING,
        payment_ref=None,
        created_at=now,
        updated_at=now,
    )


async def get_order(conn: Any, order_id: int, *, lock: bool = False) -> Order:
    row = await conn.fetchrow(
        _SELECT + " WHERE id = $1" + (" FOR UPDATE" if lock else ""), order_id
    )
    if row is None:
        raise no_order(order_id)
    return order_from(row)


async def list_orders(
    conn: Any, account: str | None, status: OrderStatus | None, limit: int
) -> list[Order]:
    """Newest first."""
    if account is not None:
        await require_account(conn, account)
    rows = await conn.fetch(
        _SELECT + " WHERE ($1::text IS NULL OR account = $1) "
        "AND ($2::text IS NULL OR status = $2) ORDER BY id DESC LIMIT $3",
        account,
        None if status is None else status.value,
        list_limit(limit),
    )
    return [order_from(r) for r in rows]


async def pay_order(conn: Any, order_id: int, payment_ref: str | None, now: float) -> OrderPayment:
    order = await get_order(conn, order_id, lock=True)
    if not must_credit(order):
        return OrderPayment(order=order, entry=await _topup_of(conn, order), duplicate=True)
    result = await ledger.topup(
        conn,
        order.account,
        order.credits,
        reference=order_reference(order.id),
        note=order_note(order, payment_ref),
        now=now,
    )
    row = await conn.fetchrow(
        f"UPDATE orders SET status = 'paid', payment_ref = $1, updated_at = $2 "  # noqa: S608
        f"WHERE id = $3 RETURNING {ORDER_COLUMNS}",
        payment_ref,
        now,
        order.id,
    )
    return OrderPayment(order=order_from(row), entry=result.entry, crossing=result.crossing)


async def _topup_of(conn: Any, order: Order) -> LedgerEntry | None:
    row = await conn.fetchrow(
        f"SELECT {LEDGER_COLUMNS} FROM ledger "  # noqa: S608 (constant column list)
        "WHERE account = $1 AND reference = $2 AND kind = 'topup'",
        order.account,
        order_reference(order.id),
    )
    return None if row is None else entry_from(row)


async def cancel_order(conn: Any, order_id: int, now: float) -> Order:
    check_cancel(await get_order(conn, order_id, lock=True))
    row = await conn.fetchrow(
        f"UPDATE orders SET status = 'cancelled', updated_at = $1 "  # noqa: S608
        f"WHERE id = $2 RETURNING {ORDER_COLUMNS}",
        now,
        order_id,
    )
    return order_from(row)
