"""The daemon end to end with a GSM modem on a pty as its only link.

HTTP in, SMS-SUBMIT PDUs out through the simulated modem, status reports
back to ``delivered``; an MO message from the modem lands in ``GET
/v1/inbound`` of the account that owns the modem's number.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from drivers.modem.simulator.config import SimConfig
from drivers.modem.simulator.pty import PtyModem
from gateway.config.file import load_config
from tests.e2e.system import (
    PRICE,
    SENDER,
    TOPUP,
    prepare_store,
    running_daemon,
    write_config,
)
from tests.waiting import eventually

NUMBER = "+33700000001"  # approved for the account by prepare_store: replies go to it


@dataclass
class ModemSystem:
    modem: PtyModem
    http: aiohttp.ClientSession
    base: str
    token: str

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str) -> dict[str, Any]:
        async with self.http.get(f"{self.base}{path}", headers=self.auth()) as r:
            assert r.status == 200, await r.text()
            doc: dict[str, Any] = await r.json()
            return doc


def modem_link(device: str) -> str:
    return f"""
[[link]]
name = "modem-1"
driver = "modem"
device = "{device}"
rate = 0
command_timeout = 3.0
send_timeout = 5.0
poll_interval = 1.0
registration_timeout = 2.0
number = "{NUMBER}"
routes = ["*"]
"""


@contextlib.asynccontextmanager
async def modem_system(tmp_path: Path) -> AsyncIterator[ModemSystem]:
    async with PtyModem(SimConfig(report_delay=0.05)) as modem:
        config_path = write_config(
            tmp_path / "gateway.toml", smsc_port=0, link=modem_link(modem.device)
        )
        config = load_config(config_path)
        token = await prepare_store(config.store.url, config.base_dir)
        async with running_daemon(config) as daemon, aiohttp.ClientSession() as http:
            assert daemon.links["modem-1"].health().bound
            yield ModemSystem(
                modem=modem, http=http, token=token, base=f"http://127.0.0.1:{daemon.http_port}"
            )


def submit_fields(tpdu: bytes) -> tuple[str, tuple[int, int] | None, bool]:
    """(recipient, (total, sequence) of the concatenation header or None, report asked)."""
    first, ndigits, toa = tpdu[0], tpdu[2], tpdu[3]
    octets = tpdu[4 : 4 + (ndigits + 1) // 2]
    digits = "".join(f"{o & 0x0F:x}{o >> 4:x}" for o in octets)[:ndigits]
    recipient = ("+" if toa == 0x91 else "") + digits
    at = 4 + len(octets) + 2  # past TP-PID and TP-DCS
    at += {0: 0, 2: 1, 1: 7, 3: 7}[(first >> 3) & 0x03]  # TP-VP by its format
    concat = None
    if first & 0x40:  # TP-UDHI
        ud = tpdu[at + 1 :]
        udh = ud[1 : 1 + ud[0]]
        while udh:
            iei, length, data = udh[0], udh[1], udh[2 : 2 + udh[1]]
            if iei == 0x00:
                concat = (data[1], data[2])
            elif iei == 0x08:
                concat = (data[2], data[3])
            udh = udh[2 + length :]
    return recipient, concat, bool(first & 0x20)


async def test_two_segments_go_out_as_two_pdus_and_end_delivered(tmp_path: Path) -> None:
    text = "Votre colis arrive demain entre 8h et 12h. " * 5  # 215 GSM characters
    async with modem_system(tmp_path) as gw:
        async with gw.http.post(
            f"{gw.base}/v1/messages",
            headers=gw.auth(),
            json={"from": SENDER, "to": ["+33612345678"], "text": text},
        ) as r:
            doc = await r.json()
            assert r.status == 202, doc
        [msg] = doc["messages"]
        assert msg["segments"] == 2

        async def delivered() -> bool:
            view = await gw.get(f"/v1/messages/{msg['id']}")
            state: str = view["state"]
            return state == "delivered"

        await eventually(delivered, what="the message delivered by status reports")
        view = await gw.get(f"/v1/messages/{msg['id']}")
        assert [s["state"] for s in view["segments"]] == ["delivered", "delivered"]
        fields = [submit_fields(t) for t in gw.modem.modem.sent]
        assert [f[0] for f in fields] == ["+33612345678"] * 2
        assert sorted(f[1] for f in fields if f[1]) == [(2, 1), (2, 2)]
        assert all(f[2] for f in fields)  # status report requested for each
        balance = await gw.get("/v1/balance")
        assert balance["balance"] == TOPUP - 2 * PRICE


async def test_mo_from_the_modem_shows_in_the_owners_inbound(tmp_path: Path) -> None:
    reply = "Oui, merci pour le rappel ! " * 8  # 224 characters: two parts
    async with modem_system(tmp_path) as gw:
        parts = gw.modem.inject_mo(originator="+33611111111", text=reply, reference=42)
        assert parts == 2

        async def arrived() -> bool:
            return bool((await gw.get("/v1/inbound"))["inbound"])

        await eventually(arrived, what="the reply in /v1/inbound")
        [got] = (await gw.get("/v1/inbound"))["inbound"]
        assert got["from"] == "+33611111111"
        assert got["to"] == NUMBER
        assert got["text"] == reply
        assert got["link"] == "modem-1"
