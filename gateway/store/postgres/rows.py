"""What the PostgreSQL operations share beside gateway.store.columns: a statement's row count."""

from __future__ import annotations


def row_count(status: str) -> int:
    """The rows a statement changed, from its status ("UPDATE 3", "INSERT 0 1")."""
    return int(status.rsplit(" ", 1)[-1])
