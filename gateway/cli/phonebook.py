"""``smsgw phonebook create A NAME | import A NAME file.csv | list A | show A NAME``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.cli.runtime import Context, bulk_exit, emit_json, iso, run, table
from gateway.ingress.recipient_csv import RowError, read_contacts_csv
from gateway.model.errors import UserError
from gateway.model.records import PhonebookContact


def report_rows(path: Path, errors: Sequence[RowError]) -> None:
    """One stderr line per skipped row: file, line, value and why."""
    for e in errors:
        print(
            f"smsgw: {path.name} line {e.line}: {e.value!r}: {e.reason} (skipped)", file=sys.stderr
        )


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("phonebook", help="named contact lists per account")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = acts.add_parser("create", parents=[common], help="create an empty phonebook")
    c.add_argument("account")
    c.add_argument("name")
    c.set_defaults(handler=_create)
    imp = acts.add_parser(
        "import", parents=[common], help="add contacts from a CSV file (name and number columns)"
    )
    imp.add_argument("account")
    imp.add_argument("name")
    imp.add_argument("file", type=Path)
    imp.set_defaults(handler=_import)
    ls = acts.add_parser("list", parents=[common], help="an account's phonebooks")
    ls.add_argument("account")
    ls.set_defaults(handler=_list)
    sh = acts.add_parser("show", parents=[common], help="a phonebook's contacts")
    sh.add_argument("account")
    sh.add_argument("name")
    sh.set_defaults(handler=_show)


def _create(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        book = await ctx.store.create_phonebook(args.account, args.name)
        if ctx.json:
            emit_json({"account": book.account, "phonebook": book.name, "contacts": 0})
        else:
            print(f"phonebook {book.name} created for {book.account}")
        return 0

    return run(args, work)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save it as CSV UTF-8") from None


def _import(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        parsed = read_contacts_csv(_read(path))
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    report_rows(path, parsed.errors)
    contacts = [PhonebookContact(name=c.name, number=c.number) for c in parsed.contacts]

    async def work(ctx: Context) -> int:
        added, updated = await ctx.store.import_contacts(args.account, args.name, contacts)
        if ctx.json:
            emit_json(
                {
                    "account": args.account,
                    "phonebook": args.name,
                    "added": added,
                    "updated": updated,
                    "duplicates": parsed.duplicates,
                    "invalid": [
                        {"line": e.line, "value": e.value, "reason": e.reason}
                        for e in parsed.errors
                    ],
                }
            )
        else:
            print(
                f"imported {len(contacts)} contacts into {args.name} ({added} new, "
                f"{updated} updated); {len(parsed.errors)} invalid rows skipped, "
                f"{parsed.duplicates} duplicates"
            )
        return bulk_exit(done=len(contacts), refused=len(parsed.errors))

    return run(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        books = await ctx.store.list_phonebooks(args.account)
        if ctx.json:
            emit_json(
                {
                    "account": args.account,
                    "phonebooks": [
                        {"name": b.name, "contacts": b.contacts, "created_at": iso(b.created_at)}
                        for b in books
                    ],
                }
            )
        else:
            table(
                ["name", "contacts", "created_at"],
                [(b.name, b.contacts, iso(b.created_at)) for b in books],
            )
        return 0

    return run(args, work)


def _show(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        contacts = await ctx.store.phonebook_contacts(args.account, args.name)
        if ctx.json:
            emit_json(
                {
                    "account": args.account,
                    "phonebook": args.name,
                    "contacts": [{"name": c.name, "number": c.number} for c in contacts],
                }
            )
        else:
            table(["name", "number"], [(c.name, c.number) for c in contacts])
        return 0

    return run(args, work)
