"""The orders table's columns and rows as records, for every backend (the rules
of an order's states are gateway.accounting.orders')."""

from __future__ import annotations

from gateway.model.orders import Order, OrderStatus
from gateway.store.columns import Row

ORDER_COLUMNS = "id, account, credits, status, payment_ref, created_at, updated_at"
MAX_LIST = 10_000  # orders one list returns at most


def order_from(row: Row) -> Order:
    return Order(
        id=row[0],
        account=row[1],
        credits=row[2],
        status=OrderStatus(row[3]),
        payment_ref=row[4],
        created_at=row[5],
        updated_at=row[6],
    )


def list_limit(limit: int) -> int:
    return max(1, min(limit, MAX_LIST))
