"""Submits per second through one SMPP link to the simulator, against smpplib's client.

The simulator runs in its own process (``python -m drivers.smpp.simulator
--dlr --quiet``) and answers every submit_sm and sends a receipt for it. Each
run counts the time from the first submit to the last receipt handled. The
baseline is smpplib 2.2.4's blocking ``Client`` doing what its documentation
shows: ``send_message`` in a loop, reading PDUs (and answering receipts)
until the submit_sm_resp is in. Usage::

    python benchmarks/smpp_link.py [--messages 50000] [--smpplib-messages 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from typing import Any

from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.link.driver import SmppLink
from gateway.codec import Segment
from gateway.link.interface import InboundPart, Receipt, ReceiptDone, SubmitRequest, submit
from gateway.model.message import SenderKind
from gateway.model.outcomes import Accepted

TEXT = b"Your code is 482913. It expires in 10 minutes. Do not share it with anyone."
DESTINATION = "+33612345678"


def start_simulator() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "drivers.smpp.simulator", "--port", "0", "--dlr", "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, int(json.loads(line)["port"])


class CountingHandler:
    def __init__(self) -> None:
        self.receipts = 0
        self.done: asyncio.Event | None = None
        self.expected = 0

    def store_receipt(self, receipt: Receipt, done: ReceiptDone) -> None:
        self.receipts += 1
        if self.receipts >= self.expected and self.done is not None:
            self.done.set()
        asyncio.get_running_loop().call_soon(done, None)

    async def on_inbound(self, part: InboundPart) -> None:
        return None


async def run_ours(port: int, window: int, messages: int) -> float:
    handler = CountingHandler()
    handler.expected = messages
    handler.done = asyncio.Event()
    config = SmppLinkConfig.from_table(
        {"name": "bench", "port": port, "system_id": "bench", "password": "pw", "window": window}
    )
    link = SmppLink(config=config, handler=handler)
    runner = asyncio.create_task(link.run())
    await link.wait_bound(10)
    segment = Segment(
        data_coding=0,
        esm_class=0,
        udh=b"",
        payload=TEXT,
        encoding="gsm7",
        packed=False,
        udl=len(TEXT),
    )
    request = SubmitRequest(
        message_id="m",
        index=0,
        source="Shop",
        source_kind=SenderKind.ALPHA,
        destination=DESTINATION,
        segment=segment,
    )
    left = messages
    accepted = 0

    async def worker() -> None:
        nonlocal left, accepted
        while left > 0:
            left -= 1
            if isinstance(await submit(link, request), Accepted):
                accepted += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(window)))
    await asyncio.wait_for(handler.done.wait(), 60)
    elapsed = time.perf_counter() - start
    assert accepted == messages, (accepted, messages)
    await link.stop()
    await runner
    return messages / elapsed


def run_smpplib(port: int, messages: int, *, nodelay: bool) -> float:
    import smpplib.client
    import smpplib.consts

    client = smpplib.client.Client("127.0.0.1", port, allow_unknown_opt_params=True)
    state: dict[str, Any] = {"sent": 0, "receipts": 0}
    client.set_message_sent_handler(lambda pdu: state.__setitem__("sent", state["sent"] + 1))
    client.set_message_received_handler(
        lambda pdu: state.__setitem__("receipts", state["receipts"] + 1)
    )
    client.connect()
    if nodelay:
        # the stock client leaves Nagle on: a deliver_sm_resp followed by the next
        # submit_sm then waits for the peer's delayed ACK (~40 ms per message).
        # smpplib 2.2.4 has no public way to set a socket option nor to reach its
        # socket: this private attribute is the only one (it fails loudly if renamed);
        # the baseline only, never smsgw's own code
        client._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # noqa: SLF001
    client.bind_transceiver(system_id="bench", password="pw")  # noqa: S106 - simulator login
    start = time.perf_counter()
    for i in range(messages):
        client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
            source_addr_npi=0,
            source_addr="Shop",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr=DESTINATION[1:],
            short_message=TEXT,
            data_coding=0,
            esm_class=0,
            registered_delivery=1,
        )
        while state["sent"] <= i:
            client.read_once()
    while state["receipts"] < messages:
        client.read_once()
    elapsed = time.perf_counter() - start
    client.unbind()
    client.disconnect()
    return messages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--smpplib-messages", type=int, default=5_000)
    args = parser.parse_args()
    proc, port = start_simulator()
    try:
        stock = run_smpplib(port, max(50, args.smpplib_messages // 50), nodelay=False)
        baseline = run_smpplib(port, args.smpplib_messages, nodelay=True)
        print(f"smpplib 2.2.4 Client, stock socket:        {stock:10.0f} msgs/s")
        print(f"smpplib 2.2.4 Client + TCP_NODELAY:        {baseline:10.0f} msgs/s  (baseline)")
        for window, messages in ((1, args.messages // 5), (10, args.messages), (64, args.messages)):
            rate = asyncio.run(run_ours(port, window, messages))
            print(
                f"smsgw SmppLink window {window:3d}:               {rate:10.0f} msgs/s  "
                f"x{rate / baseline:.2f} (x{rate / stock:.0f} the stock client)"
            )
    finally:
        proc.terminate()
        proc.wait(5)


if __name__ == "__main__":
    main()
