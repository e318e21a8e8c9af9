"""Send rate of a modem link through the simulated modem on a pty.

Baseline: bare ``AT``/``OK`` round trips on the same pty in the same run (the
floor of one command in flight). Measured: SMS-SUBMITs through
``ModemLink.submit`` (AT+CMGS, prompt, PDU, +CMGS) with status reports on and
no rate limit. Run: ``.venv/bin/python benchmarks/modem_link.py [N]``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable

import structlog

from drivers.modem.link.config import ModemLinkConfig
from drivers.modem.link.driver import ModemLink
from drivers.modem.link.port import AtPort
from drivers.modem.protocol.at import Command
from drivers.modem.simulator.config import SimConfig
from drivers.modem.simulator.pty import PtyModem
from gateway.codec import encode
from gateway.link.interface import InboundPart, Receipt, ReceiptDone, SubmitRequest, submit
from gateway.model.message import SenderKind
from gateway.model.outcomes import Accepted


class Sink:
    def __init__(self) -> None:
        self.receipts = 0

    def store_receipt(self, receipt: Receipt, done: ReceiptDone) -> None:
        self.receipts += 1
        asyncio.get_running_loop().call_soon(done, None)

    async def on_inbound(self, part: InboundPart) -> None:
        pass


async def _until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(60):
        while not predicate():  # noqa: ASYNC110 - polls a plain condition with a deadline
            await asyncio.sleep(0.01)


async def baseline(n: int) -> float:
    async with PtyModem(SimConfig()) as sim:
        port = await AtPort.open(sim.device, baudrate=115200, on_urc=lambda _u: None)
        start = time.perf_counter()
        for _ in range(n):
            assert (await port.command(Command(line="AT", timeout=5))).ok
        elapsed = time.perf_counter() - start
        port.close()
    return n / elapsed


async def sends(n: int) -> tuple[float, int]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    segment = encode("Your code is 482113. It expires in 10 minutes.", packed=True)[0]
    sink = Sink()
    async with PtyModem(SimConfig(report_delay=0.0)) as sim:
        config = ModemLinkConfig(name="bench", device=sim.device, rate=0, poll_interval=600)
        link = ModemLink(config=config, handler=sink, retry_delay=0.01)
        task = asyncio.create_task(link.run())
        await _until(lambda: link.bound)
        start = time.perf_counter()
        for i in range(n):
            outcome = await submit(
                link,
                SubmitRequest(
                    message_id=f"m{i}",
                    index=0,
                    source="Bench",
                    source_kind=SenderKind.ALPHA,
                    destination=f"+336{i:08d}",
                    segment=segment,
                ),
            )
            assert isinstance(outcome, Accepted)
        elapsed = time.perf_counter() - start
        await _until(lambda: sink.receipts >= n)
        await link.stop()
        await task
    return n / elapsed, sink.receipts


async def main(n: int) -> None:
    base = await baseline(n)
    rate, receipts = await sends(n)
    print(f"baseline AT round trips: {base:9.1f} /s")
    print(
        f"SMS-SUBMIT via ModemLink: {rate:8.1f} /s = {rate * 60:9.0f} /min"
        f" ({receipts} status reports matched)"
    )
    print(f"ratio submit/AT round trip: {rate / base:.2f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
