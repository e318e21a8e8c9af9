"""Floods of bad binds from one address over real TCP: each credential check (a password
KDF in the store) costs CPU, so an address gets at most ``failed_binds`` of them
however many binds it sends at once, or hangs up on."""

from __future__ import annotations

import asyncio
import socket
import struct
from concurrent.futures import ThreadPoolExecutor

from drivers.smpp.protocol import status as st
from drivers.smpp.protocol.pdu import CommandId
from gateway.model.esme import EsmeCredential
from gateway.store.esme_credentials import hash_password, password_matches
from tests.drivers.smpp.server.test_listener import FakeGateway, Log, bind_error, serve
from tests.waiting import eventually

# what a check costs the store: the same scrypt, in a thread, against this hash
STORED = hash_password("secret")


class CountingGateway(FakeGateway):
    """Credential checks counted, at most how many ran at once, each running the store's
    password KDF (scrypt, in a thread, as the store does)."""

    def __init__(self) -> None:
        super().__init__()
        self.checks = 0
        self.running = 0
        self.most_at_once = 0

    async def authenticate(self, system_id: str, password: str, peer: str) -> EsmeCredential:
        self.checks += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.to_thread(password_matches, password, STORED)
            return await super().authenticate(system_id, password, peer)
        finally:
            self.running -= 1


def bind_pdu(system_id: str, password: str, sequence: int = 1) -> bytes:
    body = system_id.encode() + b"\0" + password.encode() + b"\0" + b"\0\x34\0\0\0"
    return struct.pack(">IIII", 16 + len(body), CommandId.BIND_TRANSMITTER, 0, sequence) + body


def flood(port: int, count: int) -> list[int]:
    """``count`` wrong binds sent at once, each on its own connection; their statuses."""
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: bind_error(port, "acme", "nope"), range(count)))


async def test_simultaneous_bad_binds_from_one_address_cost_at_most_the_limit() -> None:
    gateway = CountingGateway()
    server, _, port = await serve(gateway, failed_binds=3, failed_bind_period=60.0)
    try:
        statuses = await asyncio.to_thread(flood, port, 30)
        assert sorted(statuses) == sorted([st.ESME_RINVPASWD] * 3 + [st.ESME_RBINDFAIL] * 27)
        assert gateway.checks == 3
        assert gateway.most_at_once == 1  # one check at a time per address
        # the right password too, now: the address is blocked
        assert await asyncio.to_thread(bind_error, port, "acme", "secret") == st.ESME_RBINDFAIL
        assert gateway.checks == 3
    finally:
        await server.stop()


def hang_up_after_bind(port: int) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(bind_pdu("acme", "nope"))
    s.close()


async def test_bad_binds_that_hang_up_before_the_answer_are_counted() -> None:
    gateway = CountingGateway()
    server, _, port = await serve(gateway, failed_binds=3, failed_bind_period=60.0)
    try:
        for done in range(1, 4):
            await asyncio.to_thread(hang_up_after_bind, port)

            def checked(n: int = done) -> bool:
                return gateway.checks == n and not gateway.running

            await eventually(checked, what=f"bind {done} checked")
        assert await asyncio.to_thread(bind_error, port, "acme", "secret") == st.ESME_RBINDFAIL
        assert gateway.checks == 3
    finally:
        await server.stop()


async def test_a_blocked_address_is_logged_once_at_info_not_once_per_bind() -> None:
    gateway = CountingGateway()
    server, _, port = await serve(gateway, failed_binds=3, failed_bind_period=60.0)
    log = server.log
    assert isinstance(log, Log)
    try:
        statuses = await asyncio.to_thread(flood, port, 30)
        assert statuses.count(st.ESME_RBINDFAIL) == 27

        def closed() -> bool:
            return sum(e == "esme_connection_closed" for _, e in log.levels) == 30

        await eventually(closed, what="every connection's end logged")
    finally:
        await server.stop()
    at_info = [
        fields
        for (level, _), (event, fields) in zip(log.levels, log.lines, strict=True)
        if level == "info" and event == "esme_bind_refused"
    ]
    # the three wrong passwords, then the first bind refused as blocked
    assert [f["status"] for f in at_info] == ["ESME_RINVPASWD"] * 3 + ["ESME_RBINDFAIL"]
    assert at_info[-1]["blocked_for"] == 60.0
    assert sum(1 for lv, e in log.levels if (lv, e) == ("debug", "esme_bind_refused")) == 26
    infos_closed = sum(1 for lv, e in log.levels if (lv, e) == ("info", "esme_connection_closed"))
    assert infos_closed == 4


def bind_from(port: int, source: str) -> int:
    """A wrong bind from the loopback address ``source``; its command_status."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    try:
        s.sendall(bind_pdu("acme", "nope"))
        header = b""
        while len(header) < 16:
            chunk = s.recv(16 - len(header))
            if not chunk:
                break
            header += chunk
    finally:
        s.close()
    return int(struct.unpack(">IIII", header)[2])


async def test_binds_from_many_addresses_check_one_password_at_a_time() -> None:
    gateway = CountingGateway()
    server, _, port = await serve(gateway, failed_binds=3, failed_bind_period=60.0)
    sources = [f"127.0.0.{n}" for n in range(2, 12)]
    try:
        with ThreadPoolExecutor(len(sources)) as pool:
            statuses = await asyncio.get_running_loop().run_in_executor(
                None, lambda: list(pool.map(lambda a: bind_from(port, a), sources))
            )
    finally:
        await server.stop()
    assert statuses == [st.ESME_RINVPASWD] * len(sources)
    assert gateway.checks == len(sources)
    assert gateway.most_at_once == 1  # ten addresses: still one KDF at a time
