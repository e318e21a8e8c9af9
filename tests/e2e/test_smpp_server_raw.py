"""Segments an ESME cut itself, end to end over real TCP: smpplib (the independent ESME)
submits UDH parts (``smpplib.gsm.make_parts``) of a long GSM text and of a UCS-2 text,
a binary message and SAR parts; the SMSC simulator gets each part with its header, a
receipt comes back per part, and the ledger holds one debit per part. Through a modem
(on a pty) instead, each part is an SMS-SUBMIT with TP-UDHI, its header as given and
the GSM septets packed after it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, NamedTuple

import smpplib.client
import smpplib.consts
import smpplib.gsm

from drivers.modem.simulator.config import SimConfig as ModemConfig
from drivers.modem.simulator.pty import PtyModem
from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.server import SmscSimulator
from gateway.codec import pack_septets
from gateway.codec.septets import fill_bits_after
from gateway.model.records import EntryKind
from gateway.store import open_store
from tests.e2e.system import ACCOUNT, PRICE, TOPUP, write_config
from tests.e2e.test_modem_e2e import modem_link
from tests.e2e.test_smpp_server import SERVER, esme_daemon
from tests.waiting import eventually

GSM_TEXT = "A long text the ESME cuts itself into parts, each with its header. " * 4
UCS2_TEXT = "Длинный текст, который ESME режет сам. " * 3
PORTS = bytes((6, 0x05, 4, 0x0B, 0x84, 0x23, 0xF0))  # application ports (a WAP push)
SAR_REF = 0x1234


class Part(NamedTuple):
    """One submit_sm: its fields, and the header the SMSC must get."""

    fields: dict[str, Any]
    udh: bytes


def parts() -> list[Part]:
    out: list[Part] = []
    for text in (GSM_TEXT, UCS2_TEXT):
        encoding = (
            smpplib.consts.SMPP_ENCODING_DEFAULT
            if text is GSM_TEXT
            else smpplib.consts.SMPP_ENCODING_ISO10646
        )
        pieces, coding, esm_class = smpplib.gsm.make_parts(text, encoding=encoding)
        assert esm_class == smpplib.consts.SMPP_GSMFEAT_UDHI
        out += [
            Part({"esm_class": esm_class, "data_coding": coding, "short_message": p}, p[:6])
            for p in pieces
        ]
    binary = {"esm_class": 0x40, "data_coding": 4, "short_message": PORTS + b"\x00\x01\xfe\xff"}
    out.append(Part(binary, PORTS))
    pieces, coding, esm_class = smpplib.gsm.make_parts(GSM_TEXT, use_udhi=False)
    assert esm_class == 0  # no header: the SAR TLVs say which part it is
    for seq, piece in enumerate(pieces, 1):
        sar = {
            "sar_msg_ref_num": SAR_REF,
            "sar_total_segments": len(pieces),
            "sar_segment_seqnum": seq,
        }
        fields = {"data_coding": coding, "short_message": piece, **sar}
        out.append(Part(fields, bytes((5, 0x00, 3, SAR_REF & 0xFF, len(pieces), seq))))
    return out


class Esme:
    """smpplib bound as a transceiver: submits one part at a time; smpplib answers
    every deliver_sm (a receipt of an earlier part may come before a submit_sm_resp)."""

    def __init__(self, port: int, password: str) -> None:
        self.client = smpplib.client.Client(
            "127.0.0.1", port, timeout=10, allow_unknown_opt_params=True
        )
        self.resps: list[Any] = []
        self.receipts: list[Any] = []
        self.client.set_message_sent_handler(self._sent)
        self.client.set_message_received_handler(self._received)
        self.client.connect()
        self.client.bind_transceiver(system_id="acme1", password=password)

    def _sent(self, pdu: Any) -> None:  # smpplib calls it pdu=
        self.resps.append(pdu)

    def _received(self, pdu: Any) -> None:
        self.receipts.append(pdu)

    def submit(self, fields: dict[str, Any]) -> Any:
        answered = len(self.resps)
        self.client.send_message(
            source_addr_ton=5,
            source_addr="ACME",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="33612345678",
            registered_delivery=1,
            **fields,
        )
        while len(self.resps) == answered:
            self.client.read_once()
        return self.resps[-1]

    def read_receipts(self, count: int) -> None:
        while len({r.receipted_message_id for r in self.receipts}) < count:
            self.client.read_once()

    def leave(self) -> None:
        self.client.unbind()
        self.client.disconnect()


async def test_parts_an_esme_cut_reach_the_smsc_with_their_headers(tmp_path: Path) -> None:
    sim = SmscSimulator(config=SimConfig(dlr=True), port=0)
    await sim.start()
    try:
        path = write_config(tmp_path / "gateway.toml", smsc_port=sim.port, extra=SERVER)
        sent = parts()
        async with esme_daemon(path) as (config, _daemon, port, password):
            esme = await asyncio.to_thread(Esme, port, password)
            resps = [await asyncio.to_thread(esme.submit, p.fields) for p in sent]
            assert [int(r.status) for r in resps] == [0] * len(sent)
            ids = [r.message_id.decode() for r in resps]
            assert len(set(ids)) == len(sent)  # one message per part

            def at_smsc() -> list[dict[str, Any]]:
                return [r for r in sim.records if r.get("event") == "submit_sm"]

            await eventually(lambda: len(at_smsc()) == len(sent), what="every part at the SMSC")
            got = sorted((r["udh"], r["dcs"], r["esm"]) for r in at_smsc())
            wanted = sorted(
                (p.udh.hex(), {0: 0, 8: 8, 4: 4}[p.fields["data_coding"]], 0x40) for p in sent
            )
            assert got == wanted  # each header intact, UDHI set, the data coding kept
            assert all(not r["tlvs"] for r in at_smsc())  # no SAR TLVs went on

            await asyncio.wait_for(asyncio.to_thread(esme.read_receipts, len(sent)), 30)
            receipted = {r.receipted_message_id.decode() for r in esme.receipts}
            assert receipted == set(ids)  # a receipt per part
            assert all(b"stat:DELIVRD" in r.short_message for r in esme.receipts)
            await asyncio.to_thread(esme.leave)
        store = await open_store(config.store.url, base=config.base_dir)
        try:
            debits = [e for e in await store.history(ACCOUNT) if e.kind is EntryKind.DEBIT]
            views = [await store.get_message(i) for i in ids]
            balance = (await store.balance(ACCOUNT)).balance
        finally:
            await store.close()
        assert sorted(e.message_id or "" for e in debits) == sorted(ids)  # one debit a part
        assert {e.amount for e in debits} == {-PRICE}
        assert balance == TOPUP - PRICE * len(sent)
        assert {v.message.segments for v in views} == {1}
        assert [v.message.encoding for v in views[-3:]] == ["8bit", "gsm7", "gsm7"]
    finally:
        await sim.close()


async def test_parts_an_esme_cut_leave_a_modem_with_tp_udhi(tmp_path: Path) -> None:
    every = parts()
    sent = [every[0], every[1], every[4]]
    assert [p.fields["data_coding"] for p in sent] == [0, 0, 4]  # two GSM parts, one binary
    async with PtyModem(ModemConfig(report_delay=0.05)) as modem:
        path = write_config(
            tmp_path / "gateway.toml", smsc_port=0, link=modem_link(modem.device), extra=SERVER
        )
        async with esme_daemon(path) as (_config, _daemon, port, password):
            esme = await asyncio.to_thread(Esme, port, password)
            resps = [await asyncio.to_thread(esme.submit, p.fields) for p in sent]
            assert [int(r.status) for r in resps] == [0] * len(sent)
            await eventually(lambda: len(modem.modem.sent) == len(sent), what="every part sent")
            for part, tpdu in zip(sent, modem.modem.sent, strict=True):
                assert tpdu[0] & 0x40  # TP-UDHI
                udh, body = part.udh, part.fields["short_message"][len(part.udh) :]
                if part.fields["data_coding"] == 0:  # septets packed after the header
                    body = pack_septets(body, fill_bits_after(len(udh)))
                assert tpdu.endswith(udh + body)
            await asyncio.wait_for(asyncio.to_thread(esme.read_receipts, len(sent)), 30)
            receipted = {r.receipted_message_id for r in esme.receipts}
            assert receipted == {r.message_id for r in resps}  # a status report per part
            await asyncio.to_thread(esme.leave)
