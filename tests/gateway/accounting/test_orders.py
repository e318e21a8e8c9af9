"""Credit orders: the pack rule, payment references, what the service logs."""

from __future__ import annotations

import pytest
import structlog
from structlog.testing import capture_logs

from gateway.accounting.orders import Orders, check_pack, check_payment_ref, order_reference
from gateway.model.errors import UserError
from gateway.model.orders import BelowMinPack, OrderStatus
from gateway.store.sqlite.store import SqliteStore


@pytest.fixture
def orders(store: SqliteStore) -> Orders:
    return Orders(store=store, min_pack=250, log=structlog.get_logger())


def test_a_pack_is_at_least_the_minimum() -> None:
    assert check_pack(250, 250) == 250
    with pytest.raises(BelowMinPack, match="below the minimum pack of 250 credits"):
        check_pack(249, 250)
    with pytest.raises(UserError, match="at most"):
        check_pack(10**16, 1)


def test_payment_references() -> None:
    assert check_payment_ref(None) is None
    assert check_payment_ref("  BANK 42 ") == "BANK 42"
    for bad in ("", "   ", "x" * 101, "a\nb"):
        with pytest.raises(UserError, match="bad payment reference"):
            check_payment_ref(bad)
    assert order_reference(17) == "order:17"


async def test_below_the_minimum_pack_nothing_is_stored(store: SqliteStore, orders: Orders) -> None:
    await store.create_account("acme")
    with pytest.raises(BelowMinPack):
        await orders.create("acme", 100)
    assert await orders.list() == []


async def test_paid_is_logged_once(store: SqliteStore, orders: Orders) -> None:
    await store.create_account("acme")
    order = await orders.create("acme", 300)
    with capture_logs() as logs:
        first = await orders.paid(order.id, payment_ref=" BANK-1 ")
        await orders.paid(order.id)
    assert first.order.payment_ref == "BANK-1"
    assert [(e["event"], e["order"], e["balance"]) for e in logs] == [("order_paid", order.id, 300)]
    assert [o.status for o in await orders.list(account="acme")] == [OrderStatus.PAID]
