"""The one clock every component reads, injected (tests pass one they move by hand).

Two readings, never mixed: calling the clock gives wall time (POSIX seconds),
the time that is stored and compared with stored times (send_at, leases,
receipts' deadlines); :meth:`Clock.monotonic` gives seconds that never jump,
for intervals on this process only (latencies, poll deadlines, back-offs).
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    def __call__(self) -> float:
        """Wall time, seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (its origin means nothing)."""
        ...


class SystemClock:
    """The machine's clocks."""

    __slots__ = ()

    def __call__(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()
