"""``[workers] count``: ingest and events in worker processes beside the daemon's.

The daemon runs as a real process (``python -m gateway run``) with its workers
as its children; HTTP and MQTT sends reach the SMSC and end delivered, status
events come out of worker 0, /metrics, /readyz, /links and /esme show the daemon's
state whichever worker answers, a worker that dies is started again, and no
worker outlives its daemon (SIGTERM or SIGKILL).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from pathlib import Path

import aiohttp
import aiomqtt

from drivers.smpp.simulator.config import SimConfig
from tests.e2e.system import ACCOUNT, SENDER, smpp_link, write_config
from tests.e2e.test_process import (
    DaemonProcess,
    accepted_submits,
    daemon_process,
    smsc,
    states,
    until,
)
from tests.fixtures.mosquitto import MosquittoBroker
from tests.fixtures.net import free_port
from tests.waiting import eventually

WORKERS = "[workers]\ncount = {}\n"


def workers_of(proc: DaemonProcess) -> list[int]:
    """The daemon's child processes (Linux /proc)."""
    assert proc.proc is not None
    found: list[int] = []
    for children in Path(f"/proc/{proc.proc.pid}/task").glob("*/children"):
        try:
            found += [int(pid) for pid in children.read_text().split()]
        except OSError:
            continue
    return sorted(found)


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def send(
    proc: DaemonProcess,
    http: aiohttp.ClientSession,
    numbers: list[str],
) -> list[str]:
    body = {"from": SENDER, "to": numbers, "text": "via a worker"}
    async with http.post(f"{proc.base}/v1/messages", json=body, headers=proc.auth()) as r:
        doc = await r.json()
        assert r.status == 202, doc
    return [m["id"] for m in doc["messages"]]


def metric_value(text: str, sample: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_workers_take_sends_to_delivered_and_show_the_daemons_state(
    tmp_path: Path,
) -> None:
    async with (
        smsc(SimConfig(dlr=True)) as sim,
        daemon_process(tmp_path, link=smpp_link(sim.port), extra=WORKERS.format(2)) as (gw, http),
    ):
        pids = workers_of(gw)
        assert len(pids) == 2, pids
        ids: list[str] = []
        for batch in range(6):  # several connections: the kernel spreads them
            async with aiohttp.ClientSession() as fresh:
                ids += await send(gw, fresh, [f"+3361{batch}{i:06d}" for i in range(50)])
        await until(
            lambda: states(gw.db).get("delivered", 0) == len(ids),
            timeout=30,
            what="every message delivered",
            proc=gw,
        )
        assert len({r["message_id"] for r in accepted_submits(sim)}) == len(ids)
        # the daemon's registry through a worker: what the workers counted, and the link
        async with http.get(f"{gw.base}/metrics") as r:
            assert r.status == 200
            text = await r.text()
        accepted = f'smsgw_messages_accepted_total{{account="{ACCOUNT}",channel="http"}}'
        assert metric_value(text, accepted) == len(ids)
        assert metric_value(text, 'smsgw_link_bound{link="smsc-1"}') == 1.0
        assert text.count("# TYPE smsgw_messages_accepted_total counter") == 1
        # every process's store writer: the daemon's own, the workers' (relayed every
        # few seconds, from their start)
        daemon_writes = metric_value(text, 'smsgw_store_transactions_total{process="daemon"}')
        assert daemon_writes is not None
        assert daemon_writes >= 1
        for process in ("worker-0", "worker-1"):
            sample = f'smsgw_store_busy_seconds_total{{process="{process}"}}'
            assert metric_value(text, sample) is not None, sample
        async with http.get(f"{gw.base}/links") as r:
            links = (await r.json())["links"]
        assert [(link["name"], link["bound"]) for link in links] == [("smsc-1", True)]
        async with http.get(f"{gw.base}/esme") as r:  # relayed as well; no SMPP server here
            assert await r.json() == {"daemon": "e2e", "smpp_server": False, "binds": []}
        async with http.get(f"{gw.base}/readyz") as r:
            assert r.status == 200
            assert (await r.json())["links_bound"] == ["smsc-1"]
        # a refused send is counted too
        async with http.post(
            f"{gw.base}/v1/messages",
            headers=gw.auth(),
            json={"from": SENDER, "to": ["0612345678"], "text": "x"},
        ) as r:
            assert r.status == 400
        async with http.get(f"{gw.base}/metrics") as r:
            text = await r.text()
        assert any(
            line.startswith(f'smsgw_messages_rejected_total{{account="{ACCOUNT}"')
            and line.endswith(" 1.0")
            for line in text.splitlines()
        ), text[:2000]
        gw.signal(signal.SIGTERM)
        assert await gw.wait_exit(timeout=20) == 0
        await eventually(
            lambda: not any(alive(p) for p in pids),
            timeout=10,
            what="the workers gone with the daemon",
        )


async def test_a_dead_worker_is_started_again_and_none_outlives_a_killed_daemon(
    tmp_path: Path,
) -> None:
    async with (
        smsc(SimConfig(dlr=True)) as sim,
        daemon_process(tmp_path, link=smpp_link(sim.port), extra=WORKERS.format(1)) as (gw, http),
    ):
        [first] = workers_of(gw)
        os.kill(first, signal.SIGKILL)

        def replaced() -> bool:
            now = workers_of(gw)
            return len(now) == 1 and now[0] != first and alive(now[0])

        await until(replaced, timeout=20, what="a new worker", proc=gw)

        async def sent_again() -> bool:
            try:
                await send(gw, http, ["+33612345678"])
            except aiohttp.ClientError:
                return False  # the new worker is not listening yet
            return True

        await eventually(
            sent_again, timeout=20, what="a send through the new worker", failure=gw.failure
        )
        await until(
            lambda: states(gw.db).get("delivered", 0) == 1,
            timeout=20,
            what="the message delivered",
            proc=gw,
        )
        [second] = workers_of(gw)
        await gw.kill9()
        await eventually(
            lambda: not alive(second), timeout=10, what="the worker gone after its daemon's SIGKILL"
        )


async def test_every_worker_takes_mqtt_sends_and_worker_0_publishes_the_events(
    tmp_path: Path,
    mosquitto_broker: MosquittoBroker,
) -> None:
    async with (
        smsc(SimConfig(dlr=True)) as sim,
        daemon_process(
            tmp_path,
            link=smpp_link(sim.port),
            extra=WORKERS.format(2),
            mqtt_url=mosquitto_broker.url,
        ) as (gw, http),
        aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port, identifier="upstream") as up,
    ):
        await up.subscribe("smsgw/acme/status", qos=1)
        await eventually(
            lambda: _mqtt_sessions(gw) == {0, 1}, timeout=15, what="both workers' MQTT sessions"
        )
        sends = 12
        for i in range(sends):
            await up.publish(
                "smsgw/acme/send",
                json.dumps(
                    {
                        "from": SENDER,
                        "to": [f"+336123456{i:02d}"],
                        "text": "via mqtt",
                        "client_ref": f"w-{i}",
                    }
                ),
                qos=1,
            )
        delivered: set[object] = set()
        queued_first: set[object] = set()
        async with asyncio.timeout(30):
            async for message in up.messages:
                assert isinstance(message.payload, bytes)
                event = json.loads(message.payload)
                if event["state"] == "queued" and event["client_ref"] not in delivered:
                    queued_first.add(event["client_ref"])
                if event["state"] == "delivered":
                    delivered.add(event["client_ref"])
                    if len(delivered) == sends:
                        break
        assert delivered == queued_first == {f"w-{i}" for i in range(sends)}
        # an HTTP send's events come out of worker 0 too, whichever worker took it
        [message_id] = await send(gw, http, ["+33612345679"])
        async with asyncio.timeout(30):
            async for message in up.messages:
                assert isinstance(message.payload, bytes)
                event = json.loads(message.payload)
                if event["id"] == message_id and event["state"] == "delivered":
                    break
        async with http.get(f"{gw.base}/metrics") as r:
            text = await r.text()
        broker = f"{mosquitto_broker.host}:{mosquitto_broker.port}"
        assert metric_value(text, f'smsgw_mqtt_connected{{broker="{broker}"}}') == 1.0
        assert (
            metric_value(
                text, f'smsgw_messages_accepted_total{{account="{ACCOUNT}",channel="mqtt"}}'
            )
            == sends
        )
        # the sends were shared: both workers stored some (the broker alternates)
        stored_by = [
            json.loads(line).get("worker")
            for line in gw.log.read_text().splitlines()
            if '"messages_enqueued"' in line
        ]
        assert {0, 1} <= set(stored_by)


