"""What the store-backed commands share: config + store lifecycle, tables, JSON.

A command handler calls :func:`run` with a coroutine taking a
:class:`Context`; the store is opened from the configuration file
(``args.config``) and closed afterwards, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from gateway.accounting.ledger import Ledger
from gateway.config.file import Config, load_config
from gateway.model.errors import StoreError, UserError
from gateway.model.isotime import iso
from gateway.model.numbers import SQLITE_MAX_INT, optional_int, whole_number
from gateway.ops.metric_sinks import StoredMetrics
from gateway.store import open_store
from gateway.store.base import Store

# exit codes (README: exit codes): usage errors are argparse's 2
EXIT_OK = 0
EXIT_ERROR = 1  # a user error: one line on stderr
EXIT_PARTIAL = 3  # a bulk command did part of its work; the output says which part


def bulk_exit(*, done: int, refused: int) -> int:
    """0 when nothing was refused, 3 when some items were done and some refused, 1 when
    every item was refused."""
    if not refused:
        return EXIT_OK
    return EXIT_PARTIAL if done else EXIT_ERROR


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    config: Config
    store: Store
    ledger: Ledger
    log: Any
    json: bool
    # what the command did, for the daemon's metrics (left in the store at the end)
    metrics: StoredMetrics = field(default_factory=StoredMetrics)


def cli_logger() -> Any:
    """Warnings and errors on stderr (the CLI's stdout is for results)."""
    return structlog.wrap_logger(
        structlog.PrintLogger(file=sys.stderr),
        processors=[
            structlog.processors.add_log_level,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )


def run(args: argparse.Namespace, work: Callable[[Context], Awaitable[int]]) -> int:
    config = load_config(args.config)
    try:
        return asyncio.run(_run(config, work, as_json=bool(getattr(args, "json", False))))
    except StoreError as exc:  # cannot open, disk full...: one line, not a traceback
        raise UserError(str(exc)) from None


async def _run(config: Config, work: Callable[[Context], Awaitable[int]], *, as_json: bool) -> int:
    store = await open_store(
        config.store.url,
        base=config.base_dir,
        synchronous=config.store.synchronous,
        password=config.store.password,
        mqtt_outbox=config.mqtt_outbox,
    )
    log = cli_logger()
    metrics = StoredMetrics()
    try:
        ledger = Ledger(store=store, min_topup=config.ledger.min_topup, log=log)
        return await work(
            Context(
                config=config, store=store, ledger=ledger, log=log, json=as_json, metrics=metrics
            )
        )
    finally:
        try:
            await metrics.flush(store)  # what was done counts, even if the command failed
        except StoreError as exc:  # the command's own outcome stands; only counts are lost
            log.warning("cli_metrics_lost", error=str(exc))
        finally:
            await store.close()


def emit_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=False, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table; ``-`` for empty cells."""
    cells = [[("-" if v is None or v == "" else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    print("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """``key: value`` lines for one record."""
    width = max(len(k) for k, _ in pairs)
    for k, v in pairs:
        print(f"{k.ljust(width)}  {'-' if v is None or v == '' else v}")


def parse_time(raw: str, *, what: str = "time") -> float:
    """ISO 8601 with a time zone (``2026-03-01T09:00:00Z``, ``...+01:00``) -> POSIX seconds."""
    try:
        when = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        msg = f"bad {what} {raw!r}: ISO 8601 expected, e.g. 2026-03-01T09:00:00Z"
        raise UserError(msg) from None
    if when.tzinfo is None:
        msg = f"bad {what} {raw!r}: give a time zone (Z for UTC, or +01:00...)"
        raise UserError(msg)
    return when.timestamp()


__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "SQLITE_MAX_INT",
    "Context",
    "bulk_exit",
    "emit_json",
    "fields",
    "iso",
    "optional_int",
    "parse_time",
    "run",
    "table",
    "whole_number",
]
