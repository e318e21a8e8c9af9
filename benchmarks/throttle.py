"""Time for N messages through one SMPP link to an SMSC that throttles, against the same
run with no throttling.

The simulator runs in its own process (``python -m drivers.smpp.simulator
--quiet``) and answers a share of submit_sm ESME_RTHROTTLED at random
(``--throttle-share``), or every submit_sm beyond a rate (``--max-rate``, a
token bucket: an SMSC's contracted capacity). The link is driven the way the
daemon's dispatcher drives it (``room`` / ``wait_room`` / ``send``, window 64)
and a segment answered with a retry is handed to the link again at once: the
link's own pacing decides when it goes (the daemon's dispatcher adds its
retry delay on top). A run counts the time from the first submit until every
message is accepted.

Named baselines, measured in the same run: "no throttling" (the same N
messages to a simulator that accepts everything; ratio column x-none) and,
for the capacity runs, the SMSC's capacity itself (N / max-rate seconds;
ratio column x-capacity). Usage::

    python benchmarks/throttle.py [--messages 2000] [--shares 0.05,0.2,0.5]
                                  [--rates 500,2000] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.link.driver import SmppLink
from gateway.codec import Segment
from gateway.link.interface import InboundPart, Receipt, ReceiptDone, SubmitRequest
from gateway.model.message import SenderKind
from gateway.model.outcomes import Accepted, Outcome, Rejected

TEXT = b"Your code is 482913. It expires in 10 minutes. Do not share it with anyone."
TIMEOUT = 600.0  # seconds a run may take before it is reported as not finished


class NoHandler:
    def store_receipt(self, receipt: Receipt, done: ReceiptDone) -> None:
        asyncio.get_running_loop().call_soon(done, None)

    async def on_inbound(self, part: InboundPart) -> None:
        return None


def start_simulator(*flags: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(  # noqa: S603 - our own simulator, flags from this script
        [sys.executable, "-m", "drivers.smpp.simulator", "--port", "0", "--quiet", *flags],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(json.loads(proc.stdout.readline())["port"])


class Run:
    """N messages sent until each is accepted; what it took."""

    def __init__(self, link: SmppLink, messages: int) -> None:
        self.link = link
        self.waiting: collections.deque[SubmitRequest] = collections.deque()
        segment = Segment(
            data_coding=0,
            esm_class=0,
            udh=b"",
            payload=TEXT,
            encoding="gsm7",
            packed=False,
            udl=len(TEXT),
        )
        for i in range(messages):
            self.waiting.append(
                SubmitRequest(
                    message_id=f"m{i}",
                    index=0,
                    source="Shop",
                    source_kind=SenderKind.ALPHA,
                    destination="+33612345678",
                    segment=segment,
                    want_receipt=False,
                )
            )
        self.left = messages
        self.submits = 0
        self.retried = 0
        self.wake = asyncio.Event()
        self.done = asyncio.Event()

    def answered(self, request: SubmitRequest, outcome: Outcome) -> None:
        if isinstance(outcome, Accepted):
            self.left -= 1
            if self.left == 0:
                self.done.set()
        elif isinstance(outcome, Rejected):
            msg = f"rejected: {outcome.reason}"
            raise RuntimeError(msg)
        else:
            self.retried += 1
            self.waiting.append(request)
            self.wake.set()

    async def feed(self) -> None:
        link = self.link
        while not self.done.is_set():
            if not self.waiting:
                self.wake.clear()
                await self.wake.wait()
                continue
            if link.room() <= 0:
                await link.wait_room()
                continue
            request = self.waiting.popleft()
            self.submits += 1
            link.send(request, functools.partial(self.answered, request))

    async def time(self) -> float:
        feeder = asyncio.create_task(self.feed())
        start = time.perf_counter()
        try:
            async with asyncio.timeout(TIMEOUT):
                await self.done.wait()
        finally:
            feeder.cancel()
        return time.perf_counter() - start


async def run_link(port: int, messages: int) -> tuple[float, Run]:
    config = SmppLinkConfig.from_table(
        {"name": "bench", "port": port, "system_id": "bench", "password": "pw", "window": 64}
    )
    link = SmppLink(config=config, handler=NoHandler())
    runner = asyncio.create_task(link.run())
    await link.wait_bound(10)
    run = Run(link, messages)
    try:
        elapsed = await run.time()
    finally:
        await link.stop(timeout=5)
        await runner
    return elapsed, run


def measure(messages: int, *flags: str) -> tuple[float, Run]:
    proc, port = start_simulator(*flags)
    try:
        return asyncio.run(run_link(port, messages))
    finally:
        proc.terminate()
        proc.wait(5)


def line(label: str, elapsed: float, run: Run, ratios: str) -> str:
    return (
        f"{label:30s} {elapsed:8.2f} s  {ratios:24s} submits {run.submits:6d}, "
        f"retried {run.retried:6d}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument(
        "--shares",
        default="0.05,0.2,0.5",
        help="shares of submit_sm answered ESME_RTHROTTLED at random",
    )
    parser.add_argument(
        "--rates",
        default="500,2000",
        help="SMSC capacities (submit_sm/s) beyond which it throttles",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    n, seed = args.messages, str(args.seed)
    base, base_run = measure(n, "--seed", seed)
    print(f"{n} messages, window 64, every retry handed to the link again at once")
    print(line("no throttling (baseline)", base, base_run, "x-none 1.00"))
    for share in (float(s) for s in args.shares.split(",") if s):
        elapsed, run = measure(n, "--throttle-share", str(share), "--seed", seed)
        print(
            line(f"{share:.0%} throttled at random", elapsed, run, f"x-none {elapsed / base:7.2f}")
        )
    for rate in (float(r) for r in args.rates.split(",") if r):
        elapsed, run = measure(n, "--max-rate", str(rate), "--seed", seed)
        ideal = n / rate
        print(
            line(
                f"capacity {rate:g}/s (ideal {ideal:.2f} s)",
                elapsed,
                run,
                f"x-none {elapsed / base:7.2f} x-capacity {elapsed / ideal:5.2f}",
            )
        )


if __name__ == "__main__":
    main()
