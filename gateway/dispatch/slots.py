"""Parts of the dispatcher: send order, reference numbers, weighted slots, a streaming adapter.

- :class:`SendOrder`: messages waiting to be sent, higher priority first, then
  older first (the dispatcher's queue and each link's lane);
- :class:`References`: concatenation reference numbers, unique per destination
  in turn;
- :class:`WeightedSlots`: a FIFO semaphore whose takers take several units at
  once (a message's segments); it counts a link's segments sent and not yet
  recorded;
- :class:`SubmitTasks`: the streaming interface (:class:`gateway.link.interface.SegmentSender`)
  over a link that only has ``submit`` (a modem): one task per segment, at
  most a window of them at once.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import random
from typing import Any

from gateway.link.interface import Link, OutcomeCallback, SegmentSender, SubmitRequest
from gateway.model.outcomes import Outcome, Retry
from gateway.model.records import Message


class SendOrder:
    """Messages waiting to be sent: the highest priority first, then the oldest (ids
    sort by creation time), then the first pushed.

    A message pushed while others wait goes before every one of lower priority,
    so priority holds on a busy link, not only at the claim.
    """

    __slots__ = ("_heap", "_order")

    def __init__(self) -> None:
        self._heap: list[tuple[int, str, int, Message]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def push(self, message: Message) -> None:
        heapq.heappush(self._heap, (-message.priority, message.id, next(self._order), message))

    def peek(self) -> Message:
        """The next message (IndexError when empty)."""
        return self._heap[0][3]

    def pop(self) -> Message:
        """Take the next message (IndexError when empty)."""
        return heapq.heappop(self._heap)[3]


class References:
    """Concatenation reference numbers, unique per destination in turn (8-bit wraps at 256)."""

    def __init__(self, *, size: int, rng: random.Random) -> None:
        self._next: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._size = size
        self._rng = rng

    def take(self, destination: str, concat: str) -> int:
        """The next reference for ``destination``, in the range ``concat`` allows."""
        return self._take(destination) & (0xFF if concat == "udh8" else 0xFFFF)

    def _take(self, destination: str) -> int:
        ref = self._next.pop(destination, None)
        if ref is None:
            ref = self._rng.randrange(0x10000)
        self._next[destination] = (ref + 1) & 0xFFFF
        if len(self._next) > self._size:
            self._next.popitem(last=False)
        return ref


class WeightedSlots:
    """A FIFO semaphore whose takers take several units at once (a message's segments).

    A taker never waits for more than the whole size, so a message with more
    segments than the window still goes (alone).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def take_now(self, n: int) -> int:
        """Take ``n`` units (at most the size) if they are free and nobody waits; how
        many were taken (0: none, call :meth:`acquire`)."""
        n = min(n, self.size)
        if self._waiters or self.free < n:
            return 0
        self.free -= n
        return n

    async def acquire(self, n: int) -> int:
        """Take ``n`` units (at most the size), waiting in turn; how many were taken."""
        taken = self.take_now(n)
        if taken:
            return taken
        n = min(n, self.size)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((n, future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(n)  # granted just before the cancellation: give it back
            else:
                self._waiters.remove((n, future))
            raise
        return n

    def release(self, n: int) -> None:
        self.free += n
        while self._waiters and self._waiters[0][0] <= self.free:
            wanted, future = self._waiters.popleft()
            if not future.done():
                self.free -= wanted
                future.set_result(None)


class SubmitTasks:
    """:class:`SegmentSender` over a link's ``submit``: a task per segment, ``window`` at most."""

    def __init__(self, link: Link, *, window: int, logger: Any) -> None:
        self._link = link
        self._window = max(window, 1)
        self._log = logger
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
            outcome: Outcome = await self._link.submit(request)
        except Exception as exc:  # noqa: BLE001 - a driver bug must not lose the segment
            self._log.error(
                "submit_crashed", link=self._link.name, msg_id=request.message_id, error=repr(exc)
            )
            outcome = Retry(reason="internal_error")
        done(outcome)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        freed = self._freed
        if freed is not None and not freed.done():
            freed.set_result(None)


def segment_sender(link: Link, *, logger: Any) -> SegmentSender:
    """The link itself when it streams (SMPP), else :class:`SubmitTasks` around it."""
    if isinstance(link, SegmentSender):
        return link
    return SubmitTasks(link, window=link.health().window, logger=logger)