def _mqtt_sessions(gw: DaemonProcess) -> set[object]:
    """The workers that logged an MQTT session."""
    return {
        json.loads(line).get("worker")
        for line in gw.log.read_text().splitlines()
        if '"mqtt_connected"' in line
    }


async def run_on_taken_port(tmp_path: Path, extra: str) -> tuple[int, int, list[str]]:
    """Start the daemon on a port already bound elsewhere: exit status, port, log lines."""
    with socket.socket() as taken:  # bound, not listening, no SO_REUSEADDR: bind fails
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        config = write_config(
            tmp_path / "gateway.toml",
            smsc_port=0,
            link=smpp_link(free_port()),
            listen=f"127.0.0.1:{port}",
            extra="[log]\njson = true\n" + extra,
        )
        gw = DaemonProcess(config=config, port=port, token="", log=tmp_path / "daemon.log")
        gw.start()
        try:
            status = await gw.wait_exit(timeout=30)
        finally:
            gw.stop()
    log = gw.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    return status, port, log.splitlines()


async def test_a_taken_port_stops_the_daemon_with_one_line_without_workers(
    tmp_path: Path,
) -> None:
    status, port, lines = await run_on_taken_port(tmp_path, "")
    assert status == 1
    assert lines[-1].startswith(f"smsgw: [http] listen 127.0.0.1:{port}: "), lines[-5:]
    assert lines[-1].endswith("address already in use"), lines[-1]


async def test_a_taken_port_stops_the_daemon_with_one_clear_line(tmp_path: Path) -> None:
    status, port, lines = await run_on_taken_port(tmp_path, WORKERS.format(1))
    assert status == 1
    # the worker's reason, then the daemon's last word
    assert any(
        line.startswith("smsgw worker 0: ") and "address already in use" in line for line in lines
    ), lines[-5:]
    assert lines[-1] == (
        f"smsgw: worker 0 exited with status 1 before serving on "
        f"127.0.0.1:{port} (see its log lines above)"
    ), lines[-5:]
