"""The rows of the counters another process (the CLI) leaves for the daemon's
metrics (gateway.ops.metric_sinks), for every backend: one row per name and
labels (its keyword arguments as JSON, sorted keys), added up until the daemon
takes them."""

from __future__ import annotations

import json
from collections.abc import Sequence

from gateway.model.records import MetricCount

__all__ = ["count_from", "count_rows"]


def count_rows(counts: Sequence[MetricCount]) -> list[tuple[str, str, int]]:
    """(name, labels, amount) to add, zeros left out, in key order (concurrent
    writers then lock the rows in one order)."""
    return sorted(
        (c.name, json.dumps(dict(c.labels), sort_keys=True), c.amount) for c in counts if c.amount
    )


def count_from(name: str, labels: str, amount: int) -> MetricCount:
    return MetricCount(name=name, labels=tuple(sorted(json.loads(labels).items())), amount=amount)
