"""The phases of the end-to-end benchmark (benchmarks/e2e.py): load in, counts out.

Each phase sends from this process and watches the daemon's SQLite file
read-only until every message it sent is ``delivered``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import aiomqtt
import structlog

from benchmarks.e2e_system import ACCOUNT, SENDER, DaemonProcess, StoreProbe, cpu_seconds
from benchmarks.raw_smpp import raw_client
from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.link.driver import SmppLink
from gateway.codec import encode
from gateway.link.interface import InboundPart, Receipt, ReceiptDone, SubmitRequest
from gateway.model.message import SenderKind
from gateway.model.outcomes import Accepted, Outcome

TEXT = "Your code is 482913. It expires in 10 minutes. Do not share it."  # one GSM segment
TARGET = 5_000.0  # msg/s, the target
POLL = 0.1


def recipients(first: int, count: int) -> list[str]:
    return [f"+336{first + i:08d}" for i in range(count)]


@dataclass
class Result:
    label: str
    messages: int
    seconds: float  # first send -> all delivered (inf when they were not)
    ingest: float = 0.0  # msg/s accepted by the daemon
    submit: float = 0.0  # msg/s accepted by the SMSC
    cpu: dict[str, float] = field(default_factory=dict)  # process -> share of one core
    # the daemon's CPU time (user + system, all threads) per message, microseconds:
    # steadier than msg/s on a shared machine (it does not count time spent waiting)
    daemon_us: float | None = None
    events_lag: float | None = None  # seconds from all delivered to the outbox empty
    note: str = ""
    # process -> shares of the phase its store writer held the write lock, waited for
    # it, used CPU and committed holding it (benchmarks.e2e_system.WRITER_FIGURES)
    store: dict[str, list[float]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


class Watch:
    """Polls the store until ``expected`` more messages are delivered."""

    def __init__(self, probe: StoreProbe, expected: int, timeout: float) -> None:
        self.probe = probe
        self.expected = expected
        self.timeout = timeout
        self.base_delivered = probe.delivered()
        self.base_submitted = probe.submitted()
        self.submitted_at: float | None = None
        self.delivered_at: float | None = None
        self.drained_at: float | None = None  # the status-event outbox emptied

    async def run(self, start: float) -> None:
        deadline = start + self.timeout
        while time.perf_counter() < deadline:
            delivered, submitted = await asyncio.to_thread(self._counts)
            now = time.perf_counter()
            if self.submitted_at is None and submitted >= self.expected:
                self.submitted_at = now
            if delivered >= self.expected:
                self.delivered_at = now
                self.submitted_at = self.submitted_at or now
                break
            await asyncio.sleep(POLL)
        # the next phase starts once the status events of this one are out
        while time.perf_counter() < deadline + 60:
            if await asyncio.to_thread(self.probe.outbox) == 0:
                self.drained_at = time.perf_counter()
                return
            await asyncio.sleep(POLL)

    def _counts(self) -> tuple[int, int]:
        return (
            self.probe.delivered() - self.base_delivered,
            self.probe.submitted() - self.base_submitted,
        )


class CpuMeter:
    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start = time.perf_counter()
        self.before = {name: cpu_seconds(pid) for name, pid in pids.items()}

    def shares(self) -> dict[str, float]:
        wall = time.perf_counter() - self.start
        return {name: used / wall for name, used in self.used().items()}

    def used(self) -> dict[str, float]:
        """CPU seconds each process used since the meter started."""
        return {name: cpu_seconds(pid) - self.before[name] for name, pid in self.pids.items()}

    def per_message(self, prefix: str, messages: int) -> float:
        """Microseconds of CPU time per message of the processes named ``prefix``
        (``daemon``: the daemon and its workers, ``daemon worker-1``...)."""
        used = sum(t for name, t in self.used().items() if name.startswith(prefix))
        return used / messages * 1e6


def _finish(
    result: Result,
    watch: Watch,
    start: float,
    states: Callable[[], dict[str, int]],
) -> Result:
    if watch.delivered_at is None:
        result.seconds = float("inf")
        result.note = f"not all delivered after {watch.timeout:.0f} s: {states()}"
    else:
        result.seconds = watch.delivered_at - start
    if watch.submitted_at is not None:
        result.submit = result.messages / (watch.submitted_at - start)
    if watch.drained_at is not None and watch.delivered_at is not None:
        result.events_lag = watch.drained_at - watch.delivered_at
    return result


async def phase_http(
    d: DaemonProcess,
    probe: StoreProbe,
    cpu: dict[str, int],
    *,
    label: str,
    n: int,
    first: int,
    clients: int = 8,
    batch: int = 250,
) -> Result:
    batches = iter(range(first, first + n, batch))
    accepted = 0
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {d.token}"}
    watch = Watch(probe, n, timeout=max(60.0, n / 200))
    meter = CpuMeter(cpu)

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal accepted
        for lo in batches:
            body = {"from": SENDER, "to": recipients(lo, min(batch, first + n - lo)), "text": TEXT}
            async with http.post(f"{d.base}/v1/messages", json=body, headers=headers) as r:
                doc = await r.json()
                if r.status == 202:
                    accepted += len(doc["messages"])
                else:
                    errors.append(f"{r.status} {doc}")

    start = time.perf_counter()
    watcher = asyncio.create_task(watch.run(start))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    ingest = accepted / (time.perf_counter() - start)
    await watcher
    result = Result(
        label=label,
        messages=n,
        seconds=0.0,
        ingest=ingest,
        cpu=meter.shares(),
        daemon_us=meter.per_message("daemon", n),
    )
    if errors:
        result.note = f"{len(errors)} POSTs refused, first: {errors[0][:120]}"
    return _finish(result, watch, start, probe.states)


async def phase_mqtt(
    d: DaemonProcess,
    probe: StoreProbe,
    cpu: dict[str, int],
    *,
    label: str,
    n: int,
    first: int,
    mqtt_port: int,
    per_payload: int = 10,
    concurrency: int = 16,
) -> Result:
    payloads = iter(range(first, first + n, per_payload))
    topic = f"smsgw/{ACCOUNT}/send"
    watch = Watch(probe, n, timeout=max(60.0, n / 200))
    meter = CpuMeter(cpu)
    quiet = logging.getLogger("bench.mqtt")
    quiet.setLevel(logging.ERROR)  # aiomqtt warns about every publish past 10 pending
    async with aiomqtt.Client(
        "127.0.0.1",
        mqtt_port,
        identifier="bench-publisher",
        max_inflight_messages=concurrency * 2,
        logger=quiet,
    ) as client:

        async def publisher() -> None:
            for lo in payloads:
                to = recipients(lo, min(per_payload, first + n - lo))
                payload = json.dumps({"from": SENDER, "to": to, "text": TEXT}).encode()
                await client.publish(topic, payload, qos=1)

        start = time.perf_counter()
        watcher = asyncio.create_task(watch.run(start))
        await asyncio.gather(*(publisher() for _ in range(concurrency)))
        published = time.perf_counter() - start
        await watcher
    result = Result(
        label=label,
        messages=n,
        seconds=0.0,
        ingest=n / published,
        cpu=meter.shares(),
        daemon_us=meter.per_message("daemon", n),
    )
    result = _finish(result, watch, start, probe.states)
    if watch.delivered_at is not None:  # stored = acknowledged to the broker, not published
        result.note = f"published (broker PUBACK) at {n / published:,.0f}/s"
        result.ingest = 0.0
    return result


@dataclass
class Latency:
    offered: float  # msg/s actually offered
    accept_p50: float  # POST round trip, seconds
    accept_p99: float
    submit_p50: float  # submitted_at - created_at, seconds
    submit_p99: float
    samples: int
    note: str = ""


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def phase_latency(
    d: DaemonProcess,
    probe: StoreProbe,
    *,
    rate: float,
    seconds: float,
    per_post: int,
    first: int,
) -> Latency:
    interval = per_post / rate
    posts = int(seconds / interval)
    headers = {"Authorization": f"Bearer {d.token}"}
    round_trips: list[float] = []
    errors: list[int] = []
    since = time.time()
    watch = Watch(probe, posts * per_post, timeout=seconds + 60)

    async def post(http: aiohttp.ClientSession, lo: int) -> None:
        body = {"from": SENDER, "to": recipients(lo, per_post), "text": TEXT}
        t = time.perf_counter()
        async with http.post(f"{d.base}/v1/messages", json=body, headers=headers) as r:
            await r.read()
            if r.status == 202:
                round_trips.append(time.perf_counter() - t)
            else:
                errors.append(r.status)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
        start = time.perf_counter()
        watcher = asyncio.create_task(watch.run(start))
        tasks = []
        for k in range(posts):
            delay = start + k * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(http, first + k * per_post)))
        offered = posts * per_post / (time.perf_counter() - start)
        await asyncio.gather(*tasks)
        await watcher
    lat = await asyncio.to_thread(probe.latencies, since)
    note = f"{len(errors)} POSTs refused" if errors else ""
    if watch.delivered_at is None:
        note += f" not all delivered: {probe.states()}"
    return Latency(
        offered=offered,
        accept_p50=_pct(round_trips, 0.5),
        accept_p99=_pct(round_trips, 0.99),
        submit_p50=_pct(lat, 0.5),
        submit_p99=_pct(lat, 0.99),
        samples=len(lat),
        note=note.strip(),
    )


class _Receipts:
    def __init__(self, expected: int) -> None:
        self.count = 0
        self.expected = expected
        self.done = asyncio.Event()

    def store_receipt(self, receipt: Receipt, done: ReceiptDone) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()
        asyncio.get_running_loop().call_soon(done, None)

    async def on_inbound(self, part: InboundPart) -> None:
        return None


async def link_alone(port: int, n: int, *, window: int = 64) -> Result:
    """The ceiling over this link: n one-segment messages streamed to SmppLink the way
    the daemon's dispatcher sends them (``room()`` / ``wait_room()`` /
    ``send(request, done)``, no task or future per segment), all receipts in."""
    handler = _Receipts(n)
    config = SmppLinkConfig.from_table(
        {"name": "alone", "port": port, "system_id": "gw", "password": "secret", "window": window}
    )
    link = SmppLink(
        config=config,
        handler=handler,
        logger=structlog.wrap_logger(
            structlog.PrintLogger(),
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        ),
    )
    runner = asyncio.create_task(link.run())
    await link.wait_bound(10)
    (segment,) = encode(TEXT)
    answered = asyncio.Event()  # every segment has its outcome
    outcomes = 0
    accepted = 0

    def done(outcome: Outcome) -> None:
        nonlocal outcomes, accepted
        outcomes += 1
        if isinstance(outcome, Accepted):
            accepted += 1
        if outcomes == n:
            answered.set()

    start = time.perf_counter()
    for i, to in enumerate(recipients(90_000_000, n)):
        if link.room() <= 0:
            await link.wait_room()
        link.send(
            SubmitRequest(
                message_id=f"m{i}",
                index=0,
                source=SENDER,
                source_kind=SenderKind.ALPHA,
                destination=to,
                segment=segment,
            ),
            done,
        )
    await answered.wait()
    submitted = time.perf_counter() - start
    await asyncio.wait_for(handler.done.wait(), 60)
    result = Result(
        label=f"SmppLink alone, window {window}",
        messages=n,
        seconds=time.perf_counter() - start,
        submit=accepted / submitted,
    )
    await link.stop()
    await runner
    return result


async def raw_alone(port: int, n: int, *, window: int = 64) -> Result:
    """The named baseline: a bare asyncio SMPP client (benchmarks.raw_smpp), same
    simulator, same window, every receipt in."""
    submit, total = await raw_client(port, n, window=window)  # from the bind on
    return Result(
        label=f"raw asyncio client, window {window}", messages=n, seconds=n / total, submit=submit
    )
