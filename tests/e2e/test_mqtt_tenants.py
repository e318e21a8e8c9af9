"""MQTT sends of several tenants against the whole daemon: whatever one account's
payloads hold (not JSON, not UTF-8, not an object, fields of the wrong type, too
large, empty), or a topic naming no account, another account's sends keep flowing,
each bad one ends as one rejection and the bridge never drops its session."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.config.file import load_config
from gateway.model.message import SenderKind, SenderStatus
from gateway.store import open_store
from tests.e2e.system import SENDER, System, running_system, status_events
from tests.e2e.test_mqtt_sends import broker_connections
from tests.fixtures.mosquitto import MosquittoBroker
from tests.waiting import eventually

OTHER = "beta"
OTHER_TOPUP = 100

BAD: list[bytes] = [
    b'{"from": "ACME", "to": ["+33612345678"], "text": "cut',  # not JSON
    b'{"from": "ACME", "to": ["+33612345678"], "text": "\xc3\x28\xff"}',  # not UTF-8
    b"\xff\xfe\x00\x00",
    b"null",
    b"42",
    b'["+33612345678", "hello"]',
    b'{"from": "ACME", "to": 33612345678, "text": "hello"}',
    b'{"from": "ACME", "to": [33612345678], "text": "hello"}',
    b'{"from": "ACME", "to": ["+33612345678"], "text": 12}',
    b'{"from": ["ACME"], "to": ["+33612345678"], "text": "hello"}',
    b'{"from": "ACME", "to": ["+33612345678"], "text": "hello", "client_ref": {"a": 1}}',
    b'{"from": "ACME", "to": ["+33612345678"], "text": "hello", "priority": "high"}',
    b'{"from": "ACME", "to": ["+33612345678"], "text": "hello", "validity": -1}',
    b'{"from": "ACME", "to": {"+33612345678": 1}, "text": "hello"}',
    b'{"from": "ACME", "to": ["+33612345678"], "text": "' + b"[" * 50_000 + b'"}',
    b"[" * 100_000,  # deeper than a JSON parser's recursion
    b'{"from": "ACME", "to": ["+33612345678"], "text": "' + b"x" * (2 * 1024 * 1024) + b'"}',
]


async def add_other_account(gw: System) -> None:
    """A second tenant with its own credit and approved sender, beside the daemon."""
    config = load_config(gw.db.parent / "gateway.toml")
    store = await open_store(config.store.url, base=config.base_dir)
    try:
        await store.create_account(OTHER)
        await store.topup(OTHER, OTHER_TOPUP, reference="order-b")
        await store.add_sender(OTHER, SENDER, SenderKind.ALPHA)
        await store.set_sender_status(OTHER, SENDER, SenderStatus.APPROVED)
    finally:
        await store.close()


class Tenants:
    """The applications on the broker: status events of both accounts, acme's rejections."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.status: list[bytes] = []
        self.rejected: list[dict[str, Any]] = []

    async def collect(self) -> None:
        async for message in self.client.messages:
            assert isinstance(message.payload, bytes)
            if message.topic.matches("smsgw/acme/rejected"):
                self.rejected.append(json.loads(message.payload))
            elif message.topic.matches(f"smsgw/{OTHER}/status"):
                self.status.append(message.payload)

    def delivered(self) -> set[str]:
        docs = [json.loads(p) for p in self.status]
        ids = {d["id"]: d.get("client_ref") for d in docs}
        return {ref for i, ref in ids.items() if "delivered" in status_events(self.status, i)}


@pytest.fixture
async def tenants(
    tmp_path: Path, mosquitto_broker: MosquittoBroker
) -> AsyncIterator[tuple[System, Tenants]]:
    async with (
        running_system(tmp_path, mqtt_url=mosquitto_broker.url) as gw,
        aiomqtt.Client(
            mosquitto_broker.host, mosquitto_broker.port, identifier="tenants"
        ) as client,
    ):
        await add_other_account(gw)
        await client.subscribe(f"smsgw/{OTHER}/status", qos=1)
        await client.subscribe("smsgw/acme/rejected", qos=1)
        up = Tenants(client)
        reader = asyncio.create_task(up.collect())
        try:
            yield gw, up
        finally:
            reader.cancel()


async def test_bad_payloads_of_one_account_never_stop_another_accounts_sends(
    tenants: tuple[System, Tenants], mosquitto_broker: MosquittoBroker
) -> None:
    gw, up = tenants
    acme_balance = await gw.balance()
    refs = []
    for i, bad in enumerate(BAD):
        await up.client.publish("smsgw/acme/send", bad, qos=1)
        ref = f"b-{i}"
        good = {"from": SENDER, "to": ["+33611111111"], "text": f"beta {i}", "client_ref": ref}
        await up.client.publish(f"smsgw/{OTHER}/send", json.dumps(good), qos=1)
        refs.append(ref)
    # an empty payload (how a retained message is cleared) is ignored, not rejected
    await up.client.publish("smsgw/acme/send", b"", qos=1)
    # a topic naming no account, and one naming an account no one could create
    await up.client.publish("smsgw/nosuch/send", json.dumps({"to": ["+1"], "text": "x"}), qos=1)
    await up.client.publish("smsgw/" + "é" * 200 + "/send", b"{}", qos=1)
    last = {"from": SENDER, "to": ["+33611111111"], "text": "beta last", "client_ref": "b-last"}
    await up.client.publish(f"smsgw/{OTHER}/send", json.dumps(last), qos=1)
    refs.append("b-last")

    await eventually(
        lambda: up.delivered() >= set(refs), timeout=30, what="every send of the other account"
    )
    await eventually(lambda: len(up.rejected) >= len(BAD), what="one rejection per bad payload")
    assert len(up.rejected) == len(BAD)
    assert all(isinstance(r["error"], str) and r["error"] != "internal" for r in up.rejected)
    assert await gw.balance() == acme_balance  # nothing of acme's was charged
    assert broker_connections(mosquitto_broker, "gw-e2e") == 1  # never dropped for them
