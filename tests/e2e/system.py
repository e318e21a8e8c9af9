"""A complete local system for end-to-end tests: daemon, SQLite, SMSC simulator, broker.

The daemon runs in the test's event loop with a real configuration file, a
real SQLite store, HTTP on a loopback port, an SMPP link over TCP to the SMSC
simulator and, when asked, MQTT through a private Mosquitto broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from prometheus_client.parser import text_string_to_metric_families

from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.server import SmscSimulator
from gateway.config.daemon import daemon_settings
from gateway.config.file import Config, load_config
from gateway.model.message import SenderKind, SenderStatus
from gateway.runtime.daemon import Daemon
from gateway.store import open_store
from tests.waiting import eventually

ACCOUNT = "acme"
SENDER = "ACME"
TOPUP = 1000
PRICE = 1


@dataclass
class System:
    daemon: Daemon
    sim: SmscSimulator
    http: aiohttp.ClientSession
    base: str
    token: str
    db: Path

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def send(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.base}/v1/messages", json=body, headers=self.auth()) as r:
            return r.status, await r.json()

    async def message(self, message_id: str) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/v1/messages/{message_id}", headers=self.auth()) as r:
            assert r.status == 200, await r.text()
            doc: dict[str, Any] = await r.json()
            return doc

    async def balance(self) -> int:
        async with self.http.get(f"{self.base}/v1/balance", headers=self.auth()) as r:
            doc = await r.json()
            return int(doc["balance"])

    async def wait_state(self, message_id: str, state: str, *, timeout: float = 15.0) -> None:
        async def reached() -> bool:
            current: str = (await self.message(message_id))["state"]
            return current == state

        await eventually(reached, timeout=timeout, what=f"{message_id} {state}")

    async def metric(self, name: str, **labels: str) -> float | None:
        """One sample of GET /metrics, or None when it is not exported."""
        async with self.http.get(f"{self.base}/metrics") as r:
            text = await r.text()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return None

    def submits(self) -> list[dict[str, Any]]:
        return [r for r in self.sim.records if r.get("event") == "submit_sm"]


def smpp_link(port: int, *, name: str = "smsc-1", routes: str = '["*"]') -> str:
    """A ``[[link]]`` table to an SMSC simulator on ``port``."""
    return f"""
[[link]]
name = "{name}"
driver = "smpp"
host = "127.0.0.1"
port = {port}
system_id = "gw"
password = "secret"
window = 64
reconnect_min = 0.05
reconnect_max = 0.2
throttle_delay = 0.1
routes = {routes}
"""


def write_config(
    path: Path,
    *,
    smsc_port: int,
    mqtt_url: str | None = None,
    link: str = "",
    extra: str = "",
    listen: str = "127.0.0.1:0",
    dispatcher: str = "",
) -> Path:
    """``link`` replaces the default SMPP link; ``dispatcher`` adds [dispatcher] keys."""
    mqtt = f'[mqtt]\nurl = "{mqtt_url}"\nclient_id = "gw-e2e"\n' if mqtt_url else ""
    link = link or smpp_link(smsc_port)
    path.write_text(
        f"""
[store]
url = "sqlite:gw.db"
synchronous = "normal"

[http]
listen = "{listen}"

[dispatcher]
worker = "e2e"
ready_timeout = 5
{dispatcher}

[webhooks]
allow = ["127.0.0.1"]  # the tests' webhook receivers listen on loopback

{mqtt}
{link}
{extra}
""",
        encoding="utf-8",
    )
    return path


async def prepare_store(db_url: str, base: Path, *, topup: int = TOPUP) -> str:
    """Account, top-up, approved senders, a price for every destination; the token."""
    store = await open_store(db_url, base=base)
    try:
        await store.create_account(ACCOUNT)
        await store.topup(ACCOUNT, topup, reference="order-1")
        await store.add_sender(ACCOUNT, SENDER, SenderKind.ALPHA)
        await store.set_sender_status(ACCOUNT, SENDER, SenderStatus.APPROVED)
        await store.add_sender(ACCOUNT, "+33700000001", SenderKind.NUMBER)
        await store.set_sender_status(ACCOUNT, "+33700000001", SenderStatus.APPROVED)
        await store.set_price("+", PRICE)  # "+": every destination
        _, token = await store.create_token(ACCOUNT)
        return token
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def running_system(
    tmp_path: Path,
    *,
    sim_config: SimConfig | None = None,
    mqtt_url: str | None = None,
) -> AsyncIterator[System]:
    sim = SmscSimulator(config=sim_config or SimConfig(dlr=True), port=0)
    await sim.start()
    config_path = write_config(tmp_path / "gateway.toml", smsc_port=sim.port, mqtt_url=mqtt_url)
    config = load_config(config_path)
    token = await prepare_store(config.store.url, config.base_dir)
    system: System | None = None
    try:
        async with running_daemon(config) as daemon, aiohttp.ClientSession() as http:
            system = System(
                daemon=daemon,
                sim=sim,
                http=http,
                base=f"http://127.0.0.1:{daemon.http_port}",
                token=token,
                db=tmp_path / "gw.db",
            )
            yield system
    finally:
        await sim.close()
        if system is not None and system.sim is not sim:  # a test restarted the SMSC
            await system.sim.close()


@contextlib.asynccontextmanager
async def running_daemon(config: Config) -> AsyncIterator[Daemon]:
    """The daemon in this event loop, ready (links bound or given up on); stopped after."""
    daemon = Daemon(config=config, settings=daemon_settings(config), logger=structlog.get_logger())
    task = asyncio.create_task(daemon.run(), name="daemon")
    try:
        ready = asyncio.create_task(daemon.ready.wait())
        done, _ = await asyncio.wait({ready, task}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # the daemon died while starting: show why
        assert ready in done, "daemon not ready in 20 s"
        yield daemon
    finally:
        daemon.stop()
        await asyncio.wait_for(task, timeout=30)


def status_events(payloads: list[bytes], message_id: str) -> list[str]:
    return [
        doc["state"]
        for doc in map(json.loads, payloads)
        if doc.get("event") == "status" and doc.get("id") == message_id
    ]
