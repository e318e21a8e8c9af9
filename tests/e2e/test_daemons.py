"""Several daemons on one PostgreSQL store: takeover after SIGKILL, receipts on
another daemon's bind, a reply's parts on two daemons' binds, a rolling restart,
one daemon per worker name.

Each daemon is a real process (``python -m gateway run``) with its own
configuration, HTTP port, worker name and state directory; they share one
database on the session's private PostgreSQL server and one SMSC simulator
that sends each receipt on another bind than the one that submitted
(``receipts_elsewhere``), as SMSCs that spread a system_id's receipts do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import asyncpg
import pytest

from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.mo import mo_pdus
from drivers.smpp.simulator.server import SmscSimulator
from tests.e2e.system import ACCOUNT, PRICE, SENDER, prepare_store, smpp_link
from tests.e2e.test_process import REPLY, WINDOW, DaemonProcess, accepted_submits, delivering
from tests.fixtures.mosquitto import MosquittoBroker
from tests.fixtures.net import free_port
from tests.fixtures.postgres import PostgresServer
from tests.waiting import eventually

TOPUP = 100_000
LEASE = 4  # seconds: a killed daemon's messages come back this soon


def daemon_config(
    directory: Path,
    *,
    db: str,
    worker: str,
    port: int,
    smsc_port: int,
    mqtt_url: str | None = None,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "gateway.toml"
    mqtt = (
        f'[mqtt]\nurl = "{mqtt_url}"\nclient_id = "{worker}"\nshared_group = "smsgw"\n'
        if mqtt_url
        else ""
    )
    path.write_text(
        f"""
[store]
url = "{db}"

[http]
listen = "127.0.0.1:{port}"

[dispatcher]
worker = "{worker}"
lease = {LEASE}
ready_timeout = 5

[log]
json = true

