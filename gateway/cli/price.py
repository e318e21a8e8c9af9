"""``smsgw price set PREFIX CREDITS_PER_SEGMENT [--account A] | list [--account A]``."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.accounting.ledger import parse_amount
from gateway.accounting.pricing import normalize_prefix
from gateway.cli.runtime import Context, emit_json, run, table


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("price", help="credits per segment by destination prefix")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    st = acts.add_parser(
        "set", parents=[common], help="set a price (default list, or one account's with --account)"
    )
    st.add_argument("prefix", help="+33, +3361...; * for every destination")
    st.add_argument("credits", help="credits per segment")
    st.add_argument("--account", help="this account's own list instead of the default")
    st.set_defaults(handler=_set)
    ls = acts.add_parser("list", parents=[common], help="the default list, or an account's")
    ls.add_argument("--account")
    ls.set_defaults(handler=_list)


def _set(args: argparse.Namespace) -> int:
    prefix = normalize_prefix(args.prefix)
    per_segment = parse_amount(args.credits, what="price")

    async def work(ctx: Context) -> int:
        price = await ctx.store.set_price(prefix, per_segment, account=args.account)
        if ctx.json:
            emit_json({"account": price.account, "prefix": price.prefix, "credits": price.credits})
        else:
            where = f"account {price.account}" if price.account else "default list"
            print(f"{price.prefix}: {price.credits} credits per segment ({where})")
        return 0

    return run(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        prices = await ctx.store.list_prices(account=args.account)
        if ctx.json:
            emit_json(
                {
                    "account": args.account,
                    "prices": [{"prefix": p.prefix, "credits": p.credits} for p in prices],
                }
            )
        else:
            table(["prefix", "credits"], [(p.prefix, p.credits) for p in prices])
        return 0

    return run(args, work)
