"""What the SQLite operations share: an account's row with its alert flag, chunks
for ``IN (...)`` (the column lists and conversions are gateway.store.columns)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from gateway.store.accounts import unknown_account
from gateway.store.columns import ACCOUNT_COLUMNS

Row = tuple[Any, ...]


def require_account(conn: Any, name: str) -> Row:
    """The account's row (ACCOUNT_COLUMNS order plus alert_armed last), or NotFound."""
    row = conn.execute(
        f"SELECT {ACCOUNT_COLUMNS}, alert_armed FROM accounts WHERE name = ?",  # noqa: S608 (constant column list)
        (name,),
    ).fetchone()
    if row is None:
        raise unknown_account(name)
    return tuple(row)


T = TypeVar("T")
IN_CHUNK = 500  # values per "IN (?, ...)": well under SQLite's 32,766 parameters


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> list[Sequence[T]]:
    """``items`` in slices of ``size``, for queries with a placeholder per item."""
    return [items[i : i + size] for i in range(0, len(items), size)]
