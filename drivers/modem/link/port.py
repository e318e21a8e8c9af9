"""The serial port of one modem: asyncio bytes to and from the sans-IO :class:`AtChannel`.

pyserial-asyncio-fast provides the transport (a maintained fork of
pyserial-asyncio whose transport waits on the file descriptor instead of
polling it). One command is in flight at a time; every command has a
deadline; unsolicited codes go to a callback as soon as they are parsed, even
in the middle of another command's reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import serial_asyncio_fast

from drivers.modem.protocol.at import (
    ESC,
    AtChannel,
    Command,
    Prompt,
    Response,
    Stale,
    Timeout,
    Unsolicited,
)
from gateway.model.errors import LinkError

WAKE_QUIET = 0.2  # seconds without a byte that end the drain after the wake-up line
RESYNC_ATTEMPTS = 3  # AT tries of one resync when the answers are not OK


class ModemTimeout(LinkError):
    """A command got no final answer before its deadline."""

    def __init__(self, command: Command, *, prompted: bool) -> None:
        self.command = command
        self.prompted = prompted
        super().__init__(f"modem did not answer {command.shown} in time")


class PortClosed(LinkError):
    """The serial port closed (unplugged, or closed by us)."""


class AtPort(asyncio.Protocol):
    """An open serial port speaking AT commands."""

    def __init__(self, *, on_urc: Callable[[Unsolicited], None]) -> None:
        self._on_urc = on_urc
        self._channel = AtChannel()
        self._transport: asyncio.BaseTransport | None = None
        self._waiter: asyncio.Future[Response | Prompt] | None = None
        self._lock = asyncio.Lock()
        self._closed = asyncio.Event()
        self._received = asyncio.Event()
        self.in_flight = False
        self.stale_answers = 0  # final result codes that answered no command of ours

    @classmethod
    async def open(
        cls, device: str, *, baudrate: int, on_urc: Callable[[Unsolicited], None]
    ) -> AtPort:
        port = cls(on_urc=on_urc)
        loop = asyncio.get_running_loop()
        transport, _ = await serial_asyncio_fast.create_serial_connection(
            loop, lambda: port, url=device, baudrate=baudrate, timeout=0
        )
        port._transport = transport  # connection_made only runs a loop turn later
        return port

    # --- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._received.set()
        self._channel.receive_data(data)
        while (event := self._channel.next_event()) is not None:
            if isinstance(event, Unsolicited):
                self._on_urc(event)
            elif isinstance(event, Response | Prompt):
                if self._waiter is not None and not self._waiter.done():
                    self._waiter.set_result(event)
            elif isinstance(event, Stale):
                self.stale_answers += 1
            elif isinstance(event, Timeout):  # pragma: no cover - timers are ours
                pass

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed.set()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(PortClosed("serial port closed"))

    # --- commands --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed.is_set() or self._transport is None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def _write(self, data: bytes) -> None:
        if self.closed:
            raise PortClosed("serial port closed")
        assert isinstance(self._transport, asyncio.WriteTransport)  # noqa: S101 - serial
        self._transport.write(data)

    async def _wait(self, command: Command, timeout: float) -> Response | Prompt:
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(self._waiter)
        except TimeoutError:
            self._channel.abandon()
            raise ModemTimeout(command, prompted=False) from None
        finally:
            self._waiter = None

    async def command(self, command: Command) -> Response:
        """Run one command; a prompt (unexpected here) is cancelled with ESC."""
        async with self._lock:
            return await self._command(command)

    async def _command(self, command: Command) -> Response:
        self.in_flight = True
        try:
            now = asyncio.get_running_loop().time()
            self._write(self._channel.send(command, now=now))
            event = await self._wait(command, command.timeout)
            if isinstance(event, Prompt):
                self._write(ESC)
                event = await self._wait(command, command.timeout)
            assert isinstance(event, Response)  # noqa: S101 - one prompt per command
            return event
        finally:
            self.in_flight = False
            if self._channel.busy:  # cancelled: whatever comes late is not an answer
                self._channel.abandon()

    async def send_with_data(self, command: Command, data: str, *, timeout: float) -> Response:
        """AT+CMGS-style: the command, the prompt, then ``data`` and Ctrl-Z."""
        async with self._lock:
            self.in_flight = True
            try:
                loop = asyncio.get_running_loop()
                self._write(self._channel.send(command, now=loop.time()))
                event = await self._wait(command, command.timeout)
                if isinstance(event, Response):
                    return event  # refused before the prompt
                self._write(self._channel.send_data(data, now=loop.time(), timeout=timeout))
                try:
                    event = await self._wait(command, timeout)
                except ModemTimeout:
                    raise ModemTimeout(command, prompted=True) from None
                assert isinstance(event, Response)  # noqa: S101 - one prompt per command
                return event
            finally:
                self.in_flight = False
                if self._channel.busy:  # cancelled: whatever comes late is not an answer
                    self._channel.abandon()

    async def resync(
        self, *, timeout: float, quiet: float = WAKE_QUIET, attempts: int = RESYNC_ATTEMPTS
    ) -> bool:
        """At start and after a hang: is the modem answering ``AT`` with OK?

        ESC cancels any prompt; what the modem says to that wake-up line (many
        answer ERROR, some echo it, some say nothing) is read and discarded until
        it has been quiet for ``quiet`` seconds. Then ``AT``: an answer that is
        not OK (a late one the drain missed) is drained and ``AT`` sent again,
        up to ``attempts`` times. A timeout ends it at once: the link's own
        re-initialise / reopen loop, with its back-off, retries a silent modem.
        """
        async with self._lock:
            self._channel.abandon()
            try:
                self._write(ESC + b"\r")
                for _ in range(attempts):
                    await self._drain(quiet=quiet, limit=timeout)
                    response = await self._command(Command(line="AT", timeout=timeout))
                    if response.ok:
                        return True
            except (ModemTimeout, PortClosed):
                return False
        return False

    async def _drain(self, *, quiet: float, limit: float) -> None:
        """Read and discard until no byte came for ``quiet`` s (at most ``limit`` s)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while (remaining := deadline - loop.time()) > 0:
            self._received.clear()
            try:
                async with asyncio.timeout(min(quiet, remaining)):
                    await self._received.wait()
            except TimeoutError:
                break
        self._channel.discard_input()


def parse_fields(value: str) -> list[str]:
    """``'0,,24'`` / ``'"SM",3'`` -> fields without quotes."""
    return [field.strip().strip('"') for field in value.split(",")]


def info_value(line: str) -> str:
    """What follows ``+NAME:`` in an information response."""
    return line.partition(":")[2].strip()
