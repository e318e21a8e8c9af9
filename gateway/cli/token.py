"""``smsgw token create A``: a new API token, printed once (only its hash is stored)."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.runtime import Context, emit_json, run


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("token", help="HTTP API tokens")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = acts.add_parser("create", parents=[common],
                        help="create a token for an account (shown once)")
    c.add_argument("account")
    c.set_defaults(handler=_create)


def _create(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        record, token = await ctx.store.create_token(args.account)
        if ctx.json:
            emit_json({"account": record.account, "id": record.id, "token": token})
        else:
            print(token)
        return 0
    return run(args, work)
