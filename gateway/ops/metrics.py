"""Prometheus metrics of the gateway (README, Metrics).

Every metric lives on an injected :class:`~prometheus_client.CollectorRegistry`
and is named ``smsgw_*``. The core records what it sees through the methods of
:class:`Metrics` (an accepted message, a submit outcome and its latency, a
receipt...); the state of each link (up, bound, window, modem signal) is read
from :meth:`gateway.link.interface.Link.health` snapshots at scrape time by
:class:`LinkCollector`, so drivers never import prometheus.

Label values are bounded: ``link`` and ``account`` come from the configuration
and the store, ``reason``/``status``/``state`` from fixed vocabularies.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway import __version__
from gateway.link.interface import (
    Accepted,
    LinkHealth,
    Outcome,
    Receipt,
    ReceiptState,
    Rejected,
    Retry,
)
from gateway.store.base import Store
from gateway.store.records import MetricCount, QueueChanges, WriterStats

PREFIX = "smsgw"

# submit_sm -> submit_sm_resp (or AT+CMGS -> +CMGS): 1 ms on a LAN SMSC up to
# the 30 s a congested SMSC or a modem on a weak signal can take.
SUBMIT_LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

# LinkHealth.gauges keys with a metric of their own (others go to smsgw_link_gauge)
MODEM_GAUGES: Mapping[str, tuple[str, str]] = {
    "signal_dbm": (f"{PREFIX}_modem_signal_dbm", "Modem received signal strength (dBm)."),
    "registered": (
        f"{PREFIX}_modem_registered",
        "Modem network registration: 1 registered (home or roaming), 0 not.",
    ),
}

_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.:+-]")


@dataclass(frozen=True, slots=True, kw_only=True)
class _LinkChildren:
    """One link's labelled children of the submit metrics."""

    submitted: Counter
    latency: Histogram
    throttled: Counter
    outcomes: dict[str, Counter]


