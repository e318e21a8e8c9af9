"""``smsgw token create A | list [A] | revoke [A] ID``: HTTP API tokens.

A token is printed once, by ``create``; the store keeps its hash and its first
characters (``prefix``), so ``list`` shows which is which without any secret.
``revoke`` deletes it: the API reads tokens from the store at every request,
so the running daemon (and its workers) refuse it from the next request on.
"""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.runtime import Context, emit_json, iso, run, table, whole_number
from gateway.model.errors import UserError
from gateway.model.records import ApiToken


def token_doc(t: ApiToken) -> dict[str, Any]:
    return {"id": t.id, "account": t.account, "prefix": t.prefix, "created_at": iso(t.created_at)}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("token", help="HTTP API tokens")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = acts.add_parser(
        "create", parents=[common], help="create a token for an account (shown once)"
    )
    c.add_argument("account")
    c.set_defaults(handler=_create)
    ls = acts.add_parser(
        "list", parents=[common], help="tokens (id, account, first characters), never the secrets"
    )
    ls.add_argument("account", nargs="?", help="only this account's (default: every account)")
    ls.set_defaults(handler=_list)
    rv = acts.add_parser(
        "revoke",
        parents=[common],
        help="revoke a token: the API refuses it from the next request on",
    )
    rv.add_argument(
        "target",
        nargs="+",
        metavar="[ACCOUNT] ID",
        help="the token's id (`smsgw token list`), after its account if given",
    )
    rv.set_defaults(handler=_revoke)


def _create(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        record, token = await ctx.store.create_token(args.account)
        if ctx.json:
            emit_json({"account": record.account, "id": record.id, "token": token})
        else:
            print(token)
        return 0

    return run(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        tokens = await ctx.store.list_tokens(args.account)
        if ctx.json:
            emit_json({"tokens": [token_doc(t) for t in tokens]})
        else:
            table(
                ["id", "account", "prefix", "created_at"],
                [(t.id, t.account, f"{t.prefix}…", iso(t.created_at)) for t in tokens],
            )
        return 0

    return run(args, work)


def _revoke(args: argparse.Namespace) -> int:
    target: list[str] = args.target
    if len(target) > 2:
        raise UserError("token revoke takes a token id, or an account and a token id")
    account = target[0] if len(target) == 2 else None
    token_id = whole_number(target[-1], what="token id", low=1)

    async def work(ctx: Context) -> int:
        record = await ctx.store.revoke_token(token_id, account=account)
        if ctx.json:
            emit_json({**token_doc(record), "revoked": True})
        else:
            print(f"revoked token {record.id} ({record.prefix}…) of {record.account}")
        return 0

    return run(args, work)
