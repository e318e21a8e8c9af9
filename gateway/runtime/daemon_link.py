"""A worker process's link to its daemon: the worker's end of the socket pair.

The worker's front doors report to it as to the daemon's metrics, hand it the
messages they stored leased (the daemon's dispatcher takes them), and ask
through it for the daemon's /metrics, /readyz and /links; worker 0 takes the
daemon's ``record`` requests from it. gateway.runtime.worker_wire gives the lines.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from gateway.model.message import MessageState
from gateway.model.records import Message
from gateway.runtime.worker_records import message_list
from gateway.runtime.worker_wire import OncePerTurn, decode, encode


class DaemonLink:
    """A worker's end of the socket pair: reports, asks, and the daemon's answers.

    It stands in for the daemon's metrics (the methods of ``RELAYED``), its
    dispatcher (:meth:`handoff`) and its /metrics, /readyz and /links
    (:meth:`metrics_text`, :meth:`readiness`, :meth:`links`).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.on_events: Callable[[], object] | None = None  # the daemon says: new outbox rows
        self.accepting = True  # the daemon's dispatcher takes handovers
        # new outbox rows written here: worker 0 publishes them (one line per loop turn)
        self.wake_events = OncePerTurn(lambda: self.send(["events"]))
        # worker 0: the daemon's "record" requests (id, now, outcomes, receipts)
        self.on_record: Callable[[int, float, list[Any], list[Any]], object] | None = None
        self._ids = itertools.count(1)
        self._asked: dict[int, asyncio.Future[Any]] = {}

    def handoff(self, messages: Sequence[Message]) -> None:
        """Stored leased to the daemon's dispatcher: it takes them from here (as they
        were stored: no read of its own)."""
        rows = [message_list(m) for m in messages if m.state is MessageState.DISPATCHING]
        if rows:
            self.send(["handoff", rows])

    def send(self, item: list[Any]) -> None:
        if not self._writer.is_closing():
            self._writer.write(encode(item))

    async def ask(self, what: str, *, timeout: float = 10.0) -> Any:
        ask_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._asked[ask_id] = future
        try:
            self.send(["ask", ask_id, what])
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._asked.pop(ask_id, None)

    async def read(self) -> None:
        """Take the daemon's lines until the socket closes (the daemon is gone)."""
        while line := await self._reader.readline():
            item = decode(line)
            if item and item[0] == "answer" and len(item) == 3:
                future = self._asked.get(item[1])
                if future is not None and not future.done():
                    future.set_result(item[2])
            elif item and item[0] == "events" and self.on_events is not None:
                self.on_events()
            elif item and item[0] == "accepting" and len(item) == 2:
                self.accepting = bool(item[1])
            elif item and item[0] == "record" and len(item) == 5 and self.on_record:
                self.on_record(item[1], item[2], item[3], item[4])
        for future in self._asked.values():
            if not future.done():
                future.set_exception(ConnectionError("the daemon is gone"))

    # --- the daemon's metrics --------------------------------------------------------

    def _metric(self, name: str, **kwargs: Any) -> None:
        self.send(["metric", name, kwargs])

    def message_accepted(self, *, account: str, channel: str, count: int = 1) -> None:
        self._metric("message_accepted", account=account, channel=channel, count=count)

    def message_rejected(self, *, account: str, reason: str, count: int = 1) -> None:
        self._metric("message_rejected", account=account, reason=reason, count=count)

    def credit_low_crossed(self, *, account: str, count: int = 1) -> None:
        self._metric("credit_low_crossed", account=account, count=count)

    def message_finished(self, *, account: str, status: str, count: int = 1) -> None:
        self._metric("message_finished", account=account, status=status, count=count)

    def webhook_delivered(self, *, account: str) -> None:
        self._metric("webhook_delivered", account=account)

    def webhook_failed(self, *, account: str, final: bool) -> None:
        self._metric("webhook_failed", account=account, final=final)

    def set_mqtt_connected(self, *, broker: str, connected: bool) -> None:
        self._metric("set_mqtt_connected", broker=broker, connected=connected)

    def set_writer_stats(
        self,
        *,
        process: str,
        transactions: int,
        busy_seconds: float,
        lock_wait_seconds: float,
        commit_seconds: float,
        cpu_seconds: float = 0.0,
    ) -> None:
        self._metric(
            "set_writer_stats",
            process=process,
            transactions=transactions,
            busy_seconds=busy_seconds,
            lock_wait_seconds=lock_wait_seconds,
            commit_seconds=commit_seconds,
            cpu_seconds=cpu_seconds,
        )

    # --- the daemon's operations pages -----------------------------------------------

    async def metrics_text(self) -> bytes:
        text = await self.ask("metrics")
        if not isinstance(text, str):
            raise ConnectionError(f"the daemon could not give its metrics: {text}")
        return text.encode()

    async def links(self) -> list[dict[str, Any]]:
        links = await self.ask("links")
        if not isinstance(links, list):
            raise ConnectionError(f"the daemon could not give its links: {links}")
        return links

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        answer = await self.ask("ready")
        if not isinstance(answer, list) or len(answer) != 2:
            raise ConnectionError(f"the daemon could not say whether it is ready: {answer}")
        return bool(answer[0]), dict(answer[1])
