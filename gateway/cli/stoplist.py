"""``smsgw stoplist add A +E164 | remove A +E164 | list A``: the numbers an account
does not send to (they replied a stop keyword, or an operator put them there)."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.runtime import Context, emit_json, iso, run, table
from gateway.model.orders import StopEntry
from gateway.store.stoplist import check_number


def stop_doc(e: StopEntry) -> dict[str, Any]:
    return {
        "account": e.account,
        "number": e.number,
        "source": e.source.value,
        "created_at": iso(e.created_at),
    }


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("stoplist", help="numbers that asked STOP: never sent to")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = acts.add_parser("add", parents=[common], help="stop sending to a number")
    add.add_argument("account")
    add.add_argument("number", metavar="+E164")
    add.set_defaults(handler=_add)
    rm = acts.add_parser("remove", parents=[common], help="send to a number again")
    rm.add_argument("account")
    rm.add_argument("number", metavar="+E164")
    rm.set_defaults(handler=_remove)
    ls = acts.add_parser("list", parents=[common], help="an account's stopped numbers")
    ls.add_argument("account")
    ls.set_defaults(handler=_list)


def _add(args: argparse.Namespace) -> int:
    number = check_number(args.number.strip())

    async def work(ctx: Context) -> int:
        entry, added = await ctx.store.add_stop(args.account, number)
        if ctx.json:
            emit_json({**stop_doc(entry), "added": added})
        elif added:
            print(f"{number} is on the stoplist of {args.account}: nothing is sent to it")
        else:
            print(
                f"{number} was already on the stoplist of {args.account} "
                f"(since {iso(entry.created_at)})"
            )
        return 0

    return run(args, work)


def _remove(args: argparse.Namespace) -> int:
    number = check_number(args.number.strip())

    async def work(ctx: Context) -> int:
        entry = await ctx.store.remove_stop(args.account, number)
        if ctx.json:
            emit_json({**stop_doc(entry), "removed": True})
        else:
            print(f"{number} is off the stoplist of {args.account}")
        return 0

    return run(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        entries = await ctx.store.list_stops(args.account)
        if ctx.json:
            emit_json({"account": args.account, "stoplist": [stop_doc(e) for e in entries]})
        else:
            table(
                ["number", "source", "since"],
                [(e.number, e.source.value, iso(e.created_at)) for e in entries],
            )
        return 0

    return run(args, work)