class IngressMetrics(Protocol):
    """What ingress (HTTP API, MQTT sends, the CLI) counts: :class:`Metrics` in the
    daemon's process, a relay to the daemon in a worker process (gateway.runtime.workers),
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


# the Metrics methods a worker process calls through its daemon (gateway.runtime.workers)
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


class Metrics:
    """The gateway's metrics on one registry; the daemon owns one instance."""

    def __init__(self, *, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._relayed_writers: dict[str, WriterStats] = {}  # worker process -> its figures
        r = registry
        p = PREFIX
        self.build_info = Info(f"{p}_build", "smsgw version.", registry=r)
        self.build_info.info({"version": __version__})

        # ingress and message lifecycle
        self.messages_accepted = Counter(
            f"{p}_messages_accepted",
            "Messages accepted (stored and charged).",
            ["account", "channel"],
            registry=r,
        )
        self.messages_rejected = Counter(
            f"{p}_messages_rejected",
            "Messages refused at ingress.",
            ["account", "reason"],
            registry=r,
        )
        self.messages_final = Counter(
            f"{p}_messages_final",
            "Messages that reached a final state.",
            ["account", "status"],
            registry=r,
        )
        self.queue_depth = Gauge(
            f"{p}_queue_depth",
            "Messages not final yet, by state: queued, dispatching, submitted.",
            ["state"],
            registry=r,
        )

        # dispatch
        self.segments_submitted = Counter(
            f"{p}_segments_submitted",
            "Segments submitted to a link (every attempt).",
            ["link"],
            registry=r,
        )
        self.submit_outcomes = Counter(
            f"{p}_submit_outcomes",
            "Submit answers by outcome (accepted, retry, rejected).",
            ["link", "outcome"],
            registry=r,
        )
        self.submit_latency = Histogram(
            f"{p}_submit_latency_seconds",
            "Time from submit to the SMSC's or modem's answer.",
            ["link"],
            buckets=SUBMIT_LATENCY_BUCKETS,
            registry=r,
        )
        self.throttled_responses = Counter(
            f"{p}_throttled_responses",
            "Answers asking to slow down (ESME_RTHROTTLED...).",
            ["link"],
            registry=r,
        )
        self.receipts = Counter(
            f"{p}_receipts",
            "Delivery receipts applied to a message (when it came, or later).",
            ["link", "state"],
            registry=r,
        )
        self.receipts_unmatched = Counter(
            f"{p}_receipts_unmatched",
            "Receipts naming no message the store knows when they came (kept for a later "
            "match: a receipt may overtake its submit_sm_resp).",
            ["link"],
            registry=r,
        )
        self.receipts_dropped = Counter(
            f"{p}_receipts_dropped",
            "Unmatched receipts dropped: expired (receipt timeout) or overflow (too many kept).",
            ["link", "reason"],
            registry=r,
        )
        self.inbound_messages = Counter(
            f"{p}_inbound_messages",
            "Inbound (MO) messages reassembled and stored.",
            ["link", "account"],
            registry=r,
        )

        # credit
        self.credit_balance = Gauge(
            f"{p}_credit_balance",
            "Account balance in credits.",
            ["account"],
            registry=r,
        )
        self.credit_alert_below = Gauge(
            f"{p}_credit_alert_below",
            "Account balance under which operators are alerted.",
            ["account"],
            registry=r,
        )
        self.credit_low = Counter(
            f"{p}_credit_low_crossings",
            "Times an account's balance fell below its alert threshold.",
            ["account"],
            registry=r,
        )

        # events out
        self.webhook_deliveries = Counter(
            f"{p}_webhook_deliveries",
            "Webhook calls answered with 2xx.",
            ["account"],
            registry=r,
        )
        self.webhook_failures = Counter(
            f"{p}_webhook_failures",
            "Failed webhook calls; final=true when retries are exhausted.",
            ["account", "final"],
            registry=r,
        )
        # labelled by broker (host:port) so that nothing is exported without MQTT
        self.mqtt_connected = Gauge(
            f"{p}_mqtt_connected",
            "1 while the MQTT client is connected.",
            ["broker"],
            registry=r,
        )
        self.mqtt_connections = Counter(
            f"{p}_mqtt_connections",
            "MQTT connections established (first and reconnects).",
            ["broker"],
            registry=r,
        )
        self._queue_states: set[str] = set()
        self._per_link: dict[str, _LinkChildren] = {}
        # children asked for once per message (receipts, final states): see _link_children
        self._finished: dict[tuple[str, str], Counter] = {}
        self._receipts: dict[tuple[str, str], Counter] = {}
        self._link_collector: LinkCollector | None = None

    # --- ingress and lifecycle ----------------------------------------------

    def message_accepted(self, *, account: str, channel: str, count: int = 1) -> None:
        """``count`` messages (one per recipient) stored and charged via ``channel``."""
        self.messages_accepted.labels(account=account, channel=channel).inc(count)

    def message_rejected(self, *, account: str, reason: str, count: int = 1) -> None:
        self.messages_rejected.labels(account=account, reason=reason).inc(count)

    def message_finished(self, *, account: str, status: str, count: int = 1) -> None:
        """A message reached a final state (delivered, undeliverable, expired...)."""
        child = self._finished.get((account, status))
        if child is None:
            child = self._finished[account, status] = self.messages_final.labels(
                account=account, status=status
            )
        child.inc(count)

    def add_counts(self, counts: Iterable[MetricCount]) -> None:
        """Counters other processes left in the store (:class:`StoredMetrics`); names
        outside :data:`STORED` (a newer smsgw's) are skipped."""
        for c in counts:
            if c.name in STORED and c.amount > 0:
                getattr(self, c.name)(**dict(c.labels), count=c.amount)

    def set_queue_depth(self, counts: Mapping[str, int]) -> None:
        """Set the queue depth per state; states absent from ``counts`` drop to 0."""
        for state in self._queue_states - counts.keys():
            self.queue_depth.labels(state=state).set(0)
        for state, count in counts.items():
            self.queue_depth.labels(state=state).set(count)
        self._queue_states |= counts.keys()

    # --- dispatch ---------------------------------------------------------------

    def _link_children(self, link: str) -> _LinkChildren:
        # labels() looks the child up under a lock on every call: the submit
        # path asks for the same few children thousands of times a second
        children = self._per_link.get(link)
        if children is None:
            children = self._per_link[link] = _LinkChildren(
                submitted=self.segments_submitted.labels(link=link),
                latency=self.submit_latency.labels(link=link),
                throttled=self.throttled_responses.labels(link=link),  # exported from 0
                outcomes={
                    name: self.submit_outcomes.labels(link=link, outcome=name)
                    for name in ("accepted", "retry", "rejected")
                },
            )
        return children

    def submit_sent(self, *, link: str) -> None:
        """A segment went out on ``link`` (counted before its answer arrives)."""
        self._link_children(link).submitted.inc()

    def submit_answered(self, *, link: str, outcome: Outcome, latency: float) -> None:
        """The answer to one submit and the seconds it took."""
        children = self._link_children(link)
        children.latency.observe(latency)
        match outcome:
            case Accepted():
                name = "accepted"
            case Retry(throttled=throttled):
                name = "retry"
                if throttled:
                    children.throttled.inc()
            case Rejected():
                name = "rejected"
        children.outcomes[name].inc()

    def receipt_received(self, *, link: str, state: ReceiptState | str) -> None:
        value = state.value if isinstance(state, ReceiptState) else state
        self._receipt_child(link, value).inc()

    def receipts_received(self, receipts: Iterable[Receipt]) -> None:
        """Receipts stored, each counted by its link and state."""
        counts = collections.Counter((r.link, r.state.value) for r in receipts)
        for (link, state), count in counts.items():
            self._receipt_child(link, state).inc(count)

    def receipts_recorded(self, receipts: Iterable[Receipt], changes: QueueChanges) -> None:
        """A round's receipts once committed: those applied to a message counted by
        state (with kept ones the round matched at last), the others as unmatched."""
        counts = collections.Counter((r.link, r.state.value) for r in receipts)
        counts.subtract(changes.unmatched)
        counts.update(changes.matched_late)
        for (link, state), count in counts.items():
            if count > 0:
                self._receipt_child(link, state).inc(count)
        for link, count in collections.Counter(link for link, _ in changes.unmatched).items():
            self.receipts_unmatched.labels(link=link).inc(count)
        self.receipts_given_up(changes.dropped)

    def receipts_given_up(self, dropped: Iterable[tuple[str, str]]) -> None:
        """Kept receipts dropped unmatched, as (link, reason)."""
        for (link, reason), count in collections.Counter(dropped).items():
            self.receipts_dropped.labels(link=link, reason=reason).inc(count)

    def _receipt_child(self, link: str, state: str) -> Counter:
        child = self._receipts.get((link, state))
        if child is None:
            child = self._receipts[link, state] = self.receipts.labels(link=link, state=state)
        return child

    def inbound_received(self, *, link: str, account: str) -> None:
        """One reassembled MO message; ``account`` is "" when no account owns it."""
        self.inbound_messages.labels(link=link, account=account).inc()

    # --- credit -------------------------------------------------------------------

    def set_credit_balance(
        self,
        *,
        account: str,
        balance: float,
        alert_below: float | None = None,
    ) -> None:
        """The balance after a change; ``alert_below`` is the account's alert threshold."""
        self.credit_balance.labels(account=account).set(balance)
        if alert_below is not None:
            self.credit_alert_below.labels(account=account).set(alert_below)

    def credit_low_crossed(self, *, account: str, count: int = 1) -> None:
        self.credit_low.labels(account=account).inc(count)

    # --- events out ---------------------------------------------------------------

    def webhook_delivered(self, *, account: str) -> None:
        self.webhook_deliveries.labels(account=account).inc()

    def webhook_failed(self, *, account: str, final: bool) -> None:
        self.webhook_failures.labels(account=account, final="true" if final else "false").inc()

    def set_mqtt_connected(self, *, broker: str, connected: bool) -> None:
        """``broker`` is host:port (never a URL with credentials)."""
        if connected:
            self.mqtt_connections.labels(broker=broker).inc()
        self.mqtt_connected.labels(broker=broker).set(1 if connected else 0)

    # --- the store's writers ---------------------------------------------------------

    def watch_store(self, writers: Callable[[], Mapping[str, WriterStats]]) -> None:
        """Export the store writers' figures at scrape time: this process's (``writers``)
        and those the worker processes report (:meth:`set_writer_stats`)."""

        def everyone() -> dict[str, WriterStats]:
            return {**self._relayed_writers, **writers()}

        self.registry.register(StoreCollector(everyone))

    def set_writer_stats(
        self,
        *,
        process: str,
        transactions: int,
        busy_seconds: float,
        lock_wait_seconds: float,
        commit_seconds: float,
        cpu_seconds: float = 0.0,
    ) -> None:
        """A worker process's writer figures (cumulative), relayed to the daemon."""
        self._relayed_writers[process] = WriterStats(
            transactions=transactions,
            busy_seconds=busy_seconds,
            lock_wait_seconds=lock_wait_seconds,
            commit_seconds=commit_seconds,
            cpu_seconds=cpu_seconds,
        )

    # --- links --------------------------------------------------------------------

    def watch_links(self, links: Callable[[], Iterable[LinkHealth]]) -> LinkCollector:
        """Export the links' health at scrape time; call once (the set may change later)."""
        if self._link_collector is not None:
            msg = "links are already watched; pass a getter that returns the current links"
            raise RuntimeError(msg)
        collector = LinkCollector(links)
        self.registry.register(collector)
        self._link_collector = collector
        return collector


class StoreCollector(Collector):
    """The store writers' cumulative figures, per process, read at scrape time.

    ``smsgw_store_transactions_total``, ``smsgw_store_busy_seconds_total`` (the
    write lock held), ``smsgw_store_lock_wait_seconds_total`` (waiting for
    another process's writer), ``smsgw_store_commit_seconds_total`` and
    ``smsgw_store_cpu_seconds_total`` (the writer thread's own CPU while it held
    the lock), labelled ``process`` (``daemon``, ``worker-0``...). The rate of busy seconds summed
    over processes is the write lock's utilisation: near 1, the store is what
    limits throughput.
    """

    def __init__(self, writers: Callable[[], Mapping[str, WriterStats]]) -> None:
        self._writers = writers

    def describe(self) -> Iterable[Metric]:
        return list(self._families({}))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(self._writers()))

    def _families(self, writers: Mapping[str, WriterStats]) -> Iterator[Metric]:
        p = PREFIX
        families = (
            (
                CounterMetricFamily(
                    f"{p}_store_transactions", "Store write transactions.", labels=["process"]
                ),
                "transactions",
            ),
            (
                CounterMetricFamily(
                    f"{p}_store_busy_seconds",
                    "Seconds the store's write lock was held.",
                    labels=["process"],
                ),
                "busy_seconds",
            ),
            (
                CounterMetricFamily(
                    f"{p}_store_lock_wait_seconds",
                    "Seconds spent waiting for another process's writer.",
                    labels=["process"],
                ),
                "lock_wait_seconds",
            ),
            (
                CounterMetricFamily(
                    f"{p}_store_commit_seconds",
                    "Seconds spent committing (WAL write, fsync).",
                    labels=["process"],
                ),
                "commit_seconds",
            ),
            (
                CounterMetricFamily(
                    f"{p}_store_cpu_seconds",
                    "CPU seconds of the writer thread while it held the lock.",
                    labels=["process"],
                ),
                "cpu_seconds",
            ),
        )
        for process, stats in sorted(writers.items()):
            for family, field in families:
                family.add_metric([process], getattr(stats, field))
        for family, _ in families:
            yield family


