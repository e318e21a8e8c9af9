"""The SMPP server over real TCP, smpplib as an independent ESME, a fake gateway behind it."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
from prometheus_client import CollectorRegistry

from drivers.smpp.protocol import status as st
from drivers.smpp.protocol.pdu import CommandId, encode_bare, encode_message_resp
from drivers.smpp.server.listener import SmppServer
from drivers.smpp.server.settings import ServerSettings
from gateway.model.errors import InsufficientCredit, NotCancellable, StoreUnavailable
from gateway.model.esme import DeliveryKind, EsmeCredential, EsmeDelivery
from gateway.model.esme_ingress import (
    EsmeSubmit,
    QueryAnswer,
    UnknownMessage,
    UnknownSystemId,
    WrongPassword,
)
from gateway.model.message import MessageState
from gateway.model.outcomes import ReceiptState
from gateway.model.secrets import Secret
from gateway.ops.esme_metrics import EsmeMetrics
from tests.fixtures.mosquitto import tls_certificate
from tests.waiting import eventually


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []
        self.levels: list[tuple[str, str]] = []  # (level, event) of each line

    def _add(self, level: str, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))
        self.levels.append((level, event))

    def debug(self, event: str, **fields: Any) -> None:
        self._add("debug", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._add("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._add("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._add("error", event, **fields)


class FakeGateway:
    def __init__(self, *, throughput: int | None = None, max_binds: int = 2) -> None:
        self.credential = EsmeCredential(
            account="acme",
            system_id="acme",
            max_binds=max_binds,
            throughput=throughput,
            allow=(),
            created_at=0.0,
        )
        self.submits: list[EsmeSubmit] = []

    async def authenticate(self, system_id: str, password: str, peer: str) -> EsmeCredential:
        if system_id == "down":
            raise StoreUnavailable("the store cannot be reached")
        if system_id != "acme":
            raise UnknownSystemId(f"no credential {system_id}")
        if password != "secret":
            raise WrongPassword("wrong password")
        return self.credential

    async def submit(self, credential: EsmeCredential, submit: EsmeSubmit) -> str:
        if submit.destination == "poor":
            raise InsufficientCredit("acme", 0, 1)
        if submit.destination == "bug":
            raise RuntimeError("a bug")
        self.submits.append(submit)
        return f"m{len(self.submits)}"

    async def query(self, credential: EsmeCredential, message_id: str) -> QueryAnswer:
        if message_id != "m1":
            raise UnknownMessage(message_id)
        return QueryAnswer(message_id="m1", state=MessageState.DELIVERED, final_at=1.7e9)

    async def cancel(self, credential: EsmeCredential, message_id: str) -> None:
        raise NotCancellable(message_id, "delivered")


class Deliveries:
    def __init__(self) -> None:
        self.targets: list[Any] = []

    def attach(self, target: Any) -> None:
        self.targets.append(target)

    def detach(self, target: Any) -> None:
        self.targets.remove(target)


Served = tuple[SmppServer, FakeGateway, Deliveries, int]


async def serve(
    gateway: FakeGateway, *, metrics: EsmeMetrics | None = None, **settings: Any
) -> tuple[SmppServer, Deliveries, int]:
    deliveries = Deliveries()
    server = SmppServer(
        settings=ServerSettings(listen=(("127.0.0.1", 0),), **settings),
        gateway=gateway,
        deliveries=deliveries,
        log=Log(),
        metrics=metrics,
    )
    await server.start()
    return server, deliveries, server.addresses[0][1]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    gateway = FakeGateway()
    server, deliveries, port = await serve(gateway)
    yield server, gateway, deliveries, port
    await server.stop()


def client(port: int, **kw: Any) -> smpplib.client.Client:
    c = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True, **kw)
    c.connect()
    return c


def bind_error(port: int, system_id: str, password: str) -> int:
    c = client(port)
    try:
        c.bind_transmitter(system_id=system_id, password=password)
    except smpplib.exceptions.PDUError as exc:
        return int(exc.args[1])
    finally:
        c.disconnect()
    return 0


def submit_and_read(c: smpplib.client.Client, **fields: Any) -> Any:
    fields.setdefault("source_addr", "ACME")
    fields.setdefault("destination_addr", "33612345678")
    fields.setdefault("dest_addr_ton", 1)
    fields.setdefault("dest_addr_npi", 1)
    c.send_message(**fields)
    return c.read_pdu()


async def test_bind_wrong_password_and_unknown_system_id(served: Served) -> None:
    _, _, _, port = served
    assert await asyncio.to_thread(bind_error, port, "acme", "nope") == st.ESME_RINVPASWD
    assert await asyncio.to_thread(bind_error, port, "other", "secret") == st.ESME_RINVSYSID
    assert await asyncio.to_thread(bind_error, port, "acme", "secret") == 0


def submits(port: int) -> list[Any]:
    c = client(port)
    c.bind_transceiver(system_id="acme", password="secret")
    out = [
        submit_and_read(c, short_message=b"hello"),
        submit_and_read(c, data_coding=8, short_message="привет".encode("utf-16-be")),
        submit_and_read(c, destination_addr="poor", short_message=b"x"),
        submit_and_read(c, destination_addr="bug", short_message=b"x"),
    ]
    c.unbind()
    c.disconnect()
    return out


async def test_submits_answered_with_ids_and_statuses(served: Served) -> None:
    _, gateway, _, port = served
    resps = await asyncio.to_thread(submits, port)
    assert [(r.command, int(r.status)) for r in resps] == [
        ("submit_sm_resp", 0),
        ("submit_sm_resp", 0),
        ("submit_sm_resp", st.ESME_RSUBMITFAIL),
        ("submit_sm_resp", st.ESME_RSYSERR),
    ]
    assert resps[0].message_id == b"m1"
    assert gateway.submits[1].data_coding == 8
    assert gateway.submits[1].short_message.decode("utf-16-be") == "привет"


def query_and_cancel(port: int) -> tuple[Any, Any, int]:
    c = client(port)
    c.bind_transceiver(system_id="acme", password="secret")
    c.query_message(message_id="m1", source_addr_ton=0, source_addr_npi=0, source_addr="ACME")
    found = c.read_pdu()
    c.query_message(message_id="m9", source_addr_ton=0, source_addr_npi=0, source_addr="ACME")
    missing = c.read_pdu()
    # smpplib has no cancel_sm: the bytes by hand (SMPP 3.4 4.9.1)
    body = b"\x00m1\x00\x00\x00ACME\x00\x01\x01336\x00"
    c._socket.sendall(struct.pack(">IIII", 16 + len(body), 0x08, 0, 99) + body)  # noqa: SLF001
    header = c._recv_exact(16)  # noqa: SLF001
    c.disconnect()
    return found, missing, struct.unpack(">IIII", header)[2]


async def test_query_and_cancel(served: Served) -> None:
    _, _, _, port = served
    found, missing, cancel_status = await asyncio.to_thread(query_and_cancel, port)
    assert found.message_state == 2  # DELIVERED
    assert found.final_date.startswith(b"231114")
    assert int(missing.status) == st.ESME_RINVMSGID
    assert cancel_status == st.ESME_RCANCELFAIL


def burst(port: int, count: int) -> list[int]:
    c = client(port)
    c.bind_transmitter(system_id="acme", password="secret")
    statuses = [int(submit_and_read(c, short_message=b"x").status) for _ in range(count)]
    c.disconnect()
    return statuses


async def test_throughput_beyond_the_credential_is_throttled() -> None:
    gateway = FakeGateway(throughput=3)
    registry = CollectorRegistry()
    server, _, port = await serve(gateway, metrics=EsmeMetrics(registry=registry))
    try:
        statuses = await asyncio.to_thread(burst, port, 10)
    finally:
        await server.stop()
    assert statuses[:3] == [0, 0, 0]
    throttled = statuses.count(st.ESME_RTHROTTLED)
    assert throttled > 0
    sample = registry.get_sample_value
    assert sample("smsgw_esme_throttled_total", {"system_id": "acme"}) == throttled
    assert sample("smsgw_esme_submits_total", {"system_id": "acme", "status": "ESME_ROK"}) == (
        10 - throttled
    )
    assert sample("smsgw_esme_binds_total", {"system_id": "acme", "bind_type": "transmitter"}) == 1


def hold_binds(port: int, count: int) -> tuple[list[smpplib.client.Client], int]:
    held = []
    for _ in range(count):
        c = client(port)
        c.bind_receiver(system_id="acme", password="secret")
        held.append(c)
    return held, bind_error(port, "acme", "secret")


async def test_too_many_binds_and_receivers_attached(served: Served) -> None:
    server, _, deliveries, port = served
    held, status = await asyncio.to_thread(hold_binds, port, 2)
    assert status == st.ESME_RALYBND
    assert len(deliveries.targets) == 2
    assert deliveries.targets[0].system_id == "acme"
    for c in held:
        await asyncio.to_thread(c.disconnect)
    await eventually(lambda: not deliveries.targets, what="receivers detached")
    assert server.binds("acme") == 0


def garbage_then_submit(port: int) -> tuple[bytes, int]:
    good = client(port)
    good.bind_transmitter(system_id="acme", password="secret")
    bad = socket.create_connection(("127.0.0.1", port), timeout=5)
    bad.sendall(struct.pack(">IIII", 10_000_000, 4, 0, 1))  # a huge command_length
    nack = bad.recv(16)
    rest = bad.recv(16)  # the server closed it
    bad.close()
    junk = socket.create_connection(("127.0.0.1", port), timeout=5)
    junk.sendall(b"\xff" * 64)
    junk.recv(64)
    junk.close()
    status = int(submit_and_read(good, short_message=b"still served").status)
    good.disconnect()
    return nack + rest, status


async def test_garbage_and_huge_length_do_not_hurt_others(served: Served) -> None:
    _, _, _, port = served
    data, status = await asyncio.to_thread(garbage_then_submit, port)
    assert struct.unpack(">IIII", data[:16])[1:3] == (0x80000000, st.ESME_RINVCMDLEN)
    assert len(data) == 16
    assert status == 0


def failing_binds(port: int, count: int) -> list[int]:
    return [bind_error(port, "acme", "nope") for _ in range(count)] + [
        bind_error(port, "acme", "secret")
    ]


async def test_failed_binds_are_limited_per_address() -> None:
    server, _, port = await serve(FakeGateway(), failed_binds=3, failed_bind_period=60.0)
    try:
        statuses = await asyncio.to_thread(failing_binds, port, 4)
    finally:
        await server.stop()
    assert statuses[:3] == [st.ESME_RINVPASWD] * 3
    assert statuses[3:] == [st.ESME_RBINDFAIL, st.ESME_RBINDFAIL]  # even the right password


def receive_one(c: smpplib.client.Client) -> Any:
    pdu = c.read_pdu()
    c._socket.sendall(encode_message_resp(CommandId.DELIVER_SM_RESP, pdu.sequence, 0, ""))  # noqa: SLF001
    return pdu


async def test_deliver_receipt_to_a_receiver(served: Served) -> None:
    _, _, deliveries, port = served
    c = await asyncio.to_thread(client, port)
    await asyncio.to_thread(c.bind_receiver, system_id="acme", password="secret")
    await eventually(lambda: bool(deliveries.targets), what="attached")
    delivery = EsmeDelivery(
        id=1,
        system_id="acme",
        kind=DeliveryKind.RECEIPT,
        source="+33612345678",
        destination="ACME",
        done_at=1.7e9,
        message_id="m1",
        state=ReceiptState.DELIVERED,
        submitted_at=1.7e9 - 5,
        segments=1,
    )
    received, _ = await asyncio.gather(
        asyncio.to_thread(receive_one, c), deliveries.targets[0].deliver(delivery)
    )
    assert received.esm_class == 0x04
    assert received.short_message.startswith(b"id:m1 sub:001 dlvrd:001")
    assert received.receipted_message_id == b"m1"
    await asyncio.to_thread(c.disconnect)


async def test_stop_unbinds_the_esmes(served: Served) -> None:
    server, _, _, port = served
    c = await asyncio.to_thread(client, port)
    await asyncio.to_thread(c.bind_transceiver, system_id="acme", password="secret")
    stopping = asyncio.create_task(server.stop())
    pdu = await asyncio.to_thread(c.read_pdu)
    assert pdu.command == "unbind"
    await asyncio.to_thread(
        c._socket.sendall,  # noqa: SLF001
        encode_bare(CommandId.UNBIND_RESP, pdu.sequence),
    )
    await stopping
    c.disconnect()
    assert server.binds("acme") == 0


async def test_tls_listener(tmp_path: Path) -> None:
    cert, key = tls_certificate(tmp_path)

    server = SmppServer(
        settings=ServerSettings(
            tls_listen=(("127.0.0.1", 0),), tls_cert=cert, tls_key=Secret(key.read_text())
        ),
        gateway=FakeGateway(),
        deliveries=Deliveries(),
        log=Log(),
    )
    await server.start()
    port = server.addresses[0][1]
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        c = await asyncio.to_thread(client, port, ssl_context=context)
        resp = await asyncio.to_thread(c.bind_transmitter, system_id="acme", password="secret")
        assert int(resp.status) == 0
        await asyncio.to_thread(c.disconnect)
    finally:
        await server.stop()


def over_the_cap(port: int) -> tuple[bytes, int]:
    first = client(port)
    first.bind_transmitter(system_id="acme", password="secret")
    second = socket.create_connection(("127.0.0.1", port), timeout=5)
    closed = second.recv(16)
    second.close()
    status = int(submit_and_read(first, short_message=b"x").status)
    first.disconnect()
    return closed, status


async def test_connections_beyond_the_cap_are_closed() -> None:
    server, _, port = await serve(FakeGateway(), max_connections=1)
    try:
        closed, status = await asyncio.to_thread(over_the_cap, port)
    finally:
        await server.stop()
    assert (closed, status) == (b"", 0)


def store_down_binds(port: int) -> list[int]:
    return [bind_error(port, "down", "secret") for _ in range(4)] + [
        bind_error(port, "acme", "secret")
    ]


async def test_store_outage_refuses_binds_without_blocking_the_address() -> None:
    server, _, port = await serve(FakeGateway(), failed_binds=2)
    try:
        statuses = await asyncio.to_thread(store_down_binds, port)
    finally:
        await server.stop()
    assert statuses == [st.ESME_RBINDFAIL] * 4 + [0]
