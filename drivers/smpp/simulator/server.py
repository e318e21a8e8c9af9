"""SMSC simulator: a real SMPP 3.4 server on loopback (``smsgw smsc-sim``).

Start it in-process (``await SmscSimulator(...).start()``, port 0 for a free
port) or as a process (``python -m drivers.smpp.simulator --port 0``: its first
stdout line is ``{"event": "listening", "port": N, "control_port": M}``).

Control port (``--control-port``, loopback, one JSON object per line, one JSON
answer per line)::

    {"cmd": "mo", "from": "+33612345678", "to": "12345", "text": "hello",
     "concat": "udh8", "parts": 3, "order": [3, 1, 2], "reference": 7}
    {"cmd": "mo", "from": "+33612345678", "to": "12345", "text": "hello",
     "concat": "udh8", "parts": 2, "order": [1], "reference": 8}
                               part 1 only; "order": [2] with the same reference
                               sends the other later
    {"cmd": "mo", "from": "+33612345678", "to": "07911123456", "to_ton": 2, "text": "hi"}
                               an address sent with that TON, digits as written
    {"cmd": "receipt", "ids": ["1a2b", "1a2c"], "state": "delivered"}
                               receipts for these ids, submitted or not
    {"cmd": "unbind"}          the SMSC asks every bound ESME to unbind
    {"cmd": "stats"}           connections, submits, receipts sent
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import ssl
import time
from collections.abc import Sequence
from typing import Any, TextIO

from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.mo import mo_pdus
from drivers.smpp.simulator.session import SmscSession
from gateway.model.outcomes import ReceiptState


class _SimProtocol(asyncio.Protocol):
    def __init__(self, sim: SmscSimulator) -> None:
        self.sim = sim
        self.loop = asyncio.get_running_loop()
        self.session = SmscSession(
            config=sim.config,
            ids=sim.ids,
            rng=sim.rng,
            wall_offset=time.time() - self.loop.time(),
        )
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.sim.connections.add(self)
        self.sim.emit({"event": "connected"})

    def connection_lost(self, exc: Exception | None) -> None:
        self.sim.connections.discard(self)
        if self.sim.config.keep_unacked:
            self.sim.unacked.extend(self.session.unacknowledged())
        if self._timer is not None:
            self._timer.cancel()
        self.sim.emit({"event": "disconnected"})

    def data_received(self, data: bytes) -> None:
        self.session.receive_data(data, self.loop.time())
        self.pump()

    def pump(self) -> None:
        """Write what the session has, re-arm its timer, close if it asked to."""
        session = self.session
        if session.records:
            for record in session.records:
                self.sim.emit(record)
            session.records.clear()
        self._pass_deliveries()
        data = session.data_to_send()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if data:
            transport.write(data)
        if session.close_requested:
            transport.close()
            return
        when = session.get_timer()
        if when is not None and (self._timer is None or when < self._timer_at):
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = when
            self._timer = self.loop.call_at(when, self._on_timer)

    def _pass_deliveries(self) -> None:
        """Take the deliver_sm a lost connection left (keep_unacked); hand this one's
        receipts to another bind (receipts_elsewhere)."""
        session = self.session
        if self.sim.unacked and session.can_deliver:
            for pdu in self.sim.unacked:
                session.redeliver(pdu)
            self.sim.unacked.clear()
        if session.elsewhere:
            self.sim.hand_over(self, session.elsewhere)
            session.elsewhere = []

    def _on_timer(self) -> None:
        self._timer = None
        self.session.handle_timer(self.loop.time())
        self.pump()


class SmscSimulator:
    """The server: listening socket, optional control socket, shared id counter."""

    def __init__(
        self,
        *,
        config: SimConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 2775,
        control_port: int | None = None,
        out: TextIO | None = None,
        seed: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self.ssl_context = ssl_context
        self.host = host
        self.port = port
        self.control_port = control_port
        self.out = out
        self.rng = random.Random(seed)
        self.ids = itertools.count(0x10000)
        self.connections: set[_SimProtocol] = set()
        self.records: list[dict[str, Any]] = []  # everything received, when config.record
        self.unacked: list[bytes] = []  # deliver_sm a lost connection left (keep_unacked)
        self._server: asyncio.Server | None = None
        self._control: asyncio.Server | None = None
        self._mo_reference = 0
        self._next_bind = 0  # receipts_elsewhere: the next bind's turn

    def hand_over(self, origin: _SimProtocol, receipts: list[bytes]) -> None:
        """Receipts ``origin``'s submits asked for, sent by its next bound receiver or
        transceiver in turn (``origin`` itself when it is the only one)."""
        others = sorted(
            (p for p in self.connections if p is not origin and p.session.can_deliver),
            key=id,
        )
        for pdu in receipts:
            target = others[self._next_bind % len(others)] if others else origin
            self._next_bind += 1
            target.session.redeliver(pdu)
            if target is not origin:
                target.pump()

    def emit(self, record: dict[str, Any]) -> None:
        if not self.config.record:
            return
        self.records.append(record)
        if self.out is not None:
            self.out.write(json.dumps(record) + "\n")
            self.out.flush()

    async def start(self) -> int:
        """Listen; returns the port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _SimProtocol(self), self.host, self.port, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        if self.control_port is not None:
            self._control = await asyncio.start_server(
                self._control_client, self.host, self.control_port
            )
            self.control_port = self._control.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        for proto in list(self.connections):
            if proto.transport is not None:
                proto.transport.abort()
        for server in (self._server, self._control):
            if server is not None:
                server.close()
                await server.wait_closed()

    def bound(self) -> list[_SimProtocol]:
        return [p for p in self.connections if p.session.bound_as is not None]

    def inject_mo(
        self,
        *,
        source: str,
        destination: str,
        text: str,
        concat: str = "udh8",
        parts: int | None = None,
        order: Sequence[int] | None = None,
        reference: int | None = None,
        source_ton: int | None = None,
        dest_ton: int | None = None,
    ) -> int:
        """Send an MO message to the first ESME bound as receiver/transceiver; PDUs sent.

        ``source_ton``/``dest_ton`` send an address with that TON, as written
        (``dest_ton=0`` with ``"447911123456"``, ``dest_ton=2`` with ``"07911123456"``)."""
        targets = [p for p in self.bound() if p.session.can_deliver]
        if not targets:
            msg = "no ESME is bound as receiver or transceiver"
            raise RuntimeError(msg)
        if reference is None:
            self._mo_reference = self._mo_reference % 0xFFFF + 1
            reference = self._mo_reference
        pdus = mo_pdus(
            source=source,
            destination=destination,
            text=text,
            concat=concat,
            parts=parts,
            reference=reference,
            order=order,
            source_ton=source_ton,
            dest_ton=dest_ton,
        )
        proto = targets[0]
        now = proto.loop.time()
        for pdu in pdus:
            proto.session.deliver(now, pdu)
        proto.pump()
        self.emit({"event": "mo_injected", "parts": len(pdus), "concat": concat})
        return len(pdus)

    def inject_receipts(
        self, message_ids: Sequence[str], state: ReceiptState = ReceiptState.DELIVERED
    ) -> int:
        """Send a receipt for each id (known to the ESME or not) to the first ESME bound
        as receiver/transceiver, all at once; receipts sent."""
        targets = [p for p in self.bound() if p.session.can_deliver]
        if not targets:
            msg = "no ESME is bound as receiver or transceiver"
            raise RuntimeError(msg)
        proto = targets[0]
        now = proto.loop.time()
        for message_id in message_ids:
            proto.session.send_receipt(now, message_id, state)
        proto.pump()
        self.emit({"event": "receipts_injected", "count": len(message_ids)})
        return len(message_ids)

    def unanswered(self) -> int:
        """deliver_sm sent to the bound ESMEs and not answered yet."""
        return sum(p.session.unanswered for p in self.connections)

    def unbind_all(self) -> int:
        targets = self.bound()
        for proto in targets:
            proto.session.unbind()
            proto.pump()
        return len(targets)

    def stats(self) -> dict[str, Any]:
        return {
            "connections": len(self.connections),
            "bound": len(self.bound()),
            "submits": sum(p.session.submits for p in self.connections),
        }

    async def _control_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while line := await reader.readline():
                writer.write(json.dumps(self._command(line)).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()

    def _command(self, line: bytes) -> dict[str, Any]:
        try:
            cmd = json.loads(line)
            if not isinstance(cmd, dict):
                return {"ok": False, "error": "expected a JSON object"}
            kind = cmd.get("cmd")
            if kind == "mo":
                sent = self.inject_mo(
                    source=str(cmd["from"]),
                    destination=str(cmd["to"]),
                    text=str(cmd["text"]),
                    concat=str(cmd.get("concat", "udh8")),
                    parts=cmd.get("parts"),
                    order=cmd.get("order"),
                    reference=cmd.get("reference"),
                    source_ton=_ton(cmd.get("from_ton")),
                    dest_ton=_ton(cmd.get("to_ton")),
                )
                return {"ok": True, "parts": sent}
            if kind == "receipt":
                ids = cmd["ids"]
                if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                    return {"ok": False, "error": "ids: a list of message ids"}
                state = ReceiptState(cmd.get("state", "delivered"))
                return {"ok": True, "receipts": self.inject_receipts(ids, state)}
            if kind == "unbind":
                return {"ok": True, "unbound": self.unbind_all()}
            if kind == "stats":
                return {"ok": True, **self.stats()}
            return {"ok": False, "error": f"unknown cmd {kind!r} (mo, receipt, unbind, stats)"}
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            return {"ok": False, "error": str(exc)}


def _ton(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 6:
        msg = f"a TON is an integer 0..6, not {value!r}"
        raise ValueError(msg)
    return value


async def serve(sim: SmscSimulator, *, announce: TextIO) -> None:
    """Run until cancelled; the first line on ``announce`` gives the ports."""
    await sim.start()
    announce.write(
        json.dumps(
            {
                "event": "listening",
                "host": sim.host,
                "port": sim.port,
                "control_port": sim.control_port,
            }
        )
        + "\n"
    )
    announce.flush()
    try:
        await asyncio.Event().wait()
    finally:
        await sim.close()
