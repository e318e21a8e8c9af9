"""The MQTT bridge's two hot paths against a private mosquitto, and aiomqtt doing the same.

1. publish: N events published with QoS 1 through ``MqttBridge.publish_many``
   in batches of 1,000 (as the event publisher does), until every PUBACK is
   in. Baseline "aiomqtt publish": the same events through aiomqtt's public
   ``Client.publish`` (QoS 1), 1,000 awaited together at a time.
2. intake: N sends queued by the broker for the bridge's persistent session
   while it is offline, then taken in (a handler that stores nothing) and
   acknowledged in order, until the last is handled. Baseline "aiomqtt
   subscribe": an aiomqtt client with a persistent session reading the same
   queue with ``Client.messages`` (it acknowledges on receipt).

Figures: events per second (wall) and CPU microseconds of this process per
event (client and bridge only: mosquitto runs in its own process); the ratio
column is the baseline's CPU per event over the bridge's (higher: the bridge
is cheaper). Usage::

    python benchmarks/mqtt_client.py [--events 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.e2e_system import start_mosquitto, stop
from gateway.events.mqtt_bridge import MqttBridge, MqttSettings

BATCH = 1000
PAYLOAD = b'{"event": "status", "id": "%08d", "state": "delivered", "at": 1765000000.0}'


class Figure:
    def __init__(self, label: str, events: int, wall: float, cpu: float) -> None:
        self.label, self.events, self.wall, self.cpu = label, events, wall, cpu

    @property
    def rate(self) -> float:
        return self.events / self.wall

    @property
    def us(self) -> float:
        return self.cpu / self.events * 1e6


def bridge_for(port: int, client_id: str, prefix: str, on_send: object = None) -> MqttBridge:
    async def ignore(_account: str, _payload: bytes) -> None:
        return None

    return MqttBridge(
        settings=MqttSettings(
            host="127.0.0.1", port=port, client_id=client_id, topic_prefix=prefix
        ),
        on_send=on_send or ignore,  # type: ignore[arg-type]
        logger=structlog.get_logger(),
    )


async def running(bridge: MqttBridge) -> asyncio.Task[None]:
    task = asyncio.create_task(bridge.run())
    await asyncio.wait_for(bridge.connected.wait(), 10)
    return task


async def publish_bridge(port: int, n: int) -> Figure:
    bridge = bridge_for(port, "bench-bridge-pub", "pub")  # no sends come in on pub/+/send
    task = await running(bridge)
    events = [("smsgw/acme/status", PAYLOAD % i) for i in range(n)]
    cpu, start = time.process_time(), time.perf_counter()
    for lo in range(0, n, BATCH):
        acked = await bridge.publish_many(events[lo : lo + BATCH])
        assert all(acked)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    bridge.stop()
    await task
    return Figure("bridge publish_many", n, wall, cpu)


async def publish_aiomqtt(port: int, n: int) -> Figure:
    quiet = logging.getLogger("bench.aiomqtt")
    quiet.setLevel(logging.ERROR)  # it warns about every publish past 10 pending
    events = [PAYLOAD % i for i in range(n)]
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier="bench-aiomqtt-pub", logger=quiet, max_inflight_messages=BATCH
    ) as client:
        client.pending_calls_threshold = 10 * BATCH
        cpu, start = time.process_time(), time.perf_counter()
        for lo in range(0, n, BATCH):
            await asyncio.gather(
                *(client.publish("smsgw/acme/status", e, qos=1) for e in events[lo : lo + BATCH])
            )
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Figure("aiomqtt publish", n, wall, cpu)


async def queue_sends(port: int, n: int, prefix: str) -> None:
    quiet = logging.getLogger("bench.aiomqtt")
    quiet.setLevel(logging.ERROR)
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier="bench-upstream", logger=quiet, max_inflight_messages=BATCH
    ) as up:
        up.pending_calls_threshold = 10 * BATCH
        for lo in range(0, n, BATCH):
            await asyncio.gather(
                *(
                    up.publish(f"{prefix}/acme/send", PAYLOAD % i, qos=1)
                    for i in range(lo, min(n, lo + BATCH))
                )
            )


async def intake_bridge(port: int, n: int, run: int) -> Figure:
    client_id, prefix = f"bench-bridge-in-{run}", f"in{run}"  # each run its own sends
    bridge = bridge_for(port, client_id, prefix)
    task = await running(bridge)  # the persistent session and its subscription
    bridge.stop()
    await task
    await queue_sends(port, n, prefix)
    got = 0
    done = asyncio.Event()

    async def on_send(_account: str, _payload: bytes) -> None:
        nonlocal got
        got += 1
        if got == n:
            done.set()

    bridge = bridge_for(port, client_id, prefix, on_send)
    cpu, start = time.process_time(), time.perf_counter()
    task = asyncio.create_task(bridge.run())
    await asyncio.wait_for(done.wait(), 120)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    bridge.stop()
    await task
    return Figure("bridge intake", n, wall, cpu)


async def intake_aiomqtt(port: int, n: int, run: int) -> Figure:
    identifier, prefix = f"bench-aiomqtt-in-{run}", f"base{run}"

    def subscriber() -> aiomqtt.Client:
        return aiomqtt.Client("127.0.0.1", port, identifier=identifier, clean_session=False)

    async with subscriber() as sub:
        await sub.subscribe(f"{prefix}/+/send", qos=1)
    await queue_sends(port, n, prefix)
    cpu, start = time.process_time(), time.perf_counter()
    got = 0
    async with subscriber() as sub:
        async for _message in sub.messages:
            got += 1
            if got == n:
                break
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Figure("aiomqtt subscribe", n, wall, cpu)


async def bench(args: argparse.Namespace) -> list[tuple[Figure, Figure]]:
    pairs: list[tuple[Figure, Figure]] = []
    with tempfile.TemporaryDirectory(prefix="smsgw-mqtt-bench-") as work:
        broker = start_mosquitto(Path(work) / "mosquitto")
        if broker is None:
            sys.exit("mosquitto is not installed")
        proc, port = broker
        try:
            for run in range(args.repeat):
                pairs.append(
                    (
                        await publish_bridge(port, args.events),
                        await publish_aiomqtt(port, args.events),
                    )
                )
                pairs.append(
                    (
                        await intake_bridge(port, args.events, run),
                        await intake_aiomqtt(port, args.events, run),
                    )
                )
        finally:
            stop(proc)
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    pairs = asyncio.run(bench(args))
    print(
        f"{'run':<24}{'events/s':>12}{'us/event':>10}   baseline{'':<12}{'events/s':>10}"
        f"{'us/event':>10}{'x cpu':>8}"
    )
    for ours, base in pairs:
        print(
            f"{ours.label:<24}{ours.rate:>12,.0f}{ours.us:>10.2f}   {base.label:<20}"
            f"{base.rate:>10,.0f}{base.us:>10.2f}{base.us / ours.us:>8.1f}"
        )


if __name__ == "__main__":
    main()
