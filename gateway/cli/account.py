"""``smsgw account create A | list | show A | set A [--credit-limit N] [--monthly-cap N]
[--alert-below N] | webhook-secret A [--rotate]``."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.runtime import Context, emit_json, fields, iso, run, table
from gateway.model.errors import UserError
from gateway.model.records import Account
from gateway.store.accounts import account_limits


def account_doc(a: Account) -> dict[str, Any]:
    return {
        "account": a.name,
        "balance": a.balance,
        "credit_limit": a.credit_limit,
        "available": a.available,
        "monthly_cap": a.monthly_cap,
        "month": a.month,
        "month_spent": a.month_spent,
        "alert_below": a.alert_below,
        "created_at": iso(a.created_at),
    }


def _show(ctx: Context, a: Account) -> None:
    if ctx.json:
        emit_json(account_doc(a))
    else:
        fields(list(account_doc(a).items()))


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("account", help="customer accounts")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = acts.add_parser("create", parents=[common], help="create an account")
    c.add_argument("account")
    c.set_defaults(handler=_create)
    ls = acts.add_parser("list", parents=[common], help="list accounts")
    ls.set_defaults(handler=_list)
    sh = acts.add_parser("show", parents=[common], help="one account's settings and balance")
    sh.add_argument("account")
    sh.set_defaults(handler=_show_cmd)
    st = acts.add_parser("set", parents=[common], help="change an account's limits")
    st.add_argument("account")
    st.add_argument(
        "--credit-limit", metavar="N", help="how far below zero the balance may go (postpaid)"
    )
    st.add_argument(
        "--monthly-cap", metavar="N|none", help="credits per calendar month (UTC); none = no cap"
    )
    st.add_argument(
        "--alert-below", metavar="N|none", help="low-balance alert threshold; none = no alert"
    )
    st.set_defaults(handler=_set)
    ws = acts.add_parser(
        "webhook-secret",
        parents=[common],
        help="the key that signs the account's webhooks (HMAC-SHA256)",
    )
    ws.add_argument("account")
    ws.add_argument(
        "--rotate",
        action="store_true",
        help="replace it with a new one (receivers must be given the new one)",
    )
    ws.set_defaults(handler=_webhook_secret)


def _create(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        _show(ctx, await ctx.store.create_account(args.account))
        return 0

    return run(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        accounts = await ctx.store.list_accounts()
        if ctx.json:
            emit_json({"accounts": [account_doc(a) for a in accounts]})
        else:
            table(
                ["account", "balance", "credit_limit", "monthly_cap", "alert_below"],
                [
                    (a.name, a.balance, a.credit_limit, a.monthly_cap, a.alert_below)
                    for a in accounts
                ],
            )
        return 0

    return run(args, work)


def _show_cmd(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        _show(ctx, await ctx.store.get_account(args.account))
        return 0

    return run(args, work)


def _set(args: argparse.Namespace) -> int:
    if args.credit_limit is None and args.monthly_cap is None and args.alert_below is None:
        raise UserError("nothing to set: give --credit-limit, --monthly-cap or --alert-below")
    credit_limit, monthly_cap, alert_below = account_limits(
        args.credit_limit, args.monthly_cap, args.alert_below
    )

    async def work(ctx: Context) -> int:
        a = await ctx.store.set_account(
            args.account,
            credit_limit=credit_limit,
            monthly_cap=monthly_cap,
            alert_below=alert_below,
        )
        _show(ctx, a)
        return 0

    return run(args, work)


def _webhook_secret(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        if args.rotate:
            secret = await ctx.store.rotate_webhook_secret(args.account)
        else:
            secret = (await ctx.store.webhook_secret(args.account)).decode()
        if ctx.json:
            emit_json(
                {"account": args.account, "webhook_secret": secret, "rotated": bool(args.rotate)}
            )
        else:
            print(secret)
        return 0

    return run(args, work)
