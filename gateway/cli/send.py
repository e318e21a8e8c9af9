"""``smsgw send``: validate, price, debit and enqueue; prints one message id per line.

Recipients come from ``--to`` (repeatable), ``--to-file`` (CSV, number in the
first column) and ``--phonebook``; duplicates are sent once. Invalid rows of
a file are reported by line on stderr and skipped. Exit 0 when every
recipient was enqueued, 3 when some were and others were refused (insufficient
credit, no price, an invalid row of the file...), 1 when none was: the ids
printed are those enqueued, the refusals are on stderr (README: exit codes).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from gateway.cli.phonebook import report_rows
from gateway.cli.runtime import Context, bulk_exit, emit_json, parse_time, run
from gateway.ingress.http_shapes import quote_json
from gateway.ingress.pipeline import Quote, SendRequest, SendResult, SendService
from gateway.ingress.recipient_csv import read_recipient_file
from gateway.ingress.recipients import merge_recipients, normalize_e164
from gateway.model.errors import InvalidRecipient, UserError
from gateway.model.message import MessageClass

SHOWN_REFUSALS = 5
CHANNEL = "cli"  # the messages_accepted label of what this command enqueues


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "send", parents=[common], help="enqueue messages (with or without the daemon)"
    )
    p.add_argument("--account", required=True)
    p.add_argument("--from", dest="sender", required=True, metavar="SENDER")
    p.add_argument(
        "--to", action="append", default=[], metavar="+E164", help="a recipient (repeat for more)"
    )
    p.add_argument(
        "--to-file",
        type=Path,
        metavar="CSV",
        help="recipients, one number per row (first column; header optional)",
    )
    p.add_argument("--phonebook", metavar="NAME", help="every contact of this phonebook")
    text = p.add_mutually_exclusive_group(required=True)
    text.add_argument("--text")
    text.add_argument("--text-file", type=Path, metavar="FILE")
    p.add_argument("--class", dest="msg_class", choices=["flash", "sim"])
    p.add_argument("--at", metavar="ISO8601", help="send later, e.g. 2026-03-01T09:00:00Z")
    p.add_argument("--validity", type=int, metavar="SECONDS", help="give up after this long")
    p.add_argument("--priority", type=int, default=0, metavar="0-3")
    p.add_argument(
        "--ref",
        metavar="CLIENT_REF",
        help="idempotency key: the same ref and request return the same ids",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="quote segments and credits per recipient; store and send nothing",
    )
    p.set_defaults(handler=_send)


def _text(args: argparse.Namespace) -> str:
    if args.text is not None:
        return str(args.text)
    path: Path = args.text_file
    try:
        return path.read_text(encoding="utf-8-sig").rstrip("\r\n")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None


def _send(args: argparse.Namespace) -> int:
    text = _text(args)
    given: list[str] = []
    for raw in args.to:
        try:
            given.append(normalize_e164(raw))
        except InvalidRecipient as exc:
            raise InvalidRecipient(f"--to {raw}: {exc}") from None
    from_file: tuple[str, ...] = ()
    invalid = 0
    if args.to_file is not None:
        listed = read_recipient_file(args.to_file)
        report_rows(args.to_file, listed.errors)
        from_file, invalid = listed.numbers, len(listed.errors)
    send_at = parse_time(args.at, what="--at") if args.at else None
    msg_class = MessageClass(args.msg_class) if args.msg_class else MessageClass.STANDARD

    async def work(ctx: Context) -> int:
        recipients = merge_recipients(given, from_file)
        if not recipients and not args.phonebook:
            detail = f" ({invalid} invalid rows skipped)" if invalid else ""
            raise InvalidRecipient(f"no valid recipient{detail}")
        service = SendService(
            store=ctx.store,
            log=ctx.log,
            on_crossing=lambda account: ctx.metrics.credit_low_crossed(account=account),
        )
        request = SendRequest(
            account=args.account,
            sender=args.sender,
            recipients=recipients,
            text=text,
            msg_class=msg_class,
            send_at=send_at,
            validity=args.validity,
            priority=args.priority,
            client_ref=args.ref,
            phonebook=args.phonebook or None,
        )
        if args.dry_run:
            return _dry_run(ctx, await service.quote(request), invalid=invalid)
        try:
            result = await service.send(request)
        except UserError as exc:
            ctx.metrics.message_rejected(account=args.account, reason=exc.code)
            raise
        _count(ctx, args.account, result)
        asked = len(result.accepted) + len(result.refused)
        _print(ctx, result, invalid=invalid, asked=asked, ref=args.ref)
        return bulk_exit(done=len(result.accepted), refused=len(result.refused) + invalid)

    return run(args, work)


def _dry_run(ctx: Context, quote: Quote, *, invalid: int) -> int:
    """What the send would take (the same rules, through SendService.quote)."""
    if ctx.json:
        emit_json({**quote_json(quote), "invalid_rows": invalid})
    else:
        sys.stdout.write("".join(f"{r.destination} {r.credits}\n" for r in quote.recipients))
        for r in quote.refused[:SHOWN_REFUSALS]:
            print(f"smsgw: {r.destination} would be refused: {r.error}", file=sys.stderr)
        print(
            f"smsgw: dry run: {len(quote.recipients)} recipient(s), {quote.segments} "
            f"segment(s) each ({quote.encoding}, {quote.characters} characters), "
            f"{quote.credits} credits; nothing stored",
            file=sys.stderr,
        )
    return bulk_exit(done=len(quote.recipients), refused=len(quote.refused) + invalid)


def _count(ctx: Context, account: str, result: SendResult) -> None:
    """The daemon's metrics count this send (channel ``cli``) as they count HTTP's."""
    fresh = sum(1 for a in result.accepted if not a.duplicate)
    if fresh:
        ctx.metrics.message_accepted(account=account, channel=CHANNEL, count=fresh)
    for reason, count in Counter(r.error.code for r in result.refused).items():
        ctx.metrics.message_rejected(account=account, reason=reason, count=count)


def _print(ctx: Context, result: SendResult, *, invalid: int, asked: int, ref: str | None) -> None:
    fresh = [a for a in result.accepted if not a.duplicate]
    again = [a for a in result.accepted if a.duplicate]
    charged = sum(a.message.credits for a in fresh)
    if ctx.json:
        emit_json(
            {
                "messages": [
                    {
                        "id": a.message.id,
                        "to": a.message.destination,
                        "segments": a.message.segments,
                        "encoding": a.message.encoding,
                        "credits": a.message.credits,
                        "duplicate": a.duplicate,
                    }
                    for a in result.accepted
                ],
                "refused": [
                    {"to": r.destination, "error": r.error.code, "detail": str(r.error)}
                    for r in result.refused
                ],
                "accepted": len(result.accepted),
                "invalid_rows": invalid,
                "charged": charged,
            }
        )
    else:
        sys.stdout.write("".join(f"{a.message.id}\n" for a in result.accepted))
    for r in result.refused[:SHOWN_REFUSALS]:
        print(f"smsgw: {r.destination} refused: {r.error}", file=sys.stderr)
    if len(result.refused) > SHOWN_REFUSALS:
        print(
            f"smsgw: ... and {len(result.refused) - SHOWN_REFUSALS} more refused", file=sys.stderr
        )
    skipped = f", {invalid} invalid rows skipped" if invalid else ""
    if again:
        # a repeated --ref: the messages stored the first time, charged then and not now
        before = sum(a.message.credits for a in again)
        print(
            f"smsgw: --ref {ref} was already accepted: {len(again)} message(s) shown as "
            f"stored then (charged {before} credits then, nothing now)",
            file=sys.stderr,
        )
    if fresh or not again:
        print(
            f"smsgw: accepted {len(fresh)} of {asked} recipients "
            f"({result.segments} segment(s) each, {charged} credits){skipped}",
            file=sys.stderr,
        )
