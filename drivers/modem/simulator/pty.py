"""The simulated modem on a pseudo-terminal, driven by the running asyncio loop.

The slave side (``/dev/pts/N``, or a symlink to it) is what a modem link opens
as its serial device; the simulator reads and writes the master side. The
simulator keeps the slave open itself, so a link that closes and reopens the
port finds the same modem (as after a USB reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from pathlib import Path
from types import TracebackType

from drivers.modem.simulator.config import SimConfig
from drivers.modem.simulator.modem import SimModem


class PtyModem:
    """``async with PtyModem(SimConfig(...)) as sim: sim.device`` is the port to open."""

    def __init__(self, config: SimConfig | None = None, *, link: Path | None = None) -> None:
        self.modem = SimModem(config)
        self._link = link
        self._master = -1
        self._slave = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._pending = bytearray()
        self.device = ""
        self.received = 0  # bytes read from the link

    async def __aenter__(self) -> PtyModem:
        self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> str:
        """Create the pty and start serving it on the running loop; returns the device."""
        self._loop = asyncio.get_running_loop()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave, termios.TCSANOW)
        os.set_blocking(self._master, False)
        self.device = os.ttyname(self._slave)
        if self._link is not None:
            try:
                if self._link.is_symlink():
                    self._link.unlink()
                self._link.symlink_to(self.device)
            except OSError:
                link, self._link = self._link, None  # not ours: do not remove it on close
                self.close()
                self._link = link
                raise
            self.device = str(self._link)
        self._loop.add_reader(self._master, self._readable)
        return self.device

    def close(self) -> None:
        if self._loop is not None and self._master >= 0:
            self._loop.remove_reader(self._master)
            self._loop.remove_writer(self._master)
        if self._timer is not None:
            self._timer.cancel()
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1
        if self._link is not None:
            with contextlib.suppress(FileNotFoundError):
                self._link.unlink()

    # --- controls (tests call these; the CLI maps console commands to them) -----

    def inject_mo(self, *, originator: str, text: str, reference: int = 0) -> int:
        parts = self.modem.inject_mo(originator=originator, text=text, reference=reference)
        self._flush()
        return parts

    def inject_pdu(self, pdu: bytes) -> None:
        self.modem.inject_pdu(pdu)
        self._flush()

    def resume(self) -> None:
        self.modem.resume()

    # --- I/O ---------------------------------------------------------------------

    def _now(self) -> float:
        assert self._loop is not None  # noqa: S101 - set by open()
        return self._loop.time()

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # EIO: nobody has the slave open (cannot happen while we hold it)
        if not data:
            return
        self.received += len(data)
        self.modem.receive_data(data, now=self._now())
        self._flush()

    def _on_timer(self) -> None:
        self._timer = None
        self.modem.handle_timer(self._now())
        self._flush()

    def _flush(self) -> None:
        self._pending += self.modem.take_output()
        self._write_pending()
        due = self.modem.get_timer()
        if due is not None and self._loop is not None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(due, self._on_timer)

    def _write_pending(self) -> None:
        assert self._loop is not None  # noqa: S101 - set by open()
        while self._pending:
            try:
                written = os.write(self._master, self._pending)
            except (BlockingIOError, InterruptedError):
                self._loop.add_writer(self._master, self._writable)
                return
            del self._pending[:written]
        self._loop.remove_writer(self._master)

    def _writable(self) -> None:
        self._write_pending()
