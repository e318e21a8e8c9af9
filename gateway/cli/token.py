"""``smsgw token create A [--name N] | list [A] | revoke [A] ID``: HTTP API tokens; with
``--operator``, operators' tokens (``create --operator NAME``, ``list --operator``,
``revoke --operator ID``), which act on any account through the operator routes
(README: HTTP API, operator tokens) and on no account's own routes.

A token is printed once, by ``create``; the store keeps its hash and its first
characters (``prefix``), so ``list`` shows which is which without any secret; an
account's token may have a name too (``--name``, a label: the rules in
gateway.store.accounts.check_token_name).
``revoke`` deletes an account's token, and marks an operator's revoked (its row
stays, so that the name in its log events still says which token it was): the
API reads tokens from the store again within a second (gateway.ingress.tokens),
so the running daemon (and its workers) refuse it from then on.
"""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.runtime import Context, emit_json, iso, run, table, whole_number
from gateway.model.errors import UserError
from gateway.model.records import ApiToken, OperatorToken


def token_doc(t: ApiToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "account": t.account,
        "name": t.name,
        "prefix": t.prefix,
        "created_at": iso(t.created_at),
    }


def operator_token_doc(t: OperatorToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "operator": t.name,
        "prefix": t.prefix,
        "created_at": iso(t.created_at),
        "revoked_at": None if t.revoked_at is None else iso(t.revoked_at),
    }


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("token", help="HTTP API tokens (accounts' and operators')")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = acts.add_parser(
        "create",
        parents=[common],
        help="create a token for an account, or with --operator NAME an operator's (shown once)",
    )
    c.add_argument("account", nargs="?", help="the account the token is for (not with --operator)")
    c.add_argument(
        "--operator",
        metavar="NAME",
        help="an operator token named NAME (its log events carry it): any account's "
        "operator routes, no account's own",
    )
    c.add_argument(
        "--name",
        metavar="N",
        help="a name for an account's token, shown in listings (1-64 printable characters; "
        "need not be unique)",
    )
    c.set_defaults(handler=_create)
    ls = acts.add_parser(
        "list",
        parents=[common],
        help="tokens (id, account, name, first characters), never the secrets",
    )
    ls.add_argument("account", nargs="?", help="only this account's (default: every account)")
    ls.add_argument(
        "--operator", action="store_true", help="the operators' tokens, revoked ones too"
    )
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
    rv.add_argument(
        "--operator",
        action="store_true",
        help="ID is an operator token's (`smsgw token list --operator`)",
    )
    rv.set_defaults(handler=_revoke)


def _create(args: argparse.Namespace) -> int:
    if (args.account is None) == (args.operator is None):
        raise UserError("token create takes an account, or --operator NAME")
    if args.operator is not None:
        if args.name is not None:
            raise UserError("token create --operator NAME takes no --name (NAME is its name)")
        return _create_operator(args)

    async def work(ctx: Context) -> int:
        record, token = await ctx.store.create_token(args.account, name=args.name)
        if ctx.json:
            emit_json(
                {"account": record.account, "id": record.id, "name": record.name, "token": token}
            )
        else:
            print(token)
        return 0

    return run(args, work)


def _create_operator(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        record, token = await ctx.store.create_operator_token(args.operator)
        if ctx.json:
            emit_json({"operator": record.name, "id": record.id, "token": token})
        else:
            print(token)
        return 0

    return run(args, work)


def _list(args: argparse.Namespace) -> int:
    if args.operator:
        if args.account is not None:
            raise UserError("token list --operator takes no account")
        return _list_operators(args)

    async def work(ctx: Context) -> int:
        tokens = await ctx.store.list_tokens(args.account)
        if ctx.json:
            emit_json({"tokens": [token_doc(t) for t in tokens]})
        else:
            table(
                ["id", "account", "name", "prefix", "created_at"],
                [(t.id, t.account, t.name, f"{t.prefix}…", iso(t.created_at)) for t in tokens],
            )
        return 0

    return run(args, work)


def _list_operators(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        tokens = await ctx.store.list_operator_tokens()
        if ctx.json:
            emit_json({"tokens": [operator_token_doc(t) for t in tokens]})
        else:
            table(
                ["id", "operator", "prefix", "created_at", "revoked_at"],
                [
                    (
                        t.id,
                        t.name,
                        f"{t.prefix}…",
                        iso(t.created_at),
                        "" if t.revoked_at is None else iso(t.revoked_at),
                    )
                    for t in tokens
                ],
            )
        return 0

    return run(args, work)


def _revoke(args: argparse.Namespace) -> int:
    target: list[str] = args.target
    if args.operator:
        if len(target) != 1:
            raise UserError("token revoke --operator takes an operator token's id")
        return _revoke_operator(args, whole_number(target[0], what="token id", low=1))
    if len(target) > 2:
        raise UserError("token revoke takes a token id, or an account and a token id")
    account = target[0] if len(target) == 2 else None
    token_id = whole_number(target[-1], what="token id", low=1)

    async def work(ctx: Context) -> int:
        record = await ctx.store.revoke_token(token_id, account=account)
        if ctx.json:
            emit_json({**token_doc(record), "revoked": True})
        else:
            named = "" if record.name is None else f" {record.name!r}"
            print(f"revoked token {record.id}{named} ({record.prefix}…) of {record.account}")
        return 0

    return run(args, work)


def _revoke_operator(args: argparse.Namespace, token_id: int) -> int:
    async def work(ctx: Context) -> int:
        record = await ctx.store.revoke_operator_token(token_id)
        if ctx.json:
            emit_json({**operator_token_doc(record), "revoked": True})
        else:
            print(f"revoked operator token {record.id} ({record.prefix}…) of {record.name}")
        return 0

    return run(args, work)
