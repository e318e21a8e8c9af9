"""Metrics on an injected registry, read back with get_sample_value."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway import __version__
from gateway.link.interface import LinkHealth, Receipt
from gateway.model.outcomes import Accepted, ReceiptState, Rejected, Retry
from gateway.model.records import MetricCount, QueueChanges, WriterStats
from gateway.ops.collectors import LinkCollector
from gateway.ops.metric_sinks import StoredMetrics
from gateway.ops.metrics import SUBMIT_LATENCY_BUCKETS, Metrics
from gateway.store import open_store


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry=registry)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_counts_left_in_the_store_by_another_process_are_added_once(
    tmp_path: Path,
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/gw.db")
    try:
        for _ in range(2):  # two CLI commands: one row per counter, added up
            cli = StoredMetrics()
            cli.message_accepted(account="acme", channel="cli", count=3)
            cli.message_rejected(account="acme", reason="no_price")
            cli.credit_low_crossed(account="acme")
            cli.message_finished(account="acme", status="cancelled")
            await cli.flush(store)
            await cli.flush(store)  # nothing more: flushed counts start again from 0
        await store.add_metric_counts(
            [MetricCount(name="from_a_newer_smsgw", labels=(("x", "1"),), amount=1)]
        )
        metrics.add_counts(await store.take_metric_counts())
        metrics.add_counts(await store.take_metric_counts())  # taken: counted once
    finally:
        await store.close()
    assert value(registry, "smsgw_messages_accepted_total", account="acme", channel="cli") == 6
    assert value(registry, "smsgw_messages_rejected_total", account="acme", reason="no_price") == 2
    assert value(registry, "smsgw_credit_low_crossings_total", account="acme") == 2
    assert value(registry, "smsgw_messages_final_total", account="acme", status="cancelled") == 2


def test_two_instances_on_separate_registries_do_not_clash() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    Metrics(registry=first).message_accepted(account="acme", channel="http")
    Metrics(registry=second)
    assert value(first, "smsgw_messages_accepted_total", account="acme", channel="http") == 1
    assert value(second, "smsgw_messages_accepted_total", account="acme", channel="http") is None


def test_every_metric_name_has_the_smsgw_prefix(metrics: Metrics) -> None:
    metrics.watch_links(list)
    names = [family.name for family in metrics.registry.collect()]
    assert names
    assert all(name.startswith("smsgw_") for name in names)


def test_build_info_carries_the_version(registry: CollectorRegistry, metrics: Metrics) -> None:
    assert value(registry, "smsgw_build_info", version=__version__) == 1


def test_accepted_counts_messages_per_account_and_channel(
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    metrics.message_accepted(account="acme", channel="http", count=3)
    metrics.message_accepted(account="acme", channel="mqtt")
    assert value(registry, "smsgw_messages_accepted_total", account="acme", channel="http") == 3
    assert value(registry, "smsgw_messages_accepted_total", account="acme", channel="mqtt") == 1


def test_rejected_and_final_statuses_are_counted_by_label(
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    metrics.message_rejected(account="acme", reason="insufficient_credit")
    metrics.message_finished(account="acme", status="delivered")
    metrics.message_finished(account="acme", status="delivered")
    metrics.message_finished(account="acme", status="expired")
    assert (
        value(
            registry,
            "smsgw_messages_rejected_total",
            account="acme",
            reason="insufficient_credit",
        )
        == 1
    )
    assert value(registry, "smsgw_messages_final_total", account="acme", status="delivered") == 2
    assert value(registry, "smsgw_messages_final_total", account="acme", status="expired") == 1


def test_queue_depth_states_missing_from_an_update_drop_to_zero(
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    metrics.set_queue_depth({"queued": 12, "dispatching": 3})
    metrics.set_queue_depth({"queued": 5})
    assert value(registry, "smsgw_queue_depth", state="queued") == 5
    assert value(registry, "smsgw_queue_depth", state="dispatching") == 0


def test_submit_outcomes_latency_and_throttling_per_link(
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    for _ in range(3):
        metrics.submit_sent(link="op-a")
    metrics.submit_answered(link="op-a", outcome=Accepted(smsc_id="1"), latency=0.004)
    metrics.submit_answered(
        link="op-a",
        outcome=Retry(reason="ESME_RTHROTTLED", throttled=True),
        latency=0.02,
    )
    metrics.submit_answered(link="op-a", outcome=Rejected(reason="ESME_RINVDSTADR"), latency=0.5)
    assert value(registry, "smsgw_segments_submitted_total", link="op-a") == 3
    for outcome in ("accepted", "retry", "rejected"):
        assert value(registry, "smsgw_submit_outcomes_total", link="op-a", outcome=outcome) == 1
    assert value(registry, "smsgw_throttled_responses_total", link="op-a") == 1
    assert value(registry, "smsgw_submit_latency_seconds_count", link="op-a") == 3
    assert value(registry, "smsgw_submit_latency_seconds_sum", link="op-a") == pytest.approx(0.524)
    assert value(registry, "smsgw_submit_latency_seconds_bucket", link="op-a", le="0.005") == 1


def test_retry_without_throttling_is_not_a_throttled_response(
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    metrics.submit_answered(link="op-a", outcome=Retry(reason="timeout"), latency=30.0)
    assert value(registry, "smsgw_throttled_responses_total", link="op-a") == 0
    assert value(registry, "smsgw_submit_latency_seconds_bucket", link="op-a", le="30.0") == 1


def test_latency_buckets_span_one_millisecond_to_thirty_seconds() -> None:
    assert SUBMIT_LATENCY_BUCKETS[0] == 0.001
    assert SUBMIT_LATENCY_BUCKETS[-1] == 30.0
    assert list(SUBMIT_LATENCY_BUCKETS) == sorted(SUBMIT_LATENCY_BUCKETS)


def test_receipts_accept_enum_or_text_state(
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    metrics.receipt_received(link="op-a", state=ReceiptState.DELIVERED)
    metrics.receipt_received(link="op-a", state="delivered")
    metrics.receipt_received(link="op-a", state=ReceiptState.UNDELIVERABLE)
    assert value(registry, "smsgw_receipts_total", link="op-a", state="delivered") == 2
    assert value(registry, "smsgw_receipts_total", link="op-a", state="undeliverable") == 1


def test_receipts_of_a_round_are_counted_by_link_and_state(
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    metrics.receipts_received(
        [
            Receipt(link="op-a", smsc_id="1", state=ReceiptState.DELIVERED),
            Receipt(link="op-a", smsc_id="2", state=ReceiptState.DELIVERED),
            Receipt(link="op-b", smsc_id="3", state=ReceiptState.EXPIRED),
        ]
    )
    metrics.receipt_received(link="op-a", state="delivered")
    assert value(registry, "smsgw_receipts_total", link="op-a", state="delivered") == 3
    assert value(registry, "smsgw_receipts_total", link="op-b", state="expired") == 1


def test_unmatched_receipts_are_not_counted_by_state_until_matched(
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    receipts = [
        Receipt(link="op-a", smsc_id=str(i), state=ReceiptState.DELIVERED) for i in range(3)
    ]
    metrics.receipts_recorded(
        receipts, QueueChanges(unmatched=(("op-a", "delivered"), ("op-a", "delivered")))
    )
    assert value(registry, "smsgw_receipts_total", link="op-a", state="delivered") == 1
    assert value(registry, "smsgw_receipts_unmatched_total", link="op-a") == 2
    metrics.receipts_recorded(
        [], QueueChanges(matched_late=(("op-a", "delivered"),), dropped=(("op-a", "overflow"),))
    )
    metrics.receipts_given_up([("op-a", "expired")])
    assert value(registry, "smsgw_receipts_total", link="op-a", state="delivered") == 2
    assert value(registry, "smsgw_receipts_dropped_total", link="op-a", reason="overflow") == 1
    assert value(registry, "smsgw_receipts_dropped_total", link="op-a", reason="expired") == 1


def test_credit_inbound_and_webhook_metrics(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.set_credit_balance(account="acme", balance=250.5, alert_below=1000)
    metrics.credit_low_crossed(account="acme")
    metrics.inbound_received(link="modem-1", account="acme")
    metrics.webhook_delivered(account="acme")
    metrics.webhook_failed(account="acme", final=False)
    metrics.webhook_failed(account="acme", final=True)
    assert value(registry, "smsgw_credit_balance", account="acme") == 250.5
    assert value(registry, "smsgw_credit_alert_below", account="acme") == 1000
    assert value(registry, "smsgw_credit_low_crossings_total", account="acme") == 1
    assert value(registry, "smsgw_inbound_messages_total", link="modem-1", account="acme") == 1
    assert value(registry, "smsgw_webhook_deliveries_total", account="acme") == 1
    assert value(registry, "smsgw_webhook_failures_total", account="acme", final="false") == 1
    assert value(registry, "smsgw_webhook_failures_total", account="acme", final="true") == 1


def test_mqtt_state_and_connections(registry: CollectorRegistry, metrics: Metrics) -> None:
    broker = "127.0.0.1:1883"
    assert value(registry, "smsgw_mqtt_connected", broker=broker) is None  # no MQTT, no series
    metrics.set_mqtt_connected(broker=broker, connected=True)
    metrics.set_mqtt_connected(broker=broker, connected=False)
    assert value(registry, "smsgw_mqtt_connected", broker=broker) == 0
    metrics.set_mqtt_connected(broker=broker, connected=True)
    assert value(registry, "smsgw_mqtt_connected", broker=broker) == 1
    assert value(registry, "smsgw_mqtt_connections_total", broker=broker) == 2


# --- links ------------------------------------------------------------------------


def smpp_health(**changes: object) -> LinkHealth:
    fields: dict[str, object] = {
        "name": "op-a",
        "driver": "smpp",
        "up": True,
        "bound": True,
        "in_flight": 7,
        "window": 64,
        "throttled": False,
        "counters": {"submitted": 10, "reconnects": 2},
    }
    fields.update(changes)
    return LinkHealth(**fields)  # type: ignore[arg-type]


def modem_health() -> LinkHealth:
    return LinkHealth(
        name="modem-1",
        driver="modem",
        up=True,
        bound=False,
        window=1,
        throttled=True,
        gauges={"signal_dbm": -87.0, "registered": 1.0, "ber": 0.2},
    )


def test_link_collector_exports_health_snapshots(
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    metrics.watch_links(lambda: [smpp_health(), modem_health()])
    assert value(registry, "smsgw_link_info", link="op-a", driver="smpp") == 1
    assert value(registry, "smsgw_link_up", link="op-a") == 1
    assert value(registry, "smsgw_link_bound", link="op-a") == 1
    assert value(registry, "smsgw_link_bound", link="modem-1") == 0
    assert value(registry, "smsgw_link_in_flight", link="op-a") == 7
    assert value(registry, "smsgw_link_window", link="op-a") == 64
    assert value(registry, "smsgw_link_throttled", link="op-a") == 0
    assert value(registry, "smsgw_link_throttled", link="modem-1") == 1
    assert value(registry, "smsgw_link_events_total", link="op-a", event="submitted") == 10
    assert value(registry, "smsgw_link_events_total", link="op-a", event="reconnects") == 2
    assert value(registry, "smsgw_modem_signal_dbm", link="modem-1") == -87
    assert value(registry, "smsgw_modem_registered", link="modem-1") == 1
    assert value(registry, "smsgw_link_gauge", link="modem-1", gauge="ber") == 0.2


def test_link_collector_reads_fresh_snapshots_at_each_scrape(registry: CollectorRegistry) -> None:
    current = [smpp_health()]
    registry.register(LinkCollector(lambda: current))
    assert value(registry, "smsgw_link_up", link="op-a") == 1
    current[0] = smpp_health(up=False, bound=False, in_flight=0)
    assert value(registry, "smsgw_link_up", link="op-a") == 0
    assert value(registry, "smsgw_link_in_flight", link="op-a") == 0
    current.clear()
    assert value(registry, "smsgw_link_up", link="op-a") is None


def test_link_collector_tidies_driver_keys_into_label_values(
    registry: CollectorRegistry,
) -> None:
    registry.register(LinkCollector(lambda: [smpp_health(counters={"bad key/é": 1})]))
    assert value(registry, "smsgw_link_events_total", link="op-a", event="bad_key__") == 1


def test_watching_links_twice_is_refused(metrics: Metrics) -> None:
    metrics.watch_links(list)
    with pytest.raises(RuntimeError, match="already watched"):
        metrics.watch_links(list)


def test_link_collector_names_clash_is_refused_at_register(registry: CollectorRegistry) -> None:
    registry.register(LinkCollector(list))
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        registry.register(LinkCollector(list))


def test_exposition_parses_as_prometheus_text(
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    metrics.watch_links(lambda: [smpp_health(), modem_health()])
    metrics.submit_answered(link="op-a", outcome=Accepted(smsc_id="1"), latency=0.01)
    text = generate_latest(registry).decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert families["smsgw_link_events"].type == "counter"
    assert families["smsgw_submit_latency_seconds"].type == "histogram"
    assert families["smsgw_modem_signal_dbm"].type == "gauge"
    # one family per name: no two collectors export the same metric
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names))


def test_store_writers_of_every_process_are_exported(
    metrics: Metrics,
    registry: CollectorRegistry,
) -> None:
    own = WriterStats(transactions=5, busy_seconds=1.5, lock_wait_seconds=0.25, commit_seconds=0.5)
    metrics.watch_store(lambda: {"daemon": own})
    metrics.set_writer_stats(
        process="worker-0",
        transactions=7,
        busy_seconds=2.0,
        lock_wait_seconds=0.5,
        commit_seconds=0.75,
    )
    assert value(registry, "smsgw_store_transactions_total", process="daemon") == 5
    assert value(registry, "smsgw_store_busy_seconds_total", process="daemon") == 1.5
    assert value(registry, "smsgw_store_lock_wait_seconds_total", process="worker-0") == 0.5
    assert value(registry, "smsgw_store_commit_seconds_total", process="worker-0") == 0.75


def test_esme_deliveries_by_credential_and_kind(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    labels = {"system_id": "esme1", "kind": "receipt"}
    assert value(registry, "smsgw_esme_deliveries_pending", **labels) is None  # none yet
    metrics.esme_delivered(system_id="esme1", kind="receipt")
    metrics.esme_delivery_refused(system_id="esme1", kind="reply")
    metrics.esme_deliveries_dropped(system_id="esme1", kind="receipt", count=3)
    metrics.set_esme_pending({("esme1", "receipt"): 4, ("esme2", "reply"): 1})
    assert value(registry, "smsgw_esme_deliveries_total", **labels) == 1
    assert (
        value(registry, "smsgw_esme_deliveries_refused_total", system_id="esme1", kind="reply") == 1
    )
    assert value(registry, "smsgw_esme_deliveries_expired_total", **labels) == 3
    assert value(registry, "smsgw_esme_deliveries_pending", **labels) == 4
    metrics.set_esme_pending({("esme1", "receipt"): 2})  # esme2's went out: it reads 0
    assert value(registry, "smsgw_esme_deliveries_pending", **labels) == 2
    assert value(registry, "smsgw_esme_deliveries_pending", system_id="esme2", kind="reply") == 0
