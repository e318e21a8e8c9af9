"""The send path of :class:`gateway.link.interface.Link` for a driver that sends by awaiting.

A driver whose sending is a coroutine per segment (a modem: AT+CMGS, then its
answer) keeps one :class:`SubmitTasks` and hands it its coroutine; the
driver's ``room``, ``wait_room`` and ``send`` are this object's. Each segment
runs in a task of its own, ``window`` of them at most at once; a driver that
streams (SMPP) implements the three itself and has no task per segment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.link.interface import OutcomeCallback, SubmitRequest
from gateway.model.outcomes import Outcome, Retry

SubmitOne = Callable[[SubmitRequest], Awaitable[Outcome]]


class SubmitTasks:
    """``room`` / ``wait_room`` / ``send`` over a coroutine per segment: a task each,
    ``window`` at most."""

    def __init__(self, submit: SubmitOne, *, window: int, logger: Any) -> None:
        self._submit_one = submit
        self._window = max(window, 1)
        self._log = logger  # bound to the link's name
        self._tasks: set[asyncio.Task[None]] = set()
        self._freed: asyncio.Future[None] | None = None

    def room(self) -> int:
        return self._window - len(self._tasks)

    async def wait_room(self) -> None:
        while len(self._tasks) >= self._window:
            if self._freed is None or self._freed.done():
                self._freed = asyncio.get_running_loop().create_future()
            await self._freed

    def send(self, request: SubmitRequest, done: OutcomeCallback) -> None:
        task = asyncio.get_running_loop().create_task(self._submit(request, done))
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    async def _submit(self, request: SubmitRequest, done: OutcomeCallback) -> None:
        try:
            outcome: Outcome = await self._submit_one(request)
        except Exception as exc:  # noqa: BLE001 - a driver bug must not lose the segment
            self._log.error("submit_crashed", msg_id=request.message_id, error=repr(exc))
            outcome = Retry(reason="internal_error")
        done(outcome)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        freed = self._freed
        if freed is not None and not freed.done():
            freed.set_result(None)
