"""A minimal sd_notify(3) client: readiness, status, watchdog, stop and reload.

systemd passes ``NOTIFY_SOCKET`` (a filesystem path, or ``@name`` for the
abstract namespace) to a ``Type=notify`` service; the service sends
newline-separated ``KEY=value`` assignments in one datagram. Without the
variable (a terminal, a test) every call is a no-op returning False, so the
daemon calls it unconditionally.

The watchdog ping must come from the event loop itself (:func:`watchdog_pinger`
is an asyncio task): when the loop is blocked, the pings stop and systemd
restarts the service after ``WatchdogSec``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Mapping


def _monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class Notifier:
    """Sends state changes to the service manager over ``NOTIFY_SOCKET``."""

    def __init__(
        self,
        *,
        address: str | None,
        monotonic_usec: Callable[[], int] = _monotonic_usec,
    ) -> None:
        self._address = _socket_address(address)
        self._monotonic_usec = monotonic_usec
        self._sock: socket.socket | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(address=env.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; False when disabled or refused.

        A failure never raises: losing a STATUS line must not stop the daemon
        (a missed READY=1 or WATCHDOG=1 is reported by systemd itself).
        """
        if self._address is None:
            return False
        payload = "\n".join(assignments).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(payload, self._address)
        except OSError:
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Startup (or a reload) finished."""
        return self.notify("READY=1", *_status(status))

    def status(self, text: str) -> bool:
        """One human line shown by ``systemctl status``."""
        return self.notify(*_status(text))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *_status(status))

    def reloading(self, status: str | None = None) -> bool:
        """A reload began; send :meth:`ready` when it is done.

        ``MONOTONIC_USEC`` lets systemd (253+, ``Type=notify-reload``) match
        this message to the reload it asked for.
        """
        return self.notify(
            "RELOADING=1", f"MONOTONIC_USEC={self._monotonic_usec()}", *_status(status)
        )

    def extend_timeout(self, seconds: float, status: str | None = None) -> bool:
        """Ask for ``seconds`` more before the start (or stop) timeout fires."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}", *_status(status))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _status(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    return (f"STATUS={' '.join(text.splitlines())}",)


def _socket_address(address: str | None) -> str | None:
    if not address:
        return None
    if address.startswith("@"):
        return "\0" + address[1:]  # abstract namespace
    if address.startswith("/"):
        return address
    return None  # vsock: and other transports are not used by smsgw's units


def watchdog_interval(
    environ: Mapping[str, str] | None = None,
    *,
    pid: int | None = None,
) -> float | None:
    """The watchdog timeout systemd enforces, in seconds; None when not asked.

    ``WATCHDOG_USEC`` is the timeout; ``WATCHDOG_PID``, when set, names the
    process that must ping (another process inherits the variables but not the
    duty). Ping every half of it: ``watchdog_pinger(notifier, interval / 2)``.
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    owner = env.get("WATCHDOG_PID", "")
    try:
        timeout = int(usec)
    except ValueError:
        return None
    if timeout <= 0:
        return None
    if owner:
        try:
            if int(owner) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return timeout / 1_000_000


async def watchdog_pinger(notifier: Notifier, interval: float) -> None:
    """Send WATCHDOG=1 every ``interval`` seconds from the event loop, until cancelled."""
    if interval <= 0:
        msg = f"watchdog interval must be positive, got {interval}"
        raise ValueError(msg)
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)
