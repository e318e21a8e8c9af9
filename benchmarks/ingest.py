"""Ingest benchmark: sends through the send service into SQLite, in one process.

Run: .venv/bin/python benchmarks/ingest.py [--sends N] [--concurrency 32]

What HTTP and MQTT ingress do per request, without the network: parse the JSON
body (``parse_send_payload``), check the sender and price each recipient
(``SendService.send``), store the messages with their debit
(``store.enqueue``, group commit, synchronous=full). Sends of 1, 10 and 250
recipients, ``--concurrency`` of them in flight.

Baseline in the same run: the same service reading its account, sender and
prices from the store at every send (``context_ttl=0``), against the default
(an approved sender and its prices kept for ``CONTEXT_TTL``). Figures: messages
stored per second and the process's CPU time (all threads) per send.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.ingress.http_schema import parse_send_payload
from gateway.ingress.pipeline import CONTEXT_TTL, SendService
from gateway.model.message import SenderKind, SenderStatus
from gateway.store import open_store

SIZES = (1, 10, 250)  # recipients per send
TEXT = "Your code is 123456"


async def run(
    path: Path, *, per: int, sends: int, concurrency: int, context_ttl: float
) -> tuple[float, float]:
    """(messages stored per second, CPU seconds per send)."""
    store = await open_store(f"sqlite:{path}", checkpoints="background")
    try:
        await store.create_account("acme")
        await store.add_sender("acme", "ACME", SenderKind.ALPHA)
        await store.set_sender_status("acme", "ACME", SenderStatus.APPROVED)
        await store.set_price("+", 1)
        await store.topup("acme", 100_000_000, reference="bench")
        service = SendService(store=store, log=structlog.get_logger(), context_ttl=context_ttl)
        payloads = [
            json.dumps(
                {"from": "ACME", "text": TEXT, "to": [f"+336{i * per + j:08d}" for j in range(per)]}
            ).encode()
            for i in range(sends)
        ]
        slots = asyncio.Semaphore(concurrency)

        async def one(payload: bytes) -> None:
            async with slots:
                await service.send(parse_send_payload(payload, account="acme"))

        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(p) for p in payloads))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await store.close()
    return sends * per / wall, cpu / sends


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sends", type=int, default=4000, help="sends of one recipient")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    # no log output: the service's info line per send would measure the terminal
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    print(
        f"{'recipients per send':20} {'reads every send':>24} "
        f"{f'kept {CONTEXT_TTL:g} s':>24} {'CPU ratio':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for per in SIZES:
            sends = max(20, args.sends // per)
            figures = []
            for n, ttl in enumerate((0.0, CONTEXT_TTL)):
                figures.append(
                    asyncio.run(
                        run(
                            Path(tmp) / f"{per}-{n}.db",
                            per=per,
                            sends=sends,
                            concurrency=args.concurrency,
                            context_ttl=ttl,
                        )
                    )
                )
            (base_rate, base_cpu), (rate, cpu) = figures
            print(
                f"{per:<20} {base_rate:>10,.0f} msg/s {base_cpu * 1e6:>6,.0f} us/send "
                f"{rate:>10,.0f} msg/s {cpu * 1e6:>6,.0f} us/send "
                f"{base_cpu / cpu:>9.2f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
