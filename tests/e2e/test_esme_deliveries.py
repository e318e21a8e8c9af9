"""Receipts and replies to an ESME end to end: a message an ESME submitted goes out
over SMPP, its receipt comes back and is handed to the ESME's bound receiver; a
reply to the account's number goes to it too, whole."""

from __future__ import annotations

from pathlib import Path

from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.server import SmscSimulator
from gateway.config.file import load_config
from gateway.model.esme import DeliveryKind
from gateway.model.outcomes import ReceiptState
from gateway.model.records import Enqueued
from gateway.store import open_store
from tests.e2e.system import prepare_store, running_daemon, write_config
from tests.esme_target import Target
from tests.gateway.store.esme_support import add_credential, from_esme
from tests.waiting import eventually

REPLY = "Oui, merci, c'est bien reçu ! " * 8  # several parts on the SMSC's side


async def test_the_receipt_and_a_reply_reach_the_bound_esme(tmp_path: Path) -> None:
    sim = SmscSimulator(config=SimConfig(dlr=True), port=0)
    await sim.start()
    try:
        config = load_config(
            write_config(
                tmp_path / "gateway.toml",
                smsc_port=sim.port,
                extra="[smpp_server]\ndelivery_ttl = 3600\n",
            )
        )
        await prepare_store(config.store.url, config.base_dir)
        store = await open_store(config.store.url, base=config.base_dir)
        try:
            await add_credential(store, "acme", "esme1")
        finally:
            await store.close()
        async with running_daemon(config) as daemon:
            pump = daemon.esme_deliveries
            assert pump is not None
            target = Target()
            pump.attach(target)
            # what the SMPP server's submit_sm stores: a message with its origin
            store = await open_store(config.store.url, base=config.base_dir)
            try:
                [stored] = (await store.enqueue([from_esme("+33612345678")])).results
            finally:
                await store.close()
            assert isinstance(stored, Enqueued)
            await eventually(lambda: bool(target.delivered), timeout=20, what="the receipt")
            [receipt] = target.delivered
            assert (receipt.kind, receipt.message_id, receipt.state) == (
                DeliveryKind.RECEIPT,
                stored.message.id,
                ReceiptState.DELIVERED,
            )
            await eventually(lambda: bool(sim.bound()), what="link bound at the SMSC")
            sim.inject_mo(source="+33611111111", destination="+33700000001", text=REPLY)
            await eventually(lambda: len(target.delivered) == 2, timeout=20, what="the reply")
            reply = target.delivered[1]
            assert (reply.kind, reply.source, reply.destination, reply.text) == (
                DeliveryKind.REPLY,
                "+33611111111",
                "+33700000001",
                REPLY,
            )
    finally:
        await sim.close()
