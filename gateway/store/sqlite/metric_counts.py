"""Counters another process (the CLI) leaves in the store for the daemon's
metrics (gateway.ops.metric_sinks): added up per name and labels until the
daemon takes them (their rows: gateway.store.metric_counts)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from gateway.model.records import MetricCount
from gateway.store.metric_counts import count_from, count_rows


def add_metric_counts(conn: sqlite3.Connection, counts: Sequence[MetricCount]) -> None:
    conn.executemany(
        "INSERT INTO metric_counts (name, labels, amount) VALUES (?, ?, ?) "
        "ON CONFLICT (name, labels) DO UPDATE SET amount = amount + excluded.amount",
        count_rows(counts),
    )


def take_metric_counts(conn: sqlite3.Connection) -> list[MetricCount]:
    rows = conn.execute("DELETE FROM metric_counts RETURNING name, labels, amount").fetchall()
    return [count_from(name, labels, amount) for name, labels, amount in rows]
