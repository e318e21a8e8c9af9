"""What the components beside dispatch count (ingress, events), as protocols,
and where those counts go when the process is not the daemon's.

:class:`~gateway.ops.metrics.Metrics` implements them in the daemon's
process; a worker process relays the calls of :data:`RELAYED` to its daemon
(gateway.runtime); a process that is not the daemon at all (the CLI) counts
with :class:`StoredMetrics` and leaves the counts of :data:`STORED` in the
store, where the daemon adds them to its registry.
"""

from __future__ import annotations

import collections
from typing import Protocol

from gateway.model.records import MetricCount
from gateway.store.base import Store

__all__ = [
    "RELAYED",
    "STORED",
    "EventMetrics",
    "IngressMetrics",
    "RelayedMetrics",
    "StoredMetrics",
]


class IngressMetrics(Protocol):
    """What ingress (HTTP API, MQTT sends, the CLI) counts: :class:`Metrics` in the
    daemon's process, a relay to the daemon in a worker process (gateway.runtime.worker),
    counters left in the store by another process (:class:`StoredMetrics`)."""

    def message_accepted(self, *, account: str, channel: str, count: int = 1) -> None: ...

    def message_rejected(self, *, account: str, reason: str, count: int = 1) -> None: ...

    def credit_low_crossed(self, *, account: str, count: int = 1) -> None: ...

    def message_finished(self, *, account: str, status: str, count: int = 1) -> None: ...


class EventMetrics(Protocol):
    """What event publishing counts (MQTT connection, webhooks); see IngressMetrics."""

    def webhook_delivered(self, *, account: str) -> None: ...

    def webhook_failed(self, *, account: str, final: bool) -> None: ...

    def set_mqtt_connected(self, *, broker: str, connected: bool) -> None: ...


class RelayedMetrics(IngressMetrics, EventMetrics, Protocol):
    """Ingress and events together: what a worker process counts through its daemon."""


# the Metrics methods a worker process calls through its daemon (gateway.runtime.worker)
RELAYED: frozenset[str] = frozenset(
    {
        "message_accepted",
        "message_rejected",
        "credit_low_crossed",
        "message_finished",
        "webhook_delivered",
        "webhook_failed",
        "set_mqtt_connected",
        "set_writer_stats",
    }
)


# the counters another process (the CLI) leaves in the store for the daemon to add
# (Store.add_metric_counts): IngressMetrics' methods, each taking ``count``
STORED: frozenset[str] = frozenset(
    {
        "message_accepted",
        "message_rejected",
        "credit_low_crossed",
        "message_finished",
    }
)


class StoredMetrics:
    """IngressMetrics for a process that is not the daemon (``smsgw send``, ``smsgw
    message cancel``): counts in memory, then :meth:`flush` leaves them in the store,
    where the daemon takes them (:meth:`Metrics.add_counts`) whenever it runs."""

    def __init__(self) -> None:
        self._counts: collections.Counter[tuple[str, tuple[tuple[str, str], ...]]] = (
            collections.Counter()
        )

    def _add(self, name: str, count: int, **labels: str) -> None:
        self._counts[name, tuple(sorted(labels.items()))] += count

    def message_accepted(self, *, account: str, channel: str, count: int = 1) -> None:
        self._add("message_accepted", count, account=account, channel=channel)

    def message_rejected(self, *, account: str, reason: str, count: int = 1) -> None:
        self._add("message_rejected", count, account=account, reason=reason)

    def credit_low_crossed(self, *, account: str, count: int = 1) -> None:
        self._add("credit_low_crossed", count, account=account)

    def message_finished(self, *, account: str, status: str, count: int = 1) -> None:
        self._add("message_finished", count, account=account, status=status)

    def counts(self) -> list[MetricCount]:
        return [
            MetricCount(name=name, labels=labels, amount=amount)
            for (name, labels), amount in self._counts.items()
            if amount
        ]

    async def flush(self, store: Store) -> None:
        """Leave what was counted in the store (one transaction), and start again."""
        counts = self.counts()
        if counts:
            await store.add_metric_counts(counts)
        self._counts.clear()
