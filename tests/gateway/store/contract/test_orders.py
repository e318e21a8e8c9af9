"""Credit orders on every backend: pending -> paid (credits once, whatever the
concurrency) or cancelled (only while pending)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.accounting.orders import order_reference
from gateway.model.errors import NotFound, UserError
from gateway.model.orders import OrderConflict, OrderStatus
from gateway.model.records import EntryKind
from gateway.store.base import Store
from tests.clock import FakeClock


async def test_order_is_created_pending(any_store: Store, clock: FakeClock) -> None:
    await any_store.create_account("acme")
    order = await any_store.create_order("acme", 500)
    assert (order.account, order.credits, order.status) == ("acme", 500, OrderStatus.PENDING)
    assert (order.payment_ref, order.created_at, order.updated_at) == (None, clock.now, clock.now)
    assert await any_store.get_order(order.id) == order
    assert (await any_store.balance("acme")).balance == 0  # nothing credited yet


async def test_order_of_unknown_account_or_no_credits_is_refused(any_store: Store) -> None:
    with pytest.raises(NotFound, match="ghost"):
        await any_store.create_order("ghost", 500)
    await any_store.create_account("acme")
    with pytest.raises(UserError, match="below the minimum pack"):
        await any_store.create_order("acme", 0)
    assert await any_store.list_orders() == []


async def test_paid_order_credits_the_account_once(any_store: Store, clock: FakeClock) -> None:
    await any_store.create_account("acme")
    order = await any_store.create_order("acme", 500)
    clock.advance(60)
    payment = await any_store.pay_order(order.id, payment_ref="BANK-42")
    assert not payment.duplicate
    assert payment.order.status is OrderStatus.PAID
    assert (payment.order.payment_ref, payment.order.updated_at) == ("BANK-42", clock.now)
    entry = payment.entry
    assert entry is not None
    assert (entry.kind, entry.amount, entry.balance_after) == (EntryKind.TOPUP, 500, 500)
    assert entry.reference == order_reference(order.id)
    again = await any_store.pay_order(order.id, payment_ref="BANK-43")
    assert again.duplicate
    assert again.order == payment.order  # the first payment's reference stays
    assert again.entry == entry
    assert (await any_store.balance("acme")).balance == 500
    assert await any_store.history("acme") == [entry]
    assert await any_store.verify_ledger() == {}


async def test_many_paid_at_once_credit_once(any_store: Store) -> None:
    await any_store.create_account("acme")
    order = await any_store.create_order("acme", 300)
    other = await any_store.create_order("acme", 200)
    payments = await asyncio.gather(
        *(any_store.pay_order(o.id) for _ in range(15) for o in (order, other))
    )
    assert sum(not p.duplicate for p in payments) == 2
    assert {p.order.status for p in payments} == {OrderStatus.PAID}
    assert len({p.entry.id for p in payments if p.entry is not None}) == 2
    assert (await any_store.balance("acme")).balance == 500
    assert len(await any_store.history("acme")) == 2
    assert await any_store.verify_ledger() == {}


async def test_cancel_only_while_pending(any_store: Store, clock: FakeClock) -> None:
    await any_store.create_account("acme")
    order = await any_store.create_order("acme", 500)
    clock.advance(5)
    cancelled = await any_store.cancel_order(order.id)
    assert (cancelled.status, cancelled.updated_at) == (OrderStatus.CANCELLED, clock.now)
    with pytest.raises(OrderConflict, match=f"order {order.id} is already cancelled"):
        await any_store.cancel_order(order.id)
    with pytest.raises(OrderConflict, match=f"order {order.id} is cancelled: it cannot be paid"):
        await any_store.pay_order(order.id)
    assert (await any_store.balance("acme")).balance == 0
    paid = await any_store.create_order("acme", 100)
    await any_store.pay_order(paid.id)
    with pytest.raises(OrderConflict, match=f"order {paid.id} is paid: it cannot be cancelled"):
        await any_store.cancel_order(paid.id)
    assert (await any_store.get_order(paid.id)).status is OrderStatus.PAID


async def test_unknown_order_is_not_found(any_store: Store) -> None:
    for call in (any_store.get_order, any_store.pay_order, any_store.cancel_order):
        with pytest.raises(NotFound, match="no order 404"):
            await call(404)


async def test_list_orders_newest_first_by_account_and_status(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.create_account("beta")
    a1 = await any_store.create_order("acme", 100)
    b1 = await any_store.create_order("beta", 200)
    a2 = await any_store.create_order("acme", 300)
    await any_store.pay_order(a1.id)
    await any_store.cancel_order(b1.id)
    assert [o.id for o in await any_store.list_orders()] == [a2.id, b1.id, a1.id]
    assert [o.id for o in await any_store.list_orders(account="acme")] == [a2.id, a1.id]
    pending = await any_store.list_orders(status=OrderStatus.PENDING)
    assert [o.id for o in pending] == [a2.id]
    paid = await any_store.list_orders(account="acme", status=OrderStatus.PAID)
    assert [(o.id, o.status) for o in paid] == [(a1.id, OrderStatus.PAID)]
    assert await any_store.list_orders(account="beta", status=OrderStatus.PAID) == []
    assert [o.id for o in await any_store.list_orders(limit=1)] == [a2.id]
    with pytest.raises(NotFound, match="ghost"):
        await any_store.list_orders(account="ghost")