{mqtt}
{smpp_link(smsc_port)}
""",
        encoding="utf-8",
    )
    return path


class Cluster:
    """Daemons on one database; ``db`` reads the database directly."""

    def __init__(self, db: str, daemons: list[DaemonProcess], http: aiohttp.ClientSession) -> None:
        self.db = db
        self.daemons = daemons
        self.http = http
        self._turn = 0  # sends start at each daemon in turn: load on every HTTP API

    async def fetchval(self, sql: str, *args: object) -> Any:
        conn = await asyncpg.connect(self.db)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    def failure(self, what: str) -> AssertionError:
        """What the database held when a wait ran out (the states, the leases)."""
        conn_url = self.db

        def states() -> str:
            import asyncio as aio

            async def read() -> str:
                conn = await asyncpg.connect(conn_url)
                try:
                    rows = await conn.fetch(
                        "SELECT state, lease_owner, count(*) FROM messages GROUP BY 1, 2"
                    )
                finally:
                    await conn.close()
                return ", ".join(f"{r[0]}/{r[1]}: {r[2]}" for r in rows)

            return aio.run(read())

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            detail = pool.submit(states).result(timeout=30)
        return AssertionError(f"{what}; messages by state/lease: {detail}")

    async def delivered(self) -> int:
        return int(await self.fetchval("SELECT count(*) FROM messages WHERE state = 'delivered'"))

    async def submitted(self) -> int:
        return int(
            await self.fetchval(
                "SELECT count(*) FROM messages WHERE state IN ('submitted', 'delivered')"
            )
        )

    async def send(self, numbers: list[str], ref: str) -> list[str]:
        """POST one batch to the first daemon that takes it (the same client_ref on
        each try: a retry after a lost answer is the same request)."""
        body = {"from": SENDER, "to": numbers, "text": "cluster test", "client_ref": ref}
        ids: list[str] = []

        first = self._turn % len(self.daemons)
        self._turn += 1
        order = self.daemons[first:] + self.daemons[:first]

        async def accepted() -> bool:
            for d in order:
                try:
                    async with self.http.post(
                        f"{d.base}/v1/messages", json=body, headers=d.auth()
                    ) as r:
                        doc = await r.json()
                except aiohttp.ClientError:
                    continue  # down (killed, restarting): the next one
                if r.status == 503:
                    continue  # its store is away: not taken, the next one (or later)
                assert r.status == 202, doc
                ids.extend(m["id"] for m in doc["messages"])
                return True
            return False

        await eventually(accepted, timeout=30, what=f"batch {ref} accepted by a daemon")
        return ids


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path,
    postgres_url: str,
    sim: SmscSimulator,
    *,
    workers: tuple[str, ...],
    mqtt_url: str | None = None,
) -> AsyncIterator[Cluster]:
    token = await prepare_store(postgres_url, tmp_path, topup=TOPUP)
    daemons = []
    for i, worker in enumerate(workers):
        port = free_port()
        config = daemon_config(
            tmp_path / worker,
            db=postgres_url,
            worker=worker,
            port=port,
            smsc_port=sim.port,
            mqtt_url=mqtt_url,
        )
        daemons.append(
            DaemonProcess(config=config, port=port, token=token, log=tmp_path / f"{i}-{worker}.log")
        )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        try:
            for d in daemons:
                d.start()
            for d in daemons:
                await d.wait_ready(http)
            yield Cluster(postgres_url, daemons, http)
        finally:
            for d in daemons:
                d.stop()


@contextlib.asynccontextmanager
async def smsc() -> AsyncIterator[SmscSimulator]:
    # receipts on another bind than the submit's, and those a lost bind left
    # unacknowledged sent again on another (as SMSCs do)
    config = SimConfig(dlr=True, receipts_elsewhere=True, keep_unacked=True, delay=0.01)
    sim = SmscSimulator(config=config, port=0)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.close()


def numbers(first: int, count: int) -> list[str]:
    return [f"+3361{n:07d}" for n in range(first, first + count)]


async def billed_once(c: Cluster, messages: int) -> None:
    debits = await c.fetchval("SELECT count(*) FROM ledger WHERE kind = 'debit'")
    distinct = await c.fetchval(
        "SELECT count(DISTINCT message_id) FROM ledger WHERE kind = 'debit'"
    )
    balance = await c.fetchval("SELECT balance FROM accounts WHERE name = $1", ACCOUNT)
    assert (debits, distinct) == (messages, messages)
    assert balance == TOPUP - messages * PRICE


@pytest.mark.slow
async def test_a_killed_daemons_messages_are_taken_over_and_billed_once(
    tmp_path: Path, postgres_url: str
) -> None:
    workers = ("gw-a", "gw-b", "gw-c")
    async with smsc() as sim, cluster(tmp_path, postgres_url, sim, workers=workers) as c:
        a = c.daemons[0]
        await asyncio.gather(*(c.send(numbers(i * 100, 100), f"r{i}") for i in range(24)))
        await eventually(lambda: _at_least(c, 300), what="sending")
        await a.kill9()  # never restarted: its leased messages wait for their lease to run out
        await asyncio.gather(*(c.send(numbers(i * 100, 100), f"r{i}") for i in range(24, 30)))
        total = 3000

        async def all_delivered() -> bool:
            return await c.delivered() == total

        await eventually(
            all_delivered, timeout=LEASE * 15, what="every message delivered", failure=c.failure
        )
        await billed_once(c, total)
        submitted = [r["to"] for r in accepted_submits(sim)]
        assert set(submitted) == {n.removeprefix("+") for n in numbers(0, total)}
        assert len(submitted) - total <= WINDOW  # sent twice: at most the dead one's window
        for d, worker in zip(c.daemons[1:], workers[1:], strict=True):
            assert d.running
            async with c.http.get(f"{d.base}/links") as r:
                assert (await r.json())["daemon"] == worker  # which daemon the page is
            async with c.http.get(f"{d.base}/readyz") as r:
                assert (await r.json())["daemon"] == worker


async def _at_least(c: Cluster, n: int) -> bool:
    return await c.submitted() >= n


@pytest.mark.slow
async def test_a_rolling_restart_loses_nothing_and_ingress_never_stops(
    tmp_path: Path, postgres_url: str
) -> None:
    async with smsc() as sim, cluster(tmp_path, postgres_url, sim, workers=("gw-a", "gw-b")) as c:
        sending = asyncio.create_task(_keep_sending(c, batches=30))
        for d in c.daemons:  # one at a time: SIGTERM, wait for its exit, start it again
            await eventually(lambda: _at_least(c, 50), what="traffic flowing")
            d.signal(signal.SIGTERM)
            assert await d.wait_exit(timeout=30) == 0
            d.start()
            await d.wait_ready(c.http)
        total = await sending

        async def all_delivered() -> bool:
            return await c.delivered() == total

        await eventually(all_delivered, timeout=60, what="every message delivered")
        await billed_once(c, total)


async def _keep_sending(c: Cluster, *, batches: int) -> int:
    """Batches of 20 one after the other; each taken by whichever daemon is up."""
    sent = 0
    for i in range(batches):
        sent += len(await c.send(numbers(i * 20, 20), f"roll-{i}"))
    return sent


async def test_a_replys_parts_on_two_daemons_binds_make_one_reply(
    tmp_path: Path, postgres_url: str
) -> None:
    async with smsc() as sim, cluster(tmp_path, postgres_url, sim, workers=("gw-a", "gw-b")) as c:
        await eventually(lambda: delivering(sim) == 2, what="both daemons bound")
        binds = [p for p in sim.bound() if p.session.can_deliver]
        pdus = mo_pdus(
            source="+33612345678", destination="+33700000001", text=REPLY, parts=2, reference=77
        )
        for bind, pdu in zip(binds, pdus, strict=True):  # part 1 on one daemon, 2 on the other
            bind.session.deliver(bind.loop.time(), pdu)
            bind.pump()

        async def stored() -> bool:
            return int(await c.fetchval("SELECT count(*) FROM inbound")) >= 1

        await eventually(stored, what="the reply stored")
        conn = await asyncpg.connect(c.db)
        try:
            replies = [tuple(r) for r in await conn.fetch("SELECT account, text FROM inbound")]
        finally:
            await conn.close()
        assert replies == [(ACCOUNT, REPLY)]


async def test_a_second_daemon_with_the_same_worker_name_stops_with_one_line(
    tmp_path: Path, postgres_url: str
) -> None:
    async with smsc() as sim, cluster(tmp_path, postgres_url, sim, workers=("gw-a",)) as c:
        port = free_port()
        config = daemon_config(
            tmp_path / "twin", db=postgres_url, worker="gw-a", port=port, smsc_port=sim.port
        )
        twin = DaemonProcess(config=config, port=port, token="-", log=tmp_path / "twin.log")
        twin.start()
        assert await twin.wait_exit(timeout=30) == 1
        lines = twin.log.read_text().strip().splitlines()
        assert "another smsgw run uses [dispatcher] worker = 'gw-a'" in lines[-1]
        assert "Traceback" not in twin.log.read_text()
        assert c.daemons[0].running


@pytest.mark.slow
async def test_mqtt_sends_are_shared_and_each_event_is_published_once(
    tmp_path: Path, postgres_url: str, mosquitto_broker: MosquittoBroker
) -> None:
    async with (
        smsc() as sim,
        cluster(
            tmp_path, postgres_url, sim, workers=("gw-a", "gw-b"), mqtt_url=mosquitto_broker.url
        ) as c,
        aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port, identifier="upstream") as up,
    ):
        await up.subscribe(f"smsgw/{ACCOUNT}/status", qos=1)
        sends = 40
        for i in range(sends):
            body = {"from": SENDER, "to": [f"+33612{i:06d}"], "text": "mqtt", "client_ref": f"m{i}"}
            await up.publish(f"smsgw/{ACCOUNT}/send", json.dumps(body), qos=1)
        await c.send(numbers(0, 40), "http-1")
        total = sends + 40

        async def all_delivered() -> bool:
            return await c.delivered() == total

        async def outbox_empty() -> bool:
            return bool(await c.fetchval("SELECT count(*) FROM outbox") == 0)

        await eventually(all_delivered, timeout=30, what="every message delivered")
        await eventually(outbox_empty, timeout=30, what="every event published")
        await up.publish(f"smsgw/{ACCOUNT}/status", b'{"marker": true}', qos=1)
        seen: Counter[tuple[str, str]] = Counter()
        async with asyncio.timeout(30):
            async for message in up.messages:
                assert isinstance(message.payload, bytes)
                event = json.loads(message.payload)
                if event.get("marker"):
                    break
                seen[(event["id"], event["state"])] += 1
        delivered = {key for key in seen if key[1] == "delivered"}
        assert len(delivered) == total
        assert set(seen.values()) == {1}  # no event twice
        # the HTTP batch went to gw-a (the first daemon): gw-b stored MQTT sends
        log_b = c.daemons[1].log.read_text()
        assert '"messages_enqueued"' in log_b


@pytest.mark.slow
async def test_a_postgresql_restart_during_traffic_loses_nothing_acknowledged(
    tmp_path: Path, private_postgres: PostgresServer
) -> None:
    url = private_postgres.create_database("smsgw")
    async with smsc() as sim, cluster(tmp_path, url, sim, workers=("gw-a",)) as c:
        [d] = c.daemons
        accepted = len(await c.send(numbers(0, 50), "before"))
        private_postgres.stop()
        body = {"from": SENDER, "to": numbers(50, 5), "text": "during"}
        async with c.http.post(f"{d.base}/v1/messages", json=body, headers=d.auth()) as r:
            assert r.status == 503
            assert (await r.json())["error"] == "store_unavailable"
        async with c.http.get(f"{d.base}/readyz") as r:
            assert r.status == 503
        private_postgres.start()
        accepted += len(await c.send(numbers(100, 50), "after"))

        async def all_delivered() -> bool:
            return await c.delivered() == accepted

        await eventually(all_delivered, timeout=60, what="every accepted message delivered")
        await billed_once(c, accepted)
        assert d.running
        assert "Traceback" not in d.log.read_text()  # the outage is log lines, not a crash


@pytest.mark.slow
@pytest.mark.parametrize("limit", ["balance", "monthly_cap"])
async def test_concurrent_senders_on_two_daemons_never_pass_the_credit_or_the_cap(
    tmp_path: Path, postgres_url: str, limit: str
) -> None:
    async with smsc() as sim, cluster(tmp_path, postgres_url, sim, workers=("gw-a", "gw-b")) as c:
        conn = await asyncpg.connect(postgres_url)
        try:  # the account can pay for 100 messages: by its balance, or by its cap
            if limit == "balance":
                await conn.execute("UPDATE accounts SET balance = 100")
                await conn.execute("UPDATE ledger SET amount = 100, balance_after = 100")
            else:
                await conn.execute("UPDATE accounts SET monthly_cap = 100")
        finally:
            await conn.close()
        answers: Counter[int] = Counter()

        async def sender(n: int) -> None:  # 20 clients, 10 sends each, both daemons
            d = c.daemons[n % 2]
            for i in range(10):
                body = {"from": SENDER, "to": [f"+33613{n:02d}{i:04d}"], "text": "race"}
                async with c.http.post(f"{d.base}/v1/messages", json=body, headers=d.auth()) as r:
                    answers[r.status] += 1

        await asyncio.gather(*(sender(n) for n in range(20)))
        assert answers == {202: 100, 402: 100}
        debits = await c.fetchval("SELECT count(*) FROM ledger WHERE kind = 'debit'")
        assert debits == 100
        assert await c.fetchval("SELECT count(*) FROM messages") == 100
