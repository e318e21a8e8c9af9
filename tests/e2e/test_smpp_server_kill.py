"""SIGKILL between the submit_sm_resp and the receipts: ESME (smpplib) -> smsgw (a real
process) -> SMSC simulator with receipts. The daemon is killed once every
submit_sm_resp is in the ESME's hands and before any receipt reached it (the ESME
answers no deliver_sm until then): some receipts stored and in flight to the ESME,
the others still at the SMSC. After the restart the ESME binds again and gets a
receipt for every message, once each, and the ledger has one debit per message."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import smpplib.client

from drivers.smpp.simulator.config import SimConfig
from tests.e2e.system import ACCOUNT, PRICE, smpp_link
from tests.e2e.test_process import daemon_process, query, smsc, until
from tests.e2e.test_smpp_server import esme_password
from tests.e2e.test_smpp_server_abuse import server_table
from tests.e2e.test_smpp_server_receipts import bind
from tests.fixtures.net import free_port

TOPUP = 1000
STORED = 5  # receipts stored and sent to the ESME, unanswered, when the daemon dies
AT_THE_SMSC = 5  # receipts the SMSC holds back past the kill (dlr_delay)
DLR_DELAY = 1.0  # seconds between a submit_sm and its receipt at the SMSC


def submit(c: smpplib.client.Client, n: int) -> str:
    """One submit_sm asking for a receipt; its message id. A deliver_sm read meanwhile
    is left unanswered (smsgw sends it again)."""
    c.send_message(
        source_addr_ton=5,
        source_addr="ACME",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr=f"336120000{n:02d}",
        registered_delivery=1,
        short_message=f"kill test {n}".encode(),
    )
    while True:
        pdu = c.read_pdu()
        if pdu.command == "submit_sm_resp":
            assert int(pdu.status) == 0, pdu.status
            return str(pdu.message_id.decode())


def submit_all(c: smpplib.client.Client, numbers: range) -> list[str]:
    return [submit(c, n) for n in numbers]


def receipts_for(c: smpplib.client.Client, ids: set[str]) -> Counter[str]:
    """Read (and answer) deliver_sm until there is a receipt for each of ``ids``."""
    got: Counter[str] = Counter()

    def received(pdu: Any) -> None:
        got[pdu.receipted_message_id.decode()] += 1

    c.set_message_received_handler(received)
    while not ids <= set(got):
        c.read_once()
    return got


async def test_sigkill_after_the_submit_sm_resps_loses_no_receipt_and_bills_once(
    tmp_path: Path,
) -> None:
    port = free_port()
    async with (
        smsc(SimConfig(dlr=True, dlr_delay=DLR_DELAY, keep_unacked=True)) as sim,
        daemon_process(
            tmp_path, link=smpp_link(sim.port), extra=server_table(port), topup=TOPUP
        ) as (gw, http),
    ):
        password = await esme_password("sqlite:gw.db", tmp_path)
        esme = await asyncio.to_thread(bind, port, password)
        first = await asyncio.to_thread(submit_all, esme, range(STORED))

        def first_in_flight() -> bool:
            marks = ",".join("?" * len(first))
            rows = query(
                gw.db,
                f"SELECT count(*) FROM esme_deliveries WHERE message_id IN ({marks}) "  # noqa: S608 - placeholders
                "AND lease_owner IS NOT NULL AND delivered_at IS NULL",
                *first,
            )
            return int(rows[0][0]) == STORED

        # their receipts came back from the SMSC, were stored and sent to the ESME
        await until(first_in_flight, timeout=20, what="the first receipts in flight", proc=gw)
        second = await asyncio.to_thread(submit_all, esme, range(STORED, STORED + AT_THE_SMSC))
        await gw.kill9()  # every submit_sm_resp in hand, no receipt answered
        await asyncio.to_thread(esme.disconnect)
        ids = set(first + second)
        assert len(ids) == STORED + AT_THE_SMSC
        at_kill = dict(query(gw.db, "SELECT state, count(*) FROM messages GROUP BY state"))
        [(stored,)] = query(gw.db, "SELECT count(*) FROM esme_deliveries")

        gw.start()
        await gw.wait_ready(http)
        again = await asyncio.to_thread(bind, port, password)  # the ESME binds again
        got = await asyncio.wait_for(asyncio.to_thread(receipts_for, again, ids), 30)
        assert got == Counter(dict.fromkeys(ids, 1))

        def all_delivered() -> bool:
            rows = query(
                gw.db,
                "SELECT count(*), count(delivered_at) FROM esme_deliveries WHERE kind = 'receipt'",
            )
            return rows == [(len(ids), len(ids))]

        # one receipt per message, each recorded as answered: none left to send again
        await until(all_delivered, timeout=20, what="every receipt recorded", proc=gw)
        await asyncio.to_thread(again.unbind)
        await asyncio.to_thread(again.disconnect)
    print(  # noqa: T201 - what the kill left, with pytest -s
        f"at the kill: messages {at_kill}, {stored} receipts stored for the ESME"
    )

    states = dict(query(gw.db, "SELECT state, count(*) FROM messages GROUP BY state"))
    assert states == {"delivered": len(ids)}
    debits = query(
        gw.db, "SELECT message_id, count(*) FROM ledger WHERE kind = 'debit' GROUP BY message_id"
    )
    assert dict(debits) == dict.fromkeys(ids, 1)
    [(balance,)] = query(gw.db, "SELECT balance FROM accounts WHERE name = ?", ACCOUNT)
    assert balance == TOPUP - len(ids) * PRICE
    [(journal,)] = query(gw.db, "SELECT sum(amount) FROM ledger WHERE account = ?", ACCOUNT)
    assert journal == balance
