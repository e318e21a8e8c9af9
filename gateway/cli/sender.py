"""``smsgw sender add A SENDER [--kind K] | approve A SENDER | refuse A SENDER [--reason R]``
and ``smsgw sender list A``."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.runtime import Context, emit_json, iso, run, table
from gateway.ingress.senders import parse_sender, request_sender
from gateway.model.message import SenderKind, SenderStatus
from gateway.model.records import Sender


def sender_doc(s: Sender) -> dict[str, Any]:
    return {
        "account": s.account,
        "sender": s.value,
        "kind": s.kind.value,
        "status": s.status.value,
        "reason": s.reason,
        "request_reason": s.request_reason,
        "updated_at": iso(s.updated_at),
    }


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sender", help="sender names and numbers per account")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = acts.add_parser("add", parents=[common], help="register a sender (starts pending)")
    add.add_argument("account")
    add.add_argument("sender")
    add.add_argument(
        "--kind",
        choices=[k.value for k in SenderKind],
        help="alpha (1-11 GSM characters), shortcode (3-8 digits), number (E.164);"
        " guessed when omitted",
    )
    add.add_argument("--reason", help="why the account needs it (kept for the operator)")
    add.set_defaults(handler=_add)
    for name, status in (("approve", SenderStatus.APPROVED), ("refuse", SenderStatus.REFUSED)):
        q = acts.add_parser(name, parents=[common], help=f"{name} a sender")
        q.add_argument("account")
        q.add_argument("sender")
        if status is SenderStatus.REFUSED:
            q.add_argument("--reason", help="why (kept and shown to the account)")
        q.set_defaults(handler=_set_status, status=status)
    ls = acts.add_parser("list", parents=[common], help="an account's senders")
    ls.add_argument("account")
    ls.set_defaults(handler=_list)


def _print(ctx: Context, s: Sender) -> None:
    if ctx.json:
        emit_json(sender_doc(s))
    else:
        reason = f" ({s.reason})" if s.reason else ""
        print(f"{s.account} {s.value} [{s.kind.value}]: {s.status.value}{reason}")


def _add(args: argparse.Namespace) -> int:
    kind = SenderKind(args.kind) if args.kind else None
    parse_sender(args.sender, kind)  # refused before opening the store

    async def work(ctx: Context) -> int:
        added = await request_sender(
            ctx.store, args.account, args.sender, kind=kind, reason=args.reason
        )
        _print(ctx, added)
        return 0

    return run(args, work)


def _set_status(args: argparse.Namespace) -> int:
    value = parse_sender(args.sender).value

    async def work(ctx: Context) -> int:
        s = await ctx.store.set_sender_status(
            args.account, value, args.status, reason=getattr(args, "reason", None)
        )
        _print(ctx, s)
        return 0

    return run(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        senders = await ctx.store.list_senders(args.account)
        if ctx.json:
            emit_json({"account": args.account, "senders": [sender_doc(s) for s in senders]})
        else:
            table(
                ["sender", "kind", "status", "reason"],
                [(s.value, s.kind.value, s.status.value, s.reason) for s in senders],
            )
        return 0

    return run(args, work)