class LinkCollector(Collector):
    """Reads :class:`~gateway.link.interface.LinkHealth` snapshots when Prometheus scrapes.

    ``links_getter`` returns the current snapshots (the daemon passes
    ``lambda: [link.health() for link in links]``). Exported per link:
    ``smsgw_link_info{link,driver}``, ``smsgw_link_up``, ``smsgw_link_bound``,
    ``smsgw_link_in_flight``, ``smsgw_link_window``, ``smsgw_link_throttled``;
    each driver counter as ``smsgw_link_events_total{link,event}``; the modem
    gauges ``signal_dbm`` and ``registered`` as ``smsgw_modem_signal_dbm`` and
    ``smsgw_modem_registered``, any other gauge as ``smsgw_link_gauge{link,gauge}``.
    """

    def __init__(self, links_getter: Callable[[], Iterable[LinkHealth]]) -> None:
        self._links_getter = links_getter

    def describe(self) -> Iterable[Metric]:
        # the fixed names, so the registry refuses a clash at register time
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        return list(self._families(list(self._links_getter())))

    def _families(self, links: list[LinkHealth] | None = None) -> Iterator[Metric]:
        p = PREFIX
        info = GaugeMetricFamily(
            f"{p}_link_info",
            "Configured links (value 1).",
            labels=["link", "driver"],
        )
        up = GaugeMetricFamily(
            f"{p}_link_up",
            "1 while the link is connected.",
            labels=["link"],
        )
        bound = GaugeMetricFamily(
            f"{p}_link_bound",
            "1 while the link can submit.",
            labels=["link"],
        )
        in_flight = GaugeMetricFamily(
            f"{p}_link_in_flight",
            "Submits awaiting an answer.",
            labels=["link"],
        )
        window = GaugeMetricFamily(
            f"{p}_link_window",
            "Maximum submits awaiting an answer.",
            labels=["link"],
        )
        throttled = GaugeMetricFamily(
            f"{p}_link_throttled",
            "1 while backing off after a throttling answer.",
            labels=["link"],
        )
        events = CounterMetricFamily(
            f"{p}_link_events",
            "Driver counters (submitted, reconnects, ...).",
            labels=["link", "event"],
        )
        modem = {
            key: GaugeMetricFamily(name, doc, labels=["link"])
            for key, (name, doc) in MODEM_GAUGES.items()
        }
        other = GaugeMetricFamily(
            f"{p}_link_gauge",
            "Other driver gauges.",
            labels=["link", "gauge"],
        )
        for health in links or ():
            name = health.name
            info.add_metric([name, health.driver], 1)
            up.add_metric([name], 1 if health.up else 0)
            bound.add_metric([name], 1 if health.bound else 0)
            in_flight.add_metric([name], health.in_flight)
            window.add_metric([name], health.window)
            throttled.add_metric([name], 1 if health.throttled else 0)
            for event, count in sorted(health.counters.items()):
                events.add_metric([name, _label(event)], count)
            for key, value in sorted(health.gauges.items()):
                if key in modem:
                    modem[key].add_metric([name], value)
                else:
                    other.add_metric([name, _label(key)], value)
        yield from (info, up, bound, in_flight, window, throttled, events)
        yield from modem.values()
        yield other


def _label(value: str) -> str:
    """A driver-chosen key as a tidy label value."""
    return _LABEL_VALUE.sub("_", value)
