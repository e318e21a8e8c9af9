"""Prometheus metrics of the gateway (README, Metrics).

Every metric lives on an injected :class:`~prometheus_client.CollectorRegistry`
and is named ``smsgw_*``. The core records what it sees through the methods of
:class:`Metrics` (an accepted message, a submit outcome and its latency, a
receipt...); the state of each link (up, bound, window, modem signal) is read
from :meth:`gateway.link.interface.Link.health` snapshots at scrape time by
:class:`~gateway.ops.collectors.LinkCollector`, so drivers never import prometheus.
What ingress and events count, and how processes that are not the daemon count,
is in :mod:`gateway.ops.metric_sinks`.

Label values are bounded: ``link`` and ``account`` come from the configuration
and the store, ``reason``/``status``/``state`` from fixed vocabularies.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from gateway import __version__
from gateway.link.interface import LinkHealth, Receipt
from gateway.model.outcomes import Accepted, Outcome, ReceiptState, Rejected, Retry
from gateway.model.records import MetricCount, QueueChanges, WriterStats
from gateway.ops.collectors import PREFIX, LinkCollector, StoreCollector
from gateway.ops.metric_sinks import STORED

__all__ = ["SUBMIT_LATENCY_BUCKETS", "Metrics"]

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


@dataclass(frozen=True, slots=True, kw_only=True)
class _LinkChildren:
    """One link's labelled children of the submit metrics."""

    submitted: Counter
    latency: Histogram
    throttled: Counter
    outcomes: dict[str, Counter]


class Metrics:
    """The gateway's metrics on one registry; the daemon owns one instance."""

    def __init__(self, *, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._relayed_writers: dict[str, WriterStats] = {}  # worker process -> its figures
        r = registry
        p = PREFIX
        self.build_info = Info(f"{p}_build", "smsgw version.", registry=r)
        self.build_info.info({"version": __version__})
        # with several daemons on one store: which one this is ([dispatcher] worker)
        self.daemon_info = Info(
            f"{p}_daemon", "This daemon's [dispatcher] worker name.", registry=r
        )

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
        # receipts and replies to ESMEs bound to the SMPP server (gateway.events.esme_deliveries)
        self.esme_deliveries = Counter(
            f"{p}_esme_deliveries",
            "Receipts and replies an ESME answered (deliver_sm_resp ESME_ROK).",
            ["system_id", "kind"],
            registry=r,
        )
        self.esme_deliveries_refused = Counter(
            f"{p}_esme_deliveries_refused",
            "deliver_sm an ESME answered with an error status (retried later).",
            ["system_id", "kind"],
            registry=r,
        )
        self.esme_deliveries_expired = Counter(
            f"{p}_esme_deliveries_expired",
            "Receipts and replies dropped undelivered after [smpp_server] delivery_ttl.",
            ["system_id", "kind"],
            registry=r,
        )
        self.esme_deliveries_pending = Gauge(
            f"{p}_esme_deliveries_pending",
            "Receipts and replies waiting for an ESME in the store, every daemon's.",
            ["system_id", "kind"],
            registry=r,
        )
        self._pending_esme: set[tuple[str, str]] = set()
        self._queue_states: set[str] = set()
        self._per_link: dict[str, _LinkChildren] = {}
        # children asked for once per message (receipts, final states): see _link_children
        self._finished: dict[tuple[str, str], Counter] = {}
        self._accepted: dict[tuple[str, str], Counter] = {}  # once per request
        self._receipts: dict[tuple[str, str], Counter] = {}
        self._link_collector: LinkCollector | None = None

    # --- ingress and lifecycle ----------------------------------------------

    def message_accepted(self, *, account: str, channel: str, count: int = 1) -> None:
        """``count`` messages (one per recipient) stored and charged via ``channel``."""
        child = self._accepted.get((account, channel))
        if child is None:
            child = self._accepted[account, channel] = self.messages_accepted.labels(
                account=account, channel=channel
            )
        child.inc(count)

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
        """Counters other processes left in the store
        (:class:`~gateway.ops.metric_sinks.StoredMetrics`); names outside
        :data:`~gateway.ops.metric_sinks.STORED` (a newer smsgw's) are skipped."""
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

    # --- receipts and replies to ESMEs ---------------------------------------------------

    def esme_delivered(self, *, system_id: str, kind: str) -> None:
        self.esme_deliveries.labels(system_id=system_id, kind=kind).inc()

    def esme_delivery_refused(self, *, system_id: str, kind: str) -> None:
        self.esme_deliveries_refused.labels(system_id=system_id, kind=kind).inc()

    def esme_deliveries_dropped(self, *, system_id: str, kind: str, count: int) -> None:
        self.esme_deliveries_expired.labels(system_id=system_id, kind=kind).inc(count)

    def set_esme_pending(self, counts: Mapping[tuple[str, str], int]) -> None:
        """(system_id, kind) -> deliveries waiting; a pair no longer listed reads 0."""
        for key in self._pending_esme - counts.keys():
            self.esme_deliveries_pending.labels(system_id=key[0], kind=key[1]).set(0)
        for (system_id, kind), count in counts.items():
            self.esme_deliveries_pending.labels(system_id=system_id, kind=kind).set(count)
        self._pending_esme |= set(counts)

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
