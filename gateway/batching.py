"""Group commit: many callers, one store transaction per batch.

Callers ``await batcher.submit(item)`` and get the flush's result once the
batch holding their item is committed (or its exception). While one flush
runs, new items gather; the next flush takes them all. So a lone item is
written at once, and under load batches grow by themselves, with no timer
adding latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class BatcherClosed(Exception):
    """The batcher is closed and takes no more items."""


class Batcher(Generic[T, R]):
    def __init__(
        self,
        *,
        flush: Callable[[Sequence[T]], Awaitable[R]],
        max_items: int = 1000,
        name: str = "batcher",
    ) -> None:
        self._flush = flush
        self._max_items = max_items
        self._name = name
        # one future per submit, shared by the items it brought (they share a batch)
        self._items: list[T] = []
        self._waiters: list[tuple[int, asyncio.Future[R]]] = []  # (items it covers, future)
        self._wakeup = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # flushes done (metrics, tests)

    def __len__(self) -> int:
        return len(self._items)

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue ``item``; the future resolves once its batch is committed."""
        return self.submit_many((item,))

    def submit_many(self, items: Sequence[T]) -> asyncio.Future[R]:
        """Queue ``items`` into one batch; one future resolves once it is committed.

        The items are never split over two flushes (a batch may exceed
        ``max_items`` by the size of one call).
        """
        if self._closed:
            raise BatcherClosed(self._name)
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = loop.create_task(self._run(), name=self._name)
        future: asyncio.Future[R] = loop.create_future()
        self._items.extend(items)
        self._waiters.append((len(items), future))
        self._wakeup.set()
        return future

    async def close(self) -> None:
        """Flush what is queued, then stop."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    def _take(self) -> tuple[list[T], list[asyncio.Future[R]]]:
        """The next batch: whole submits, up to ``max_items`` items (at least one submit)."""
        count = 0
        taken = 0
        for n, _ in self._waiters:
            if taken and count + n > self._max_items:
                break
            count += n
            taken += 1
        items = self._items[:count]
        waiters = [w for _, w in self._waiters[:taken]]
        del self._items[:count]
        del self._waiters[:taken]
        return items, waiters

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._waiters:
                items, waiters = self._take()
                try:
                    result = await self._flush(items)
                except Exception as exc:  # noqa: BLE001 - handed to every waiter
                    for w in waiters:
                        if not w.done():
                            w.set_exception(exc)
                else:
                    for w in waiters:
                        if not w.done():
                            w.set_result(result)
                self.batches += 1
            if self._closed:
                return
