"""``smsgw message show ID | list [--account A] [--status S] [--since T] | cancel ID``."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.runtime import Context, emit_json, fields, iso, parse_time, run, table
from gateway.model.message import MessageState
from gateway.model.records import Message, MessageView


def message_doc(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "account": m.account,
        "from": m.sender,
        "to": m.destination,
        "state": m.state.value,
        "encoding": m.encoding,
        "segments": m.segments,
        "credits": m.credits,
        "class": m.msg_class.value,
        "priority": m.priority,
        "send_at": iso(m.send_at),
        "validity": m.validity,
        "client_ref": m.client_ref,
        "attempts": m.attempts,
        "error": m.error,
        "created_at": iso(m.created_at),
        "updated_at": iso(m.updated_at),
    }


def view_doc(v: MessageView) -> dict[str, Any]:
    return {
        **message_doc(v.message),
        "text": v.message.text,
        "segment_states": [
            {
                "index": s.index,
                "state": s.state.value,
                "smsc_id": s.smsc_id,
                "link": s.link,
                "submitted_at": iso(s.submitted_at),
                "receipt": s.receipt_state.value if s.receipt_state else None,
                "error": s.error,
            }
            for s in v.segments
        ],
    }


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("message", help="show, list and cancel messages")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sh = acts.add_parser("show", parents=[common], help="one message and its segments")
    sh.add_argument("id")
    sh.set_defaults(handler=_show)
    ls = acts.add_parser("list", parents=[common], help="messages, newest first")
    ls.add_argument("--account")
    ls.add_argument("--status", choices=[s.value for s in MessageState])
    ls.add_argument("--since", metavar="ISO8601", help="created at or after this time")
    ls.add_argument("--limit", type=int, default=100)
    ls.set_defaults(handler=_list)
    c = acts.add_parser(
        "cancel", parents=[common], help="cancel a queued message and refund its credit"
    )
    c.add_argument("id")
    c.set_defaults(handler=_cancel)


def _show(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        view = await ctx.store.get_message(args.id)
        doc = view_doc(view)
        if ctx.json:
            emit_json(doc)
            return 0
        fields([(k, v) for k, v in doc.items() if k != "segment_states"])
        print()
        table(
            ["segment", "state", "smsc_id", "link", "submitted_at", "receipt", "error"],
            [
                (
                    s["index"],
                    s["state"],
                    s["smsc_id"],
                    s["link"],
                    s["submitted_at"],
                    s["receipt"],
                    s["error"],
                )
                for s in doc["segment_states"]
            ],
        )
        return 0

    return run(args, work)


def _list(args: argparse.Namespace) -> int:
    since = parse_time(args.since, what="--since") if args.since else None
    state = MessageState(args.status) if args.status else None

    async def work(ctx: Context) -> int:
        msgs = await ctx.store.list_messages(
            account=args.account, state=state, since=since, limit=args.limit
        )
        if ctx.json:
            emit_json({"messages": [message_doc(m) for m in msgs]})
        else:
            table(
                ["id", "account", "to", "state", "segments", "credits", "created_at"],
                [
                    (
                        m.id,
                        m.account,
                        m.destination,
                        m.state.value,
                        m.segments,
                        m.credits,
                        iso(m.created_at),
                    )
                    for m in msgs
                ],
            )
        return 0

    return run(args, work)


def _cancel(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        changes = await ctx.store.cancel(args.id)
        for change in changes.changes:
            if change.new.final:
                ctx.metrics.message_finished(account=change.account, status=change.new.value)
        refunded = sum(e.amount for e in changes.refunds)
        if ctx.json:
            emit_json({"id": args.id, "state": MessageState.CANCELLED.value, "refunded": refunded})
        else:
            print(f"cancelled {args.id}; refunded {refunded} credits")
        return 0

    return run(args, work)
