"""Answers done together leave in one write; each still carries its own sequence and id."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import pytest

from drivers.smpp.protocol.pdu import Bind, CommandId, encode, encode_submit_sm
from gateway.model.esme import EsmeCredential
from gateway.model.esme_ingress import EsmeSubmit
from tests.drivers.smpp.server.test_listener import FakeGateway, serve
from tests.waiting import eventually

HEADER = struct.Struct(">IIII")
COUNT = 8


class GatedGateway(FakeGateway):
    """Holds every submit until ``gate`` opens: their answers are then done together."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = 0

    async def submit(self, credential: EsmeCredential, submit: EsmeSubmit) -> str:
        self.waiting += 1
        await self.gate.wait()
        return await super().submit(credential, submit)


async def read_pdus(sock: socket.socket, count: int) -> list[tuple[int, int, int, bytes]]:
    loop = asyncio.get_running_loop()
    data = b""
    pdus: list[tuple[int, int, int, bytes]] = []
    while len(pdus) < count:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
        assert chunk, "the server closed the connection"
        data += chunk
        while len(data) >= 16 and len(data) >= HEADER.unpack_from(data)[0]:
            length, command, status, sequence = HEADER.unpack_from(data)
            pdus.append((command, status, sequence, data[16:length]))
            data = data[length:]
    return pdus


async def test_answers_done_together_are_written_once(monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[int] = []
    original = asyncio.StreamWriter.write

    def counting(self: asyncio.StreamWriter, data: Any) -> None:
        writes.append(len(data))
        original(self, data)

    monkeypatch.setattr(asyncio.StreamWriter, "write", counting)  # the server's writes only
    gateway = GatedGateway()
    server, _, port = await serve(gateway)
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        bind = Bind(
            command_id=CommandId.BIND_TRANSCEIVER, sequence=1, system_id="acme", password="secret"
        )
        await loop.sock_sendall(sock, encode(bind))
        assert (await read_pdus(sock, 1))[0][:2] == (CommandId.BIND_TRANSCEIVER_RESP, 0)
        submits = b"".join(
            encode_submit_sm(
                seq,
                source_addr_ton=5,
                source_addr="ACME",
                dest_addr_ton=1,
                destination_addr=f"+4479000000{seq:02d}",
                short_message=b"hi",
            )
            for seq in range(2, 2 + COUNT)
        )
        await loop.sock_sendall(sock, submits)
        await eventually(lambda: gateway.waiting == COUNT)
        before = len(writes)
        gateway.gate.set()
        answers = await read_pdus(sock, COUNT)
        assert len(writes) - before == 1  # one write for the answers done together
        assert sorted(a[2] for a in answers) == list(range(2, 2 + COUNT))
        assert {a[:2] for a in answers} == {(CommandId.SUBMIT_SM_RESP, 0)}
        ids = {a[3].rstrip(b"\x00") for a in answers}
        assert ids == {f"m{n}".encode() for n in range(1, 1 + COUNT)}
    finally:
        sock.close()
        await server.stop()
