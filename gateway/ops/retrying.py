"""The daemon's long-running loops through a store that may go away for a while.

With PostgreSQL, the store is a server that can restart, fail over or be
cut off; SQLite can be briefly unwritable (a full disk). A loop that reads or
writes the store (claims, the outbox publisher, the housekeeping sweeps)
does not end then, taking the daemon with it: it waits and tries again, the
wait doubling from :data:`RETRY_MIN` to at most :data:`RETRY_MAX` seconds,
and says so once per outage (``*_paused`` with the error, ``*_resumed`` when
the store answers again), not once per attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from gateway.model.errors import StoreError

RETRY_MIN = 0.1  # seconds before the first new attempt
RETRY_MAX = 5.0  # seconds between attempts while the store stays away


def retry_delay(failures: int) -> float:
    """Seconds to wait after ``failures`` failures in a row (the exponent capped)."""
    return min(RETRY_MIN * 2.0 ** min(failures, 16), RETRY_MAX)


class Outage:
    """One loop's view of the store's availability: logs the start and the end of an
    outage once each, and gives the back-off to wait."""

    __slots__ = ("_failures", "_log", "_what")

    def __init__(self, what: str, logger: Any) -> None:
        self._what = what
        self._log = logger
        self._failures = 0

    def failed(self, exc: BaseException) -> float:
        """The store failed: seconds to wait before the next attempt."""
        if self._failures == 0:
            self._log.warning(f"{self._what}_paused", error=str(exc) or type(exc).__name__)
        self._failures += 1
        return retry_delay(self._failures)

    def worked(self) -> None:
        if self._failures:
            self._log.info(f"{self._what}_resumed", failures=self._failures)
            self._failures = 0


async def keep_going(step: Callable[[], Awaitable[float]], *, what: str, logger: Any) -> NoReturn:
    """Run ``step`` again and again, waiting the seconds it returns between runs; a
    store error pauses it (:class:`Outage`) instead of ending it."""
    outage = Outage(what, logger)
    while True:
        try:
            pause = await step()
        except StoreError as exc:
            pause = outage.failed(exc)
        else:
            outage.worked()
        await asyncio.sleep(pause)
