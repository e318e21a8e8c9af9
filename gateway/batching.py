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
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[R]] = []
        self._wakeup = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # flushes done (metrics, tests)

    def __len__(self) -> int:
        return len(self._items)

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue ``item``; the future resolves once its batch is committed."""
        if self._closed:
            raise BatcherClosed(self._name)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._items.append(item)
        self._waiters.append(future)
        self._wakeup.set()
        return future

    async def close(self) -> None:
        """Flush what is queued, then stop."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._items:
                items = self._items[: self._max_items]
                waiters = self._waiters[: self._max_items]
                del self._items[: self._max_items]
                del self._waiters[: self._max_items]
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
