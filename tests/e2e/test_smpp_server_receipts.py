"""ESME -> smsgw's SMPP server -> SMSC simulator -> receipts and replies back to the
ESME, with smpplib as the independent ESME, through a real daemon."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import smpplib.client

from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.server import SmscSimulator
from gateway.store import open_store
from tests.e2e.system import write_config
from tests.e2e.test_smpp_server import SERVER, esme_daemon
from tests.waiting import eventually

TEXT = "Oui merci ! " * 20  # a reply longer than one short_message


def bind(port: int, password: str) -> smpplib.client.Client:
    c = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    c.connect()
    c.bind_transceiver(system_id="acme1", password=password)
    return c


def submit(c: smpplib.client.Client) -> Any:
    c.send_message(
        source_addr_ton=5,
        source_addr="ACME",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="33612345678",
        registered_delivery=1,
        short_message=b"hello from an ESME",
    )
    while True:  # a receipt may come first: left unanswered, smsgw sends it again
        pdu = c.read_pdu()
        if pdu.command == "submit_sm_resp":
            return pdu


def read_delivers(c: smpplib.client.Client, n: int) -> list[Any]:
    got: list[Any] = []
    c.set_message_received_handler(lambda pdu: got.append(pdu))  # noqa: PLW0108 (called pdu=)
    while len(got) < n:
        c.read_once()
    return got


def leave(c: smpplib.client.Client) -> None:
    c.unbind()
    c.disconnect()


async def test_receipt_and_reply_reach_the_bound_esme(tmp_path: Path) -> None:
    sim = SmscSimulator(config=SimConfig(dlr=True), port=0)
    await sim.start()
    try:
        path = write_config(tmp_path / "gateway.toml", smsc_port=sim.port, extra=SERVER)
        async with esme_daemon(path) as (_config, _daemon, port, password):
            esme = await asyncio.to_thread(bind, port, password)
            resp = await asyncio.to_thread(submit, esme)
            assert int(resp.status) == 0
            [receipt] = await asyncio.wait_for(asyncio.to_thread(read_delivers, esme, 1), 20)
            assert receipt.short_message.startswith(b"id:")
            assert b"stat:DELIVRD" in receipt.short_message
            assert receipt.receipted_message_id == resp.message_id
            await eventually(lambda: bool(sim.bound()), what="link bound at the SMSC")
            sim.inject_mo(source="+33611111111", destination="+33700000001", text=TEXT)
            [reply] = await asyncio.wait_for(asyncio.to_thread(read_delivers, esme, 1), 20)
            assert reply.short_message == TEXT.encode()
            await asyncio.to_thread(leave, esme)
    finally:
        await sim.close()


async def test_receipts_wait_while_the_esme_is_away_and_arrive_once_on_rebind(
    tmp_path: Path,
) -> None:
    sim = SmscSimulator(config=SimConfig(dlr=True, dlr_delay=1.0), port=0)
    await sim.start()
    try:
        path = write_config(tmp_path / "gateway.toml", smsc_port=sim.port, extra=SERVER)
        async with esme_daemon(path) as (config, _daemon, port, password):
            esme = await asyncio.to_thread(bind, port, password)
            resps = [await asyncio.to_thread(submit, esme) for _ in range(3)]
            assert [int(r.status) for r in resps] == [0, 0, 0]
            await asyncio.to_thread(leave, esme)  # gone before the receipts are stored
            store = await open_store(config.store.url, base=config.base_dir)
            ids = {r.message_id.decode() for r in resps}

            async def all_final() -> bool:
                views = [await store.get_message(i) for i in ids]
                return all(v.message.state.value == "delivered" for v in views)

            await eventually(all_final, what="the three messages delivered")
            again = await asyncio.to_thread(bind, port, password)
            receipts = await asyncio.wait_for(asyncio.to_thread(read_delivers, again, 3), 20)
            assert sorted(r.receipted_message_id.decode() for r in receipts) == sorted(ids)
            await asyncio.to_thread(leave, again)

            # each answered once: none left to send (an answer recorded after the unbind
            # counts), and no fourth one came
            async def none_pending() -> bool:
                return await store.pending_deliveries() == []

            await eventually(none_pending, what="the three receipts recorded as delivered")
            await store.close()
    finally:
        await sim.close()
