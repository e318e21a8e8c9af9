"""A worker process's link to its daemon: the worker's end of the socket pair.

The worker's front doors report to it as to the daemon's metrics, hand it the
messages they stored leased (the daemon's dispatcher takes them), and ask
through it for the daemon's /metrics, /readyz, /links and /esme; worker 0 takes the
daemon's ``record`` requests from it. gateway.runtime.wire gives the records.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from gateway.model.message import MessageState
from gateway.model.records import Message
from gateway.runtime.wire import (
    Accepting,
    Answer,
    Ask,
    Events,
    FromDaemon,
    FromWorker,
    Handoff,
    Metric,
    OncePerTurn,
    Question,
    Record,
    WireError,
    decode_from_daemon,
    encode,
    read_welcome,
)


class DaemonLink:
    """A worker's end of the socket pair: reports, asks, and the daemon's answers.

    It stands in for the daemon's metrics (the methods of ``RELAYED``), its
    dispatcher (:meth:`handoff`) and its /metrics, /readyz, /links and /esme
    (:meth:`metrics_text`, :meth:`readiness`, :meth:`links`, :meth:`esme`).
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, logger: Any
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._log = logger
        self.on_events: Callable[[], object] | None = None  # the daemon says: new outbox rows
        self.accepting = True  # the daemon's dispatcher takes handovers
        # new outbox rows written here: worker 0 publishes them (one line per loop turn)
        self.wake_events = OncePerTurn(lambda: self.send(Events()))
        # worker 0: the daemon's "record" requests
        self.on_record: Callable[[Record], object] | None = None
        self._handing: list[Message] = []  # stored this turn, handed over at its end
        self._hand_over = OncePerTurn(self._hand_over_now)
        # counters counted this turn, sent at its end: (name, labels) -> count
        self._counts: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._send_counts = OncePerTurn(self._send_counts_now)
        self._ids = itertools.count(1)
        self._asked: dict[int, asyncio.Future[Answer]] = {}

    def handoff(self, messages: Sequence[Message]) -> None:
        """Stored leased to the daemon's dispatcher: it takes them from here (as they
        were stored: no read of its own). What the loop's turn stored goes in one
        line (the sends of one commit, often one message each, in one batch)."""
        handed = [m for m in messages if m.state is MessageState.DISPATCHING]
        if handed:
            self._handing += handed
            self._hand_over()

    def _hand_over_now(self) -> None:
        handing, self._handing = self._handing, []
        if handing:
            self.send(Handoff(messages=tuple(handing)))

    def send(self, message: FromWorker) -> None:
        if not self._writer.is_closing():
            self._writer.write(encode(message))

    async def ask(self, what: Question, *, timeout: float = 10.0) -> Any:
        """The daemon's answer; ConnectionError if it could not give one."""
        ask_id = next(self._ids)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._asked[ask_id] = future
        try:
            self.send(Ask(id=ask_id, what=what))
            async with asyncio.timeout(timeout):
                answer = await future
        finally:
            self._asked.pop(ask_id, None)
        if answer.error is not None:
            raise ConnectionError(f"the daemon could not give {what.value}: {answer.error}")
        return answer.value

    async def read(self) -> None:
        """Take the daemon's lines until the socket closes (the daemon is gone) or its
        first line is not this version's welcome."""
        first = await self._reader.readline()
        try:
            if first:  # else the daemon is gone already (it refused us: it says why)
                read_welcome(first)
        except WireError as exc:
            self._log.error("daemon_refused", error=str(exc))
        else:
            await self._read_lines()
        for future in self._asked.values():
            if not future.done():
                future.set_exception(ConnectionError("the daemon is gone"))

    async def _read_lines(self) -> None:
        while True:
            try:
                line = await self._reader.readline()
            except ValueError:  # longer than LINE_LIMIT: dropped from the buffer
                self._log.error("daemon_line_refused", error="line too long")
                continue
            if not line:
                return
            try:
                self._take(decode_from_daemon(line))
            except WireError as exc:
                self._log.error("daemon_line_refused", error=str(exc), line=line[:80])

    def _take(self, message: FromDaemon) -> None:
        match message:
            case Answer(id=ask_id):
                future = self._asked.get(ask_id)
                if future is not None and not future.done():
                    future.set_result(message)
            case Events() if self.on_events is not None:
                self.on_events()
            case Accepting(accepting=accepting):
                self.accepting = accepting
            case Record() if self.on_record is not None:
                self.on_record(message)
            case _:
                pass

    # --- the daemon's metrics --------------------------------------------------------

    def _metric(self, name: str, **kwargs: Any) -> None:
        self.send(Metric(name=name, values=kwargs))

    def _count(self, name: str, count: int, **labels: str) -> None:
        """A counter: what one loop turn counts under the same labels goes in one line."""
        key = (name, tuple(labels.items()))
        self._counts[key] = self._counts.get(key, 0) + count
        self._send_counts()

    def _send_counts_now(self) -> None:
        counts, self._counts = self._counts, {}
        for (name, labels), count in counts.items():
            self.send(Metric(name=name, values={**dict(labels), "count": count}))

    def message_accepted(self, *, account: str, channel: str, count: int = 1) -> None:
        self._count("message_accepted", count, account=account, channel=channel)

    def message_rejected(self, *, account: str, reason: str, count: int = 1) -> None:
        self._count("message_rejected", count, account=account, reason=reason)

    def credit_low_crossed(self, *, account: str, count: int = 1) -> None:
        self._count("credit_low_crossed", count, account=account)

    def message_finished(self, *, account: str, status: str, count: int = 1) -> None:
        self._count("message_finished", count, account=account, status=status)

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
        text = await self.ask(Question.METRICS)
        if not isinstance(text, str):
            raise ConnectionError(f"the daemon could not give its metrics: {text}")
        return text.encode()

    async def links(self) -> list[dict[str, Any]]:
        links = await self.ask(Question.LINKS)
        if not isinstance(links, list):
            raise ConnectionError(f"the daemon could not give its links: {links}")
        return links

    async def esme(self) -> dict[str, Any]:
        binds = await self.ask(Question.ESME)
        if not isinstance(binds, dict):
            raise ConnectionError(f"the daemon could not give its ESME binds: {binds}")
        return binds

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        answer = await self.ask(Question.READY)
        if (
            not isinstance(answer, dict)
            or not isinstance(answer.get("ready"), bool)
            or not isinstance(answer.get("detail"), dict)
        ):
            raise ConnectionError(f"the daemon could not say whether it is ready: {answer}")
        return answer["ready"], answer["detail"]
