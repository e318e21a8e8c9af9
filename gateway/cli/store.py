"""``smsgw store copy``: an embedded installation's SQLite store into PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from gateway.cli.runtime import emit_json, table
from gateway.model.errors import StoreError, UserError
from gateway.model.secrets import Secret
from gateway.store import sqlite_path
from gateway.store.copy import copy_sqlite_to_postgres


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("store", help="the store itself: copy it into PostgreSQL")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    cp = acts.add_parser(
        "copy",
        parents=[common],
        help="copy a SQLite store, whole, into an empty PostgreSQL database",
        description="Copies every table (accounts, journal, senders, prices, phonebooks, "
        "messages, tokens, replies, events, webhooks) in one transaction, checks the row "
        "counts and the balances, and refuses a target that holds any row. Stop the "
        "daemon first.",
    )
    cp.add_argument("--from", dest="source", required=True, metavar="sqlite:PATH")
    cp.add_argument("--to", dest="target", required=True, metavar="postgresql://USER@HOST/DB")
    cp.add_argument(
        "--password",
        metavar="env:NAME|file:PATH",
        help="the PostgreSQL user's password (else PGPASSWORD or ~/.pgpass)",
    )
    cp.set_defaults(handler=_copy)


def _copy(args: argparse.Namespace) -> int:
    if not args.source.startswith("sqlite:"):
        raise UserError(f"--from {args.source!r}: give the SQLite store as sqlite:PATH")
    source: Path = sqlite_path(args.source)
    password = Secret.resolve(args.password, key="--password") if args.password else None
    try:
        report = asyncio.run(copy_sqlite_to_postgres(source, args.target, password=password))
    except StoreError as exc:  # a failed copy is one line, and nothing was copied
        raise UserError(str(exc)) from None
    if args.json:
        emit_json({"target": report.target, "rows": report.rows, "tables": report.counts})
    else:
        table(["table", "rows"], list(report.counts.items()))
        print(f"copied {report.rows} rows into {report.target}; counts and balances checked")
    return 0
