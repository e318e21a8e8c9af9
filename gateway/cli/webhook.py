"""``smsgw webhook list | retry``: status webhooks still being tried or given up."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.runtime import Context, emit_json, iso, run, table
from gateway.model.errors import UserError

STATES = ("pending", "failed")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("webhook", help="status webhooks being retried or given up")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = acts.add_parser(
        "list", parents=[common], help="webhooks not delivered yet (pending) or given up (failed)"
    )
    ls.add_argument("--account")
    ls.add_argument("--state", choices=STATES, default=None)
    ls.add_argument("--limit", type=int, default=100)
    ls.set_defaults(handler=_list)
    rt = acts.add_parser(
        "retry", parents=[common], help="try given-up webhooks again (the daemon sends them)"
    )
    rt.add_argument("ids", nargs="*", type=int, metavar="ID")
    rt.add_argument("--account", help="every failed webhook of this account")
    rt.add_argument("--all", action="store_true", help="every failed webhook")
    rt.set_defaults(handler=_retry)


def _list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UserError(f"--limit {args.limit}: at least 1")

    async def work(ctx: Context) -> int:
        if args.account is not None:
            await ctx.store.get_account(args.account)  # an unknown one is an error
        rows = await ctx.store.list_webhooks(
            account=args.account, state=args.state, limit=args.limit
        )
        if ctx.json:
            emit_json(
                {
                    "webhooks": [
                        {
                            "id": w.id,
                            "account": w.account,
                            "url": w.url,
                            "message_id": w.message_id,
                            "event": w.event_state,
                            "state": w.state,
                            "attempts": w.attempts,
                            "next_at": iso(w.next_at) if w.state == "pending" else None,
                            "last_error": w.last_error,
                            "created_at": iso(w.created_at),
                        }
                        for w in rows
                    ]
                }
            )
        else:
            table(
                [
                    "id",
                    "created_at",
                    "account",
                    "message",
                    "event",
                    "state",
                    "attempts",
                    "last_error",
                ],
                [
                    (
                        w.id,
                        iso(w.created_at),
                        w.account,
                        w.message_id,
                        w.event_state,
                        w.state,
                        w.attempts,
                        w.last_error,
                    )
                    for w in rows
                ],
            )
        return 0

    return run(args, work)


def _retry(args: argparse.Namespace) -> int:
    if bool(args.ids) + bool(args.account) + args.all != 1:
        raise UserError("say which webhooks: IDs, --account ACCOUNT or --all")

    async def work(ctx: Context) -> int:
        if args.account is not None:
            await ctx.store.get_account(args.account)
        count = await ctx.store.retry_webhooks(args.ids, account=args.account)
        if ctx.json:
            emit_json({"retried": count})
        else:
            print(f"{count} webhook(s) will be tried again by the daemon")
        return 0

    return run(args, work)
