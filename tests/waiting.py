"""Waiting on conditions in tests: one poll-with-deadline helper for the whole suite.

Where a test can wait on an event (a future, a process exit, a pipe), it does;
where the only signal is a state another process writes (a database row, an
HTTP answer), it polls that state with :func:`eventually` and a deadline,
never with a fixed sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

POLL = 0.02  # seconds between two looks at the condition


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout: float = 15.0,
    what: str = "condition",
    failure: Callable[[str], BaseException] = AssertionError,
) -> None:
    """Poll ``check`` until it is true; raise ``failure(message)`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise failure(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(POLL)
