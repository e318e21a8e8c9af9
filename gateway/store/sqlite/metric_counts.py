"""Counters another process (the CLI) leaves in the store for the daemon's
metrics (gateway.ops.metric_sinks): added up per name and labels until the
daemon takes them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from gateway.model.records import MetricCount


def add_metric_counts(conn: sqlite3.Connection, counts: Sequence[MetricCount]) -> None:
    conn.executemany(
        "INSERT INTO metric_counts (name, labels, amount) VALUES (?, ?, ?) "
        "ON CONFLICT (name, labels) DO UPDATE SET amount = amount + excluded.amount",
        [
            (c.name, json.dumps(dict(c.labels), sort_keys=True), c.amount)
            for c in counts
            if c.amount
        ],
    )


def take_metric_counts(conn: sqlite3.Connection) -> list[MetricCount]:
    rows = conn.execute("DELETE FROM metric_counts RETURNING name, labels, amount").fetchall()
    return [
        MetricCount(name=name, labels=tuple(sorted(json.loads(labels).items())), amount=amount)
        for name, labels, amount in rows
    ]
