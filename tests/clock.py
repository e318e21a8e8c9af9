"""A clock tests move by hand (gateway.model.clock.Clock)."""

from __future__ import annotations

import datetime as dt
import time

START = dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC).timestamp()


class FakeClock:
    """Wall time starts at :data:`START`; both readings move only with :meth:`advance`."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self._origin = now

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now - self._origin

    def advance(self, seconds: float) -> None:
        self.now += seconds


class AheadClock:
    """The machine's clocks, its wall time ``ahead`` seconds in the future."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def __call__(self) -> float:
        return time.time() + self.ahead

    def monotonic(self) -> float:
        return time.monotonic()
