"""``smsgw inbound list [--account A]``: replies received (newest first)."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.runtime import Context, emit_json, iso, run, table


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("inbound", help="replies (MO messages) received")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = acts.add_parser("list", parents=[common], help="list replies, newest first")
    ls.add_argument("--account")
    ls.add_argument("--limit", type=int, default=100)
    ls.set_defaults(handler=_list)


def _list(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        items = await ctx.store.list_inbound(account=args.account, limit=args.limit)
        if ctx.json:
            emit_json(
                {
                    "inbound": [
                        {
                            "id": m.id,
                            "account": m.account,
                            "link": m.link,
                            "from": m.source,
                            "to": m.destination,
                            "text": m.text,
                            "received_at": iso(m.received_at),
                        }
                        for m in items
                    ]
                }
            )
        else:
            table(
                ["received_at", "account", "from", "to", "text"],
                [
                    (
                        iso(m.received_at),
                        m.account,
                        m.source,
                        m.destination,
                        m.text if len(m.text) <= 60 else m.text[:57] + "...",
                    )
                    for m in items
                ],
            )
        return 0

    return run(args, work)
