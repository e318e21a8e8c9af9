"""Abuse of the SMPP server over real TCP, against the daemon as a real process: a
huge command_length, garbage bytes, 60 simultaneous bad binds and 50 idle
connections, while a properly bound smpplib ESME keeps submitting. The ESME is
answered all along, the daemon stays up."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import smpplib.client
import smpplib.exceptions

from drivers.smpp.protocol import status as st
from drivers.smpp.simulator.config import SimConfig
from tests.e2e.system import smpp_link
from tests.e2e.test_process import daemon_process, smsc
from tests.e2e.test_smpp_server import esme_password
from tests.fixtures.net import free_port
from tests.waiting import eventually

BAD_BINDS = 60
IDLE = 50
FAILED_BINDS = 5  # the server's default per address and minute
SLOW = 5.0  # seconds: a submit answered later than this is not "still answered"
PACE = 0.005  # seconds between the ESME's submits: a steady load, not the most it can


def server_table(port: int) -> str:
    return f'[smpp_server]\nlisten = "127.0.0.1:{port}"\nwindow = 8\n'


class Esme:
    """A bound smpplib transmitter submitting one message after another in a thread,
    each answer's status and delay kept, until :meth:`stop`."""

    def __init__(self, port: int, password: str) -> None:
        self.client = smpplib.client.Client(
            "127.0.0.1", port, timeout=10, allow_unknown_opt_params=True
        )
        self.client.connect()
        self.client.bind_transmitter(system_id="acme1", password=password)
        self.answers: list[tuple[int, float]] = []  # (command_status, seconds)
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="esme", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                self.client.send_message(
                    source_addr_ton=5,
                    source_addr="ACME",
                    dest_addr_ton=1,
                    dest_addr_npi=1,
                    destination_addr=f"3361{len(self.answers):07d}",
                    short_message=b"still served",
                )
                pdu = self.client.read_pdu()
                assert pdu.command == "submit_sm_resp", pdu.command
                self.answers.append((int(pdu.status), time.monotonic() - started))
                self._stop.wait(PACE)
        except BaseException as exc:  # noqa: BLE001 - shown by the test
            self.error = exc

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
        self.client.unbind()
        self.client.disconnect()


def huge_length(port: int) -> tuple[bytes, bytes]:
    """A header announcing 10 MB: the generic_nack, then the server's close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(struct.pack(">IIII", 10_000_000, 0x04, 0, 1))
        nack = s.recv(16)
        return nack, s.recv(16)
    finally:
        s.close()


def garbage(port: int) -> bytes:
    """Bytes that are no PDU: what comes back before the server closes the connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(bytes(range(256)) * 4)
        got = b""
        while chunk := s.recv(4096):
            got += chunk
        return got
    finally:
        s.close()


def bad_bind(port: int, n: int) -> int:
    c = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    c.connect()
    try:
        if n % 2:
            c.bind_transceiver(system_id="acme1", password="wrong")
        else:
            c.bind_transceiver(system_id=f"nobody{n}", password="secret")
    except smpplib.exceptions.PDUError as exc:
        return int(exc.args[1])
    finally:
        c.disconnect()
    return 0


def bad_binds(port: int) -> list[int]:
    with ThreadPoolExecutor(BAD_BINDS) as pool:
        return list(pool.map(lambda n: bad_bind(port, n), range(BAD_BINDS)))


def idle_connections(port: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(IDLE)]


async def test_abuse_leaves_a_bound_esme_served_and_the_daemon_up(tmp_path: Path) -> None:
    port = free_port()
    async with (
        smsc(SimConfig()) as sim,
        daemon_process(
            tmp_path, link=smpp_link(sim.port), extra=server_table(port), topup=1_000_000
        ) as (gw, http),
    ):
        password = await esme_password("sqlite:gw.db", tmp_path)
        esme = await asyncio.to_thread(Esme, port, password)
        idle: list[socket.socket] = []
        try:
            await eventually(lambda: len(esme.answers) >= 5, what="the ESME's first answers")
            idle = await asyncio.to_thread(idle_connections, port)
            (nack, closed), junk, statuses = await asyncio.gather(
                asyncio.to_thread(huge_length, port),
                asyncio.to_thread(garbage, port),
                asyncio.to_thread(bad_binds, port),
            )
            during = len(esme.answers)
            await eventually(
                lambda: len(esme.answers) >= during + 20,
                what="20 more answers to the bound ESME",
                failure=gw.failure,
            )
        finally:
            for s in idle:
                s.close()
            await asyncio.to_thread(esme.stop)
        assert esme.error is None, esme.error
        assert {status for status, _ in esme.answers} == {st.ESME_ROK}
        slowest = max(seconds for _, seconds in esme.answers)
        assert slowest < SLOW, f"a submit answered after {slowest:.1f} s"
        # the huge length: generic_nack ESME_RINVCMDLEN, then the connection closed
        assert struct.unpack(">IIII", nack)[1:3] == (0x80000000, st.ESME_RINVCMDLEN)
        assert closed == b""
        # garbage: its first octets read as a length no bind has: refused at once
        assert struct.unpack(">IIII", junk) == (16, 0x80000000, st.ESME_RINVCMDLEN, 0)
        # the bad binds: at most the limit checked, the others refused unchecked
        refused_checked = [s for s in statuses if s in {st.ESME_RINVPASWD, st.ESME_RINVSYSID}]
        assert len(refused_checked) <= FAILED_BINDS, statuses
        assert sorted(set(statuses) - {st.ESME_RINVPASWD, st.ESME_RINVSYSID}) == [st.ESME_RBINDFAIL]
        assert gw.running
        async with http.get(f"{gw.base}/readyz") as r:
            assert r.status == 200
