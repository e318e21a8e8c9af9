"""Credit orders: the rules every store backend calls, and the service over a store.

A customer orders a pack (at least the smallest pack, ``[ledger] min_topup``);
the order waits ``pending`` until an operator marks it paid, which credits
the account through the ledger's top-up with the reference ``order:ID``, in
the transaction that marks it paid. The order's row is locked first
(PostgreSQL ``FOR UPDATE``; SQLite's one writer), so any number of "paid" at
once, from any daemons, credit once: the first credits, the others find it
paid and change nothing. A pending order may be cancelled; a paid or
cancelled one stays as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from gateway.accounting.ledger import DEFAULT_MIN_TOPUP, MAX_AMOUNT
from gateway.model.errors import NotFound, UserError
from gateway.model.orders import BelowMinPack, Order, OrderConflict, OrderPayment, OrderStatus

__all__ = [
    "MAX_PAYMENT_REF",
    "OrderStore",
    "Orders",
    "check_cancel",
    "check_pack",
    "check_payment_ref",
    "must_credit",
    "no_order",
    "order_note",
    "order_reference",
]

MAX_PAYMENT_REF = 100


def check_pack(amount: int, min_pack: int = DEFAULT_MIN_TOPUP) -> int:
    """``amount`` (credits) if it is a pack that can be ordered, else a one-line error."""
    if amount < min_pack:
        msg = (
            f"an order of {amount} credits is below the minimum pack of "
            f"{min_pack} credits ([ledger] min_topup)"
        )
        raise BelowMinPack(msg)
    if amount > MAX_AMOUNT:
        raise UserError(f"an order of {amount} credits: at most {MAX_AMOUNT:,} credits")
    return amount


def check_payment_ref(ref: str | None) -> str | None:
    if ref is None:
        return None
    text = ref.strip()
    if not 0 < len(text) <= MAX_PAYMENT_REF or not text.isprintable():
        msg = f"bad payment reference {ref[:40]!r}: 1 to {MAX_PAYMENT_REF} printable characters"
        raise UserError(msg)
    return text


def order_reference(order_id: int) -> str:
    """The ledger top-up reference of an order: unique per account, so it credits once."""
    return f"order:{order_id}"


def order_note(order: Order, payment_ref: str | None) -> str:
    return f"order {order.id}" + (f", payment {payment_ref}" if payment_ref else "")


def no_order(order_id: int) -> NotFound:
    return NotFound(f"no order {order_id}: see `smsgw order list`")


def must_credit(order: Order) -> bool:
    """Marking ``order`` paid: True when it is pending (credit it now), False when it
    is paid already (nothing to do); a cancelled order is refused."""
    if order.status is OrderStatus.PENDING:
        return True
    if order.status is OrderStatus.PAID:
        return False
    msg = f"order {order.id} is cancelled: it cannot be paid (create a new order)"
    raise OrderConflict(msg)


def check_cancel(order: Order) -> None:
    """Only a pending order is cancelled."""
    if order.status is OrderStatus.CANCELLED:
        raise OrderConflict(f"order {order.id} is already cancelled")
    if order.status is OrderStatus.PAID:
        msg = (
            f"order {order.id} is paid: it cannot be cancelled "
            "(correct the balance with `smsgw credit adjust`)"
        )
        raise OrderConflict(msg)


class OrderStore(Protocol):
    """What :class:`Orders` needs of a store (:class:`gateway.store.base.Store` has it)."""

    async def create_order(self, account: str, amount: int) -> Order: ...
    async def get_order(self, order_id: int) -> Order: ...
    async def list_orders(
        self,
        *,
        account: str | None = None,
        status: OrderStatus | None = None,
        limit: int = 100,
    ) -> list[Order]: ...
    async def pay_order(self, order_id: int, *, payment_ref: str | None = None) -> OrderPayment: ...
    async def cancel_order(self, order_id: int) -> Order: ...


class Orders:
    """Orders for every front door (CLI, HTTP API, console): the pack rule, logs."""

    def __init__(self, *, store: OrderStore, min_pack: int = DEFAULT_MIN_TOPUP, log: Any) -> None:
        self._store = store
        self.min_pack = min_pack
        self._log = log

    async def create(self, account: str, amount: int) -> Order:
        order = await self._store.create_order(account, check_pack(amount, self.min_pack))
        self._log.info("order_created", account=account, order=order.id, credits=amount)
        return order

    async def paid(self, order_id: int, *, payment_ref: str | None = None) -> OrderPayment:
        payment = await self._store.pay_order(order_id, payment_ref=check_payment_ref(payment_ref))
        if not payment.duplicate:
            self._log.info(
                "order_paid",
                account=payment.order.account,
                order=order_id,
                credits=payment.order.credits,
                balance=payment.entry.balance_after if payment.entry else None,
            )
        if payment.crossing is not None:
            c = payment.crossing
            self._log.warning(
                "credit_low_crossed",
                account=c.account,
                balance=c.balance,
                alert_below=c.alert_below,
            )
        return payment

    async def cancel(self, order_id: int, *, account: str | None = None) -> Order:
        """Cancel a pending order; with ``account`` (a customer's own cancel), an
        order of another account is not found."""
        if account is not None:
            try:
                mine = (await self._store.get_order(order_id)).account == account
            except NotFound:
                mine = False
            if not mine:
                raise NotFound(f"no order {order_id} in account {account}")
        order = await self._store.cancel_order(order_id)
        self._log.info("order_cancelled", account=order.account, order=order_id)
        return order

    async def get(self, order_id: int) -> Order:
        return await self._store.get_order(order_id)

    async def list(
        self,
        *,
        account: str | None = None,
        status: OrderStatus | None = None,
        limit: int = 100,
    ) -> Sequence[Order]:
        return await self._store.list_orders(account=account, status=status, limit=limit)
