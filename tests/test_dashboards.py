"""The Grafana dashboard and the alert rules name only metrics the gateway exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from gateway.link.interface import LinkHealth
from gateway.model.outcomes import Accepted, Retry
from gateway.ops.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "dashboards" / "grafana-smsgw.json"
ALERTS = ROOT / "dashboards" / "prometheus-alerts.yml"
METRIC = re.compile(r"\bsmsgw_[a-z0-9_]+")


def exported_samples() -> set[str]:
    """Every sample name of a registry on which every metric has been touched."""
    registry = CollectorRegistry()
    metrics = Metrics(registry=registry)
    metrics.message_accepted(account="a", channel="http")
    metrics.message_rejected(account="a", reason="invalid")
    metrics.message_finished(account="a", status="delivered")
    metrics.set_queue_depth({"queued": 1})
    metrics.submit_sent(link="l")
    metrics.submit_answered(link="l", outcome=Accepted(smsc_id="1"), latency=0.1)
    metrics.submit_answered(link="l", outcome=Retry(reason="t", throttled=True), latency=0.1)
    metrics.receipt_received(link="l", state="delivered")
    metrics.inbound_received(link="l", account="a")
    metrics.set_credit_balance(account="a", balance=1, alert_below=5)
    metrics.credit_low_crossed(account="a")
    metrics.webhook_delivered(account="a")
    metrics.webhook_failed(account="a", final=True)
    metrics.set_mqtt_connected(broker="b:1883", connected=True)
    metrics.esme_deliveries_dropped(system_id="e", kind="receipt", count=1)
    metrics.watch_links(
        lambda: [
            LinkHealth(
                name="m",
                driver="modem",
                up=True,
                bound=True,
                counters={"submitted": 1},
                gauges={"signal_dbm": -80.0, "registered": 1.0, "other": 1.0},
            )
        ]
    )
    return {sample.name for family in registry.collect() for sample in family.samples}


def dashboard_exprs() -> list[str]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in data["panels"] for t in panel.get("targets", [])]
    exprs += [v["definition"] for v in data["templating"]["list"] if "definition" in v]
    return exprs


def alert_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def test_dashboard_queries_use_exported_metrics() -> None:
    exported = exported_samples()
    exprs = dashboard_exprs()
    assert len(exprs) > 20
    unknown = {name for expr in exprs for name in METRIC.findall(expr)} - exported
    assert not unknown


def test_dashboard_panels_have_unique_ids_and_the_datasource_variable() -> None:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in data["panels"]]
    assert len(ids) == len(set(ids))
    assert data["uid"] == "smsgw-overview"
    for panel in data["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_alert_expressions_use_exported_metrics() -> None:
    exported = exported_samples()
    unknown = {name for rule in alert_rules() for name in METRIC.findall(rule["expr"])} - exported
    assert not unknown


@pytest.mark.parametrize(
    "alert",
    [
        "SmsgwLinkDown",
        "SmsgwQueueGrowing",
        "SmsgwLinkThrottled",
        "SmsgwCreditLow",
        "SmsgwModemNotRegistered",
        "SmsgwModemSignalWeak",
    ],
)
def test_required_alerts_exist(alert: str) -> None:
    assert alert in {rule["alert"] for rule in alert_rules()}


def test_every_alert_has_severity_duration_and_summary() -> None:
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
