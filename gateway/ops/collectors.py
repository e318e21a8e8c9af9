"""Prometheus collectors read at scrape time: the links' health and the store
writers' figures (README, Metrics).

Drivers never import prometheus: :class:`LinkCollector` turns
:meth:`gateway.link.interface.Link.health` snapshots into metrics when
Prometheus scrapes; :class:`StoreCollector` does the same for the store's
writer threads, this process's and those the worker processes report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.link.interface import LinkHealth
from gateway.model.records import WriterStats

__all__ = ["MODEM_GAUGES", "PREFIX", "LinkCollector", "StoreCollector"]

PREFIX = "smsgw"  # of every metric's name

# LinkHealth.gauges keys with a metric of their own (others go to smsgw_link_gauge)
MODEM_GAUGES: Mapping[str, tuple[str, str]] = {
    "signal_dbm": (f"{PREFIX}_modem_signal_dbm", "Modem received signal strength (dBm)."),
    "registered": (
        f"{PREFIX}_modem_registered",
        "Modem network registration: 1 registered (home or roaming), 0 not.",
    ),
}

_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.:+-]")


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
