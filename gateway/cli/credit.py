"""``smsgw credit add A AMOUNT --ref ORDER | show A | history A [--csv]``, and
``smsgw credit adjust A AMOUNT --reason R`` (a manual correction)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.accounting.journal import journal_csv
from gateway.accounting.ledger import parse_amount
from gateway.cli.runtime import Context, emit_json, fields, iso, parse_time, run, table
from gateway.model.records import LedgerEntry
from gateway.store.pages import journal_rows


def entry_doc(e: LedgerEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "date": iso(e.at),
        "kind": e.kind.value,
        "amount": e.amount,
        "balance_after": e.balance_after,
        "reference": e.reference,
        "message_id": e.message_id,
        "note": e.note,
    }


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("credit", help="credit ledger: top-ups, balance, journal")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = acts.add_parser("add", parents=[common], help="top up a pack (idempotent by --ref)")
    add.add_argument("account")
    add.add_argument("amount")
    add.add_argument(
        "--ref",
        required=True,
        metavar="ORDER_REF",
        help="order reference; the same reference credits once",
    )
    add.add_argument("--note", help="free text kept in the journal")
    add.set_defaults(handler=_add)
    show = acts.add_parser("show", parents=[common], help="balance and limits")
    show.add_argument("account")
    show.set_defaults(handler=_show)
    hist = acts.add_parser("history", parents=[common], help="the account's journal")
    hist.add_argument("account")
    hist.add_argument("--csv", action="store_true", help="CSV for accounting")
    hist.add_argument("--since", metavar="ISO8601", help="entries from this time on")
    hist.add_argument("--until", metavar="ISO8601", help="entries before this time")
    hist.add_argument("--limit", type=int, default=None, help="only the last N entries")
    hist.set_defaults(handler=_history)
    adj = acts.add_parser("adjust", parents=[common], help="manual correction with a reason")
    adj.add_argument("account")
    adj.add_argument("amount", help="signed credits, e.g. -20 or 50")
    adj.add_argument("--reason", required=True)
    adj.set_defaults(handler=_adjust)


def _add(args: argparse.Namespace) -> int:
    amount = parse_amount(args.amount)

    async def work(ctx: Context) -> int:
        result = await ctx.ledger.topup(args.account, amount, reference=args.ref, note=args.note)
        if ctx.json:
            emit_json({**entry_doc(result.entry), "duplicate": result.duplicate})
        elif result.duplicate:
            print(
                f"order {args.ref} was already credited ({result.entry.amount} credits "
                f"on {iso(result.entry.at)}); nothing changed"
            )
        else:
            print(f"credited {amount} to {args.account}: balance {result.entry.balance_after}")
        return 0

    return run(args, work)


def _show(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        b = await ctx.ledger.balance(args.account)
        doc = {
            "account": b.account,
            "balance": b.balance,
            "credit_limit": b.credit_limit,
            "available": b.available,
            "monthly_cap": b.monthly_cap,
            "month_spent": b.month_spent,
            "currency": "credits",
        }
        if ctx.json:
            emit_json(doc)
        else:
            fields(list(doc.items()))
        return 0

    return run(args, work)


def _history(args: argparse.Namespace) -> int:
    since = parse_time(args.since, what="--since") if args.since else None
    until = parse_time(args.until, what="--until") if args.until else None

    async def work(ctx: Context) -> int:
        entries = await ctx.store.history(args.account, limit=args.limit, since=since, until=until)
        if args.csv:
            sys.stdout.write(journal_csv(await journal_rows(ctx.store, entries)))
        elif ctx.json:
            emit_json({"account": args.account, "entries": [entry_doc(e) for e in entries]})
        else:
            table(
                ["date", "kind", "amount", "balance_after", "reference", "message_id", "note"],
                [
                    (
                        iso(e.at),
                        e.kind.value,
                        e.amount,
                        e.balance_after,
                        e.reference,
                        e.message_id,
                        e.note,
                    )
                    for e in entries
                ],
            )
        return 0

    return run(args, work)


def _adjust(args: argparse.Namespace) -> int:
    amount = parse_amount(args.amount, signed=True)

    async def work(ctx: Context) -> int:
        result = await ctx.ledger.adjust(args.account, amount, reason=args.reason)
        if ctx.json:
            emit_json(entry_doc(result.entry))
        else:
            print(f"adjusted {args.account} by {amount}: balance {result.entry.balance_after}")
        return 0

    return run(args, work)
