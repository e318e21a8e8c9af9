"""The simulator as operators use it: a process printing JSON lines, a control port, the CLI."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest

from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.link.driver import SmppLink
from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.server import SmscSimulator
from gateway.link.interface import submit
from gateway.model.outcomes import Accepted
from gateway.runtime.commands import build_parser
from tests.drivers.smpp.conftest import RecordingHandler, StartLink, request
from tests.waiting import eventually


async def control(port: int, *commands: dict[str, Any]) -> list[dict[str, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        for command in commands:
            writer.write(json.dumps(command).encode() + b"\n")
            await writer.drain()
            answers.append(json.loads(await asyncio.wait_for(reader.readline(), 5)))
    finally:
        writer.close()
        await writer.wait_closed()
    return answers


async def test_control_port_injects_mo_and_reports_stats() -> None:
    sim = SmscSimulator(config=SimConfig(), port=0, control_port=0)
    port = await sim.start()
    assert sim.control_port
    config = SmppLinkConfig.from_table({"name": "t", "port": port})
    handler = RecordingHandler()
    link = SmppLink(config=config, handler=handler)
    task = asyncio.create_task(link.run())
    try:
        await link.wait_bound(5)
        answers = await control(
            sim.control_port,
            {
                "cmd": "mo",
                "from": "+33612345678",
                "to": "36111",
                "text": "hello there",
                "parts": 2,
                "order": [2, 1],
            },
            {"cmd": "stats"},
            {"cmd": "bogus"},
            {"cmd": "mo", "from": "+336", "to": "1", "text": "x", "concat": "udh9"},
        )
        assert answers[0] == {"ok": True, "parts": 2}
        assert answers[1]["ok"]
        assert answers[1]["bound"] == 1
        assert answers[2]["ok"] is False
        assert "unknown cmd" in answers[2]["error"]
        assert answers[3]["ok"] is False
        await eventually(lambda: len(handler.parts) == 2)
        assert [p.concat.sequence for p in handler.parts if p.concat] == [2, 1]
    finally:
        await link.stop(timeout=2)
        await asyncio.wait_for(task, 5)
        await sim.close()


async def test_mo_without_a_receiver_is_refused(start_link: StartLink) -> None:
    h = await start_link(bind="transmitter")
    with pytest.raises(RuntimeError, match="receiver or transceiver"):
        h.sim.inject_mo(source="+336", destination="1", text="hi")


async def test_simulator_process_prints_port_and_received_pdus() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drivers.smpp.simulator",
        "--port",
        "0",
        "--dlr",
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 10))
        assert first["event"] == "listening"
        config = SmppLinkConfig.from_table({"name": "t", "port": first["port"]})
        handler = RecordingHandler()
        link = SmppLink(config=config, handler=handler)
        task = asyncio.create_task(link.run())
        await link.wait_bound(5)
        outcome = await submit(link, request())
        assert isinstance(outcome, Accepted)
        await eventually(lambda: len(handler.receipts) == 1)
        events: list[dict[str, Any]] = []
        while not any(e["event"] == "submit_sm" for e in events):
            events.append(json.loads(await asyncio.wait_for(proc.stdout.readline(), 5)))
        submitted = next(e for e in events if e["event"] == "submit_sm")
        assert submitted["message_id"] == outcome.smsc_id
        assert submitted["to"] == "33612345678"
        await link.stop(timeout=2)
        await asyncio.wait_for(task, 5)
    finally:
        proc.terminate()
        await proc.wait()


def test_cli_registers_smsc_sim() -> None:
    args = build_parser().parse_args(
        ["smsc-sim", "--port", "0", "--dlr", "--dlr-fail-share", "0.25", "--quiet"]
    )
    from drivers.smpp.simulator.cli import config_from_args

    config = config_from_args(args)
    assert (config.dlr, config.dlr_fail_share, config.record) == (True, 0.25, False)
    assert args.handler is not None


def test_cli_refuses_a_share_above_one() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["smsc-sim", "--throttle-share", "1.5"])


async def test_failed_receipts_share(start_link: StartLink) -> None:
    h = await start_link(sim=SimConfig(dlr=True, dlr_fail_share=1.0))
    assert isinstance(await submit(h.link, request()), Accepted)
    await eventually(lambda: len(h.handler.receipts) == 1)
    assert h.handler.receipts[0].state.value == "undeliverable"
    assert h.handler.receipts[0].error == "001"


async def test_receipts_elsewhere_go_out_on_another_bind_of_the_system_id() -> None:
    sim = SmscSimulator(config=SimConfig(dlr=True, receipts_elsewhere=True), port=0)
    port = await sim.start()
    handlers = [RecordingHandler(), RecordingHandler()]
    links = [
        SmppLink(config=SmppLinkConfig.from_table({"name": n, "port": port}), handler=h)
        for n, h in zip(("a", "b"), handlers, strict=True)
    ]
    tasks = [asyncio.create_task(link.run()) for link in links]
    try:
        for link in links:
            await link.wait_bound(5)
        outcome = await submit(links[0], request())
        assert isinstance(outcome, Accepted)
        await eventually(lambda: len(handlers[1].receipts) == 1, what="the receipt on bind b")
        assert handlers[1].receipts[0].smsc_id == outcome.smsc_id
        assert handlers[0].receipts == []  # not on the bind that submitted
    finally:
        for link in links:
            await link.stop(timeout=2)
        await asyncio.gather(*tasks)
        await sim.close()
