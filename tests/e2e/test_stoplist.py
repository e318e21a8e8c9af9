"""A STOP reply from the SMSC stops its number: the next send to it is refused, not
charged, while other numbers are sent to as before (the daemon, SQLite, the SMSC
simulator over TCP, HTTP)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.system import PRICE, TOPUP, running_system
from tests.waiting import eventually

STOPPER, OTHER = "+33611111111", "+33622222222"


async def test_a_stop_reply_stops_the_next_send_to_its_number(tmp_path: Path) -> None:
    async with running_system(tmp_path) as gw:
        await eventually(lambda: bool(gw.sim.bound()), what="link bound at the SMSC")
        gw.sim.inject_mo(
            source=STOPPER, destination="+33700000001", text=" Stop ", parts=None, order=None
        )

        async def stopped() -> bool:
            async with gw.http.get(f"{gw.base}/v1/stoplist", headers=gw.auth()) as r:
                return [e["number"] for e in (await r.json())["stoplist"]] == [STOPPER]

        await eventually(stopped, what="the number on the stoplist")
        async with gw.http.get(f"{gw.base}/v1/inbound", headers=gw.auth()) as r:
            assert [m["text"] for m in (await r.json())["inbound"]] == [" Stop "]
        status, doc = await gw.send({"from": "ACME", "to": [STOPPER, OTHER], "text": "promo"})
        assert status == 202, doc
        assert [m["to"] for m in doc["messages"]] == [OTHER]
        assert [(r["to"], r["error"]) for r in doc["refused"]] == [(STOPPER, "stopped")]
        await gw.wait_state(doc["messages"][0]["id"], "delivered")
        assert {s["to"] for s in gw.submits()} == {OTHER[1:]}  # nothing went to the stopper
        assert await gw.balance() == TOPUP - PRICE
        status, doc = await gw.send({"from": "ACME", "to": [STOPPER], "text": "promo"})
        assert (status, doc["error"]) == (400, "stopped")
        assert await gw.balance() == TOPUP - PRICE
