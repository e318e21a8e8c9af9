"""The SMPP server in front of the real send pipeline and store, smpplib as the ESME."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import smpplib.client
import smpplib.exceptions
import structlog

from drivers.smpp.protocol import status as st
from drivers.smpp.server.listener import SmppServer
from drivers.smpp.server.settings import ServerSettings
from gateway.ingress.esme import EsmeIngress, address_allowed
from gateway.ingress.pipeline import SendService
from gateway.model.esme_ingress import AddressNotAllowed
from gateway.model.message import MessageState
from gateway.model.raw_body import RawBody
from gateway.store.sqlite.store import SqliteStore
from tests.clock import FakeClock
from tests.gateway.store.support import fresh_store, make_account


class NoDeliveries:
    def attach(self, target: Any) -> None:
        pass

    def detach(self, target: Any) -> None:
        pass


class Counted:
    def __init__(self) -> None:
        self.accepted: list[tuple[str, str]] = []

    def message_accepted(self, *, account: str, channel: str, count: int = 1) -> None:
        self.accepted.append((account, channel))

    def message_rejected(self, *, account: str, reason: str, count: int = 1) -> None:
        pass

    def credit_low_crossed(self, *, account: str, count: int = 1) -> None:
        pass

    def message_finished(self, *, account: str, status: str, count: int = 1) -> None:
        pass


@dataclass
class Env:
    store: SqliteStore
    password: str
    port: int
    metrics: Counted
    ingress: EsmeIngress


@pytest.fixture
async def env(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Env]:
    store = await fresh_store(tmp_path, clock)
    await make_account(store, credit=10)
    _, password = await store.create_esme_credential("acme", "acme1", max_binds=2)
    metrics = Counted()
    send = SendService(store=store, log=structlog.get_logger(), clock=clock)
    ingress = EsmeIngress(store=store, send=send, metrics=metrics, clock=clock)
    server = SmppServer(
        settings=ServerSettings(listen=(("127.0.0.1", 0),)),
        gateway=ingress,
        deliveries=NoDeliveries(),
        log=structlog.get_logger(),
    )
    await server.start()
    try:
        yield Env(store, password, server.addresses[0][1], metrics, ingress)
    finally:
        await server.stop()
        await store.close()


def session(env: Env) -> smpplib.client.Client:
    c = smpplib.client.Client("127.0.0.1", env.port, timeout=10, allow_unknown_opt_params=True)
    c.connect()
    c.bind_transceiver(system_id="acme1", password=env.password)
    return c


def submit(c: smpplib.client.Client, **fields: Any) -> Any:
    base: dict[str, Any] = {
        "source_addr_ton": 5,
        "source_addr": "ACME",
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "destination_addr": "33612345678",
        "registered_delivery": 1,
    }
    c.send_message(**(base | fields))
    return c.read_pdu()


def scenario(env: Env) -> dict[str, Any]:
    c = session(env)
    out: dict[str, Any] = {
        "short": submit(c, short_message=b"hello"),
        "ucs2": submit(c, data_coding=8, short_message="привет".encode("utf-16-be")),
        "long": submit(c, message_payload=b"long text " * 40),
        "bad_sender": submit(c, source_addr="NOPE", short_message=b"x"),
        "udh": submit(c, esm_class=0x40, short_message=b"\x05\x00\x03\x01\x02\x01hi"),
        "bad_sar": submit(
            c, short_message=b"x", sar_msg_ref_num=1, sar_total_segments=2, sar_segment_seqnum=3
        ),
        "ton": submit(c, dest_addr_ton=2, destination_addr="0612345678", short_message=b"x"),
    }
    short_id = out["short"].message_id.decode()
    c.query_message(message_id=short_id, source_addr_ton=5, source_addr_npi=0, source_addr="ACME")
    out["query"] = c.read_pdu()
    out["poor"] = submit(c, message_payload=b"y" * 2000)  # 13 segments, 10 credits
    c.unbind()
    c.disconnect()
    return out


async def test_submits_go_through_the_pipeline(env: Env) -> None:
    out = await asyncio.to_thread(scenario, env)
    statuses = {k: int(v.status) for k, v in out.items()}
    assert statuses == {
        "short": 0,
        "ucs2": 0,
        "long": 0,
        "bad_sender": st.ESME_RINVSRCADR,
        "udh": 0,
        "bad_sar": st.ESME_RINVOPTPARAMVAL,
        "ton": st.ESME_RINVDSTTON,
        "query": 0,
        "poor": st.ESME_RSUBMITFAIL,
    }
    ids = [out[k].message_id.decode() for k in ("short", "ucs2", "long", "udh")]
    views = [await env.store.get_message(i) for i in ids]
    assert [v.message.text for v in views] == ["hello", "привет", "long text " * 40, "hi"]
    assert [v.message.encoding for v in views] == ["gsm7", "ucs2", "gsm7", "gsm7"]
    assert [v.message.segments for v in views] == [1, 1, 3, 1]
    assert [v.message.raw is None for v in views] == [True, True, True, False]
    raw = RawBody.unpack(views[3].message.raw or b"")
    assert (raw.udh, raw.body) == (b"\x05\x00\x03\x01\x02\x01", b"hi")
    assert (views[0].message.destination, views[0].message.sender) == ("+33612345678", "ACME")
    assert out["query"].message_state == 1  # queued: ENROUTE
    assert env.metrics.accepted == [("acme", "smpp")] * 4
    assert (await env.store.balance("acme")).balance == 10 - 1 - 1 - 3 - 1


def cancel_raw(env: Env, message_id: str) -> int:
    c = session(env)
    body = b"\x00" + message_id.encode() + b"\x00\x05\x00ACME\x00\x01\x01" + b"33612345678\x00"
    c._socket.sendall(struct.pack(">IIII", 16 + len(body), 0x08, 0, 500) + body)  # noqa: SLF001
    status = struct.unpack(">IIII", c._recv_exact(16))[2]  # noqa: SLF001
    c.disconnect()
    return int(status)


async def test_cancel_of_a_queued_message_and_of_another_accounts(env: Env) -> None:
    esme = await asyncio.to_thread(session, env)
    out = await asyncio.to_thread(submit, esme, short_message=b"later")
    await asyncio.to_thread(esme.disconnect)
    message_id = out.message_id.decode()
    assert await asyncio.to_thread(cancel_raw, env, message_id) == 0
    assert (await env.store.get_message(message_id)).message.state is MessageState.CANCELLED
    assert await asyncio.to_thread(cancel_raw, env, message_id) == st.ESME_RCANCELFAIL
    assert await asyncio.to_thread(cancel_raw, env, "nosuchid") == st.ESME_RINVMSGID


def bind_status(env: Env, password: str) -> int:
    c = smpplib.client.Client("127.0.0.1", env.port, timeout=10, allow_unknown_opt_params=True)
    c.connect()
    try:
        c.bind_transmitter(system_id="acme1", password=password)
    except smpplib.exceptions.PDUError as exc:
        return int(exc.args[1])
    finally:
        c.disconnect()
    return 0


async def test_password_rotation_keeps_bound_sessions(env: Env) -> None:
    bound = await asyncio.to_thread(session, env)
    new = await env.store.set_esme_password("acme", "acme1")
    assert await asyncio.to_thread(bind_status, env, env.password) == st.ESME_RINVPASWD
    assert await asyncio.to_thread(bind_status, env, new) == 0
    resp = await asyncio.to_thread(submit, bound, short_message=b"still bound")
    assert int(resp.status) == 0
    await asyncio.to_thread(bound.disconnect)


async def test_allow_list(env: Env) -> None:
    assert address_allowed("192.0.2.9", ("192.0.2.0/24",))
    assert address_allowed("::ffff:192.0.2.9", ("192.0.2.0/24",))
    assert not address_allowed("198.51.100.1", ("192.0.2.0/24",))
    assert address_allowed("198.51.100.1", ())
    await env.store.create_esme_credential("acme", "fenced", allow=["192.0.2.0/24"])
    _, password = await env.store.create_esme_credential("acme", "open")
    fenced = await env.store.set_esme_password("acme", "fenced")
    with pytest.raises(AddressNotAllowed, match=r"may not bind from 127\.0\.0\.1"):
        await env.ingress.authenticate("fenced", fenced, "127.0.0.1")
    assert (await env.ingress.authenticate("open", password, "127.0.0.1")).system_id == "open"
