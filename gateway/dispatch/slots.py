"""Parts of the dispatcher: send order, reference numbers, weighted slots.

- :class:`SendOrder`: messages waiting to be sent, higher priority first, then
  older first (the dispatcher's queue and each link's lane);
- :class:`References`: concatenation reference numbers, unique per destination
  in turn;
- :class:`WeightedSlots`: a FIFO semaphore whose takers take several units at
  once (a message's segments); it counts a link's segments sent and not yet
  recorded.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import random

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
