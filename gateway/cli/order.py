"""``smsgw order create A CREDITS | paid ORDER_ID [--ref PAYMENT_REF] | cancel ORDER_ID``
and ``smsgw order list [--account A] [--status S]``: credit orders (packs of at
least ``[ledger] min_topup``), credited once when paid (gateway.accounting.orders)."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.accounting.ledger import parse_amount
from gateway.accounting.orders import Orders
from gateway.cli.runtime import SQLITE_MAX_INT, Context, emit_json, iso, run, table, whole_number
from gateway.model.orders import Order, OrderStatus


def order_doc(o: Order) -> dict[str, Any]:
    return {
        "id": o.id,
        "account": o.account,
        "credits": o.credits,
        "status": o.status.value,
        "payment_ref": o.payment_ref,
        "created_at": iso(o.created_at),
        "updated_at": iso(o.updated_at),
    }


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("order", help="credit orders: packs paid once, then credited")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = acts.add_parser("create", parents=[common], help="order a pack (state pending)")
    create.add_argument("account")
    create.add_argument("credits", help="credits of the pack ([ledger] min_topup at least)")
    create.set_defaults(handler=_create)
    paid = acts.add_parser(
        "paid", parents=[common], help="mark paid: credits the account once (idempotent)"
    )
    paid.add_argument("order_id", metavar="ORDER_ID")
    paid.add_argument("--ref", metavar="PAYMENT_REF", help="the payment's reference (kept)")
    paid.set_defaults(handler=_paid)
    cancel = acts.add_parser("cancel", parents=[common], help="cancel a pending order")
    cancel.add_argument("order_id", metavar="ORDER_ID")
    cancel.set_defaults(handler=_cancel)
    ls = acts.add_parser("list", parents=[common], help="orders, newest first")
    ls.add_argument("--account")
    ls.add_argument("--status", choices=[s.value for s in OrderStatus])
    ls.add_argument("--limit", type=int, default=100, help="at most N orders (default 100)")
    ls.set_defaults(handler=_list)


def _orders(ctx: Context) -> Orders:
    return Orders(store=ctx.store, min_pack=ctx.config.ledger.min_topup, log=ctx.log)


def _order_id(raw: str) -> int:
    return whole_number(raw, what="order id", low=1, high=SQLITE_MAX_INT)


def _create(args: argparse.Namespace) -> int:
    amount = parse_amount(args.credits, what="number of credits")

    async def work(ctx: Context) -> int:
        o = await _orders(ctx).create(args.account, amount)
        if ctx.json:
            emit_json(order_doc(o))
        else:
            print(f"order {o.id}: {o.credits} credits for {o.account}, pending payment")
        return 0

    return run(args, work)


def _paid(args: argparse.Namespace) -> int:
    order_id = _order_id(args.order_id)

    async def work(ctx: Context) -> int:
        payment = await _orders(ctx).paid(order_id, payment_ref=args.ref)
        o, entry = payment.order, payment.entry
        if ctx.json:
            emit_json(
                {
                    **order_doc(o),
                    "duplicate": payment.duplicate,
                    "balance_after": entry.balance_after if entry else None,
                }
            )
        elif payment.duplicate:
            print(f"order {o.id} was already paid on {iso(o.updated_at)}; nothing changed")
        else:
            balance = entry.balance_after if entry else "?"
            print(f"order {o.id} paid: credited {o.credits} to {o.account}: balance {balance}")
        return 0

    return run(args, work)


def _cancel(args: argparse.Namespace) -> int:
    order_id = _order_id(args.order_id)

    async def work(ctx: Context) -> int:
        o = await _orders(ctx).cancel(order_id)
        if ctx.json:
            emit_json(order_doc(o))
        else:
            print(f"order {o.id} cancelled ({o.credits} credits for {o.account})")
        return 0

    return run(args, work)


def _list(args: argparse.Namespace) -> int:
    status = OrderStatus(args.status) if args.status else None

    async def work(ctx: Context) -> int:
        found = await _orders(ctx).list(account=args.account, status=status, limit=args.limit)
        if ctx.json:
            emit_json({"orders": [order_doc(o) for o in found]})
        else:
            table(
                ["id", "account", "credits", "status", "payment_ref", "created_at", "updated_at"],
                [
                    (
                        o.id,
                        o.account,
                        o.credits,
                        o.status.value,
                        o.payment_ref,
                        iso(o.created_at),
                        iso(o.updated_at) if o.status is not OrderStatus.PENDING else None,
                    )
                    for o in found
                ],
            )
        return 0

    return run(args, work)
