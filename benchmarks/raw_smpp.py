"""The floor of any SMPP client in Python on this machine: a bare asyncio Protocol.

No gateway code: PDUs packed with struct, a window of submit_sm in flight,
each submit_sm_resp sends the next one, each deliver_sm (receipt) answered.
It does nothing a gateway must (no store, no journal, no retries, no
sessions), so its rate is the named baseline that the link and the daemon
are compared with: what Python and the loopback of this machine allow for
one connection with receipts at this window. A submit_sm the simulator
refuses (non-zero command_status) ends the run at once: it is not resent, so
the count would never complete. Usage::

    python benchmarks/raw_smpp.py [--messages 20000] [--window 64] [--port P]

Without --port it starts the simulator (``--dlr --quiet``) itself.
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BIND_TRANSCEIVER = 0x00000009
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
ENQUIRE_LINK = 0x00000015
RESP = 0x80000000
HEADER = struct.Struct(">IIII")
TEXT = b"Your code is 482913. It expires in 10 minutes. Do not share it with anyone."


def _pdu(command: int, sequence: int, body: bytes, status: int = 0) -> bytes:
    return HEADER.pack(HEADER.size + len(body), command, status, sequence) + body


def _submit_body(destination: bytes) -> bytes:
    # service_type, source ton/npi/addr (alphanumeric), dest ton/npi/addr, esm_class,
    # protocol_id, priority, schedule, validity, registered_delivery=1, replace,
    # data_coding, default_msg_id, sm_length, short_message
    head = b"\x00\x05\x00Bench\x00\x01\x01"  # service_type, source, dest ton/npi
    return (
        head
        + destination
        + b"\x00"
        + b"\x00\x00\x00"
        + b"\x00\x00"
        + b"\x01\x00\x00\x00"
        + bytes([len(TEXT)])
        + TEXT
    )


class RawClient(asyncio.Protocol):
    def __init__(self, messages: int, window: int) -> None:
        self.messages = messages
        self.window = window
        self.sent = 0
        self.accepted = 0
        self.receipts = 0
        self.refused: int | None = None  # command_status of the first refused submit_sm
        self.buffer = bytearray()
        self.bound = asyncio.get_running_loop().create_future()
        self.submitted = asyncio.Event()
        self.done = asyncio.Event()
        self.transport: asyncio.Transport | None = None
        self.started = 0.0
        self.submit_seconds = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        body = b"gw\x00secret\x00\x00\x34\x00\x00\x00"
        transport.write(_pdu(BIND_TRANSCEIVER, 1, body))

    def start(self) -> None:
        self.started = time.perf_counter()
        self._send(min(self.window, self.messages))

    def _send(self, count: int) -> None:
        assert self.transport is not None
        out = []
        for _ in range(count):
            self.sent += 1
            destination = b"+%d" % (33_600_000_000 + self.sent)
            out.append(_pdu(SUBMIT_SM, self.sent + 1, _submit_body(destination)))
        self.transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        offset = 0
        replies = []
        more = 0
        while len(buffer) - offset >= 16:
            length, command, status, sequence = HEADER.unpack_from(buffer, offset)
            if len(buffer) - offset < length:
                break
            if command == SUBMIT_SM | RESP:
                more += self._submit_answered(status)
            elif command == DELIVER_SM:
                replies.append(_pdu(DELIVER_SM | RESP, sequence, b"\x00"))
                self.receipts += 1
                if self.receipts == self.messages:
                    self.done.set()
            elif command == ENQUIRE_LINK:
                replies.append(_pdu(ENQUIRE_LINK | RESP, sequence, b""))
            elif command == BIND_TRANSCEIVER | RESP and not self.bound.done():
                self._bind_answered(status)
            offset += length
        del buffer[:offset]
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))
        if more:
            self._send(min(more, self.messages - self.sent))

    def _submit_answered(self, status: int) -> int:
        """Count one submit_sm_resp; 1 if another message is to be sent for it."""
        if status == 0:
            self.accepted += 1
        elif self.refused is None:  # never resent: the run cannot complete
            self.refused = status
            self.done.set()
        if self.accepted == self.messages:
            self.submit_seconds = time.perf_counter() - self.started
            self.submitted.set()
        return 1 if self.sent < self.messages else 0

    def _bind_answered(self, status: int) -> None:
        if status == 0:
            self.bound.set_result(None)
        else:
            self.bound.set_exception(RuntimeError(f"bind refused: 0x{status:08x}"))


async def raw_client(
    port: int, messages: int, *, window: int = 64, host: str = "127.0.0.1"
) -> tuple[float, float]:
    """(submit_sm accepted per second, messages with their receipt per second).

    Raises RuntimeError when the bind or a submit_sm is refused.
    """
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_connection(
        lambda: RawClient(messages, window), host, port
    )
    try:
        await asyncio.wait_for(client.bound, 10)
        client.start()
        await asyncio.wait_for(client.done.wait(), 120)
        if client.refused is not None:
            msg = (
                f"submit_sm refused with command_status 0x{client.refused:08x} "
                f"after {client.accepted:,} accepted"
            )
            raise RuntimeError(msg)
        total = time.perf_counter() - client.started
        await asyncio.wait_for(client.submitted.wait(), 10)
        return client.accepted / client.submit_seconds, messages / total
    finally:
        transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    proc = None
    port = args.port
    if port is None:
        from benchmarks.smpp_link import start_simulator

        proc, port = start_simulator()
    try:
        submit, total = asyncio.run(raw_client(port, args.messages, window=args.window))
    except RuntimeError as exc:
        print(f"raw_smpp: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()
    print(
        f"raw asyncio client, window {args.window}: {submit:,.0f} submit_sm/s accepted, "
        f"{total:,.0f} msg/s with every receipt in"
    )


if __name__ == "__main__":
    main()
