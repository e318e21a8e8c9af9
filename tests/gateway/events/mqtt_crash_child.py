"""Child process for the crash test: receives a send, never stores it, waits to be killed."""

from __future__ import annotations

import asyncio
import sys

import structlog

from gateway.events.mqtt_bridge import MqttBridge, MqttSettings


async def main(url: str, client_id: str) -> None:
    received = asyncio.Event()

    async def on_send(account: str, payload: bytes) -> None:
        print(f"received {account} {payload.decode()}", flush=True)  # noqa: T201
        received.set()
        await asyncio.Event().wait()  # "storing" never finishes: killed here

    bridge = MqttBridge(
        settings=MqttSettings.from_url(url, client_id=client_id),
        on_send=on_send,
        logger=structlog.get_logger(),
    )
    task = asyncio.create_task(bridge.run())
    await bridge.connected.wait()
    print("connected", flush=True)  # noqa: T201
    await task


if __name__ == "__main__":
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    asyncio.run(main(sys.argv[1], sys.argv[2]))
