"""Group commit on PostgreSQL: the enqueue calls of one process, several per transaction.

Each enqueue locks its accounts' rows until its commit, and the commit waits
for the WAL's fsync: one account takes a few hundred transactions a second,
however many requests come in at once. :class:`GroupCommit` runs one
transaction at a time: the calls that arrive while it is in flight wait,
and the next transaction takes all of them (up to ``max_calls`` calls and
``max_messages`` messages, at least one call), as the SQLite backend's
writer thread does (gateway/store/sqlite/engine.py). No timer: an idle
process's call starts its transaction at once.

A caller is answered after the commit that holds its messages, with its own
result or its own error: the function run (``enqueue_many``) answers each
call apart (an unknown account fails its call alone). Should the merged
transaction fail otherwise (a statement refused), each of its calls is run
again in a transaction of its own, so that one bad call does not fail the
others; a server gone away (:class:`~gateway.model.errors.StoreUnavailable`)
fails every call of the transaction, nothing of it written.

A caller that stops waiting (cancelled) before its transaction starts is
left out of it; once its transaction started, its messages are committed
with the others' (it was not acknowledged: a retry with the same
``client_ref`` finds them).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

from gateway.model.errors import StoreUnavailable

MAX_CALLS = 256  # enqueue calls per transaction, at most
MAX_MESSAGES = 2_000  # messages per transaction, at most (a bigger call goes alone)


class Sized(Protocol):
    def __len__(self) -> int: ...


W = TypeVar("W", bound=Sized)
R = TypeVar("R")
Run = Callable[[Sequence[W]], Awaitable[list[R | Exception]]]


class _Call(Generic[W, R]):
    __slots__ = ("future", "work")

    def __init__(self, work: W, future: asyncio.Future[R]) -> None:
        self.work = work
        self.future = future


class GroupCommit(Generic[W, R]):
    """Runs ``run(works)`` (one transaction) for the calls queued meanwhile."""

    def __init__(
        self, run: Run[W, R], *, max_calls: int = MAX_CALLS, max_messages: int = MAX_MESSAGES
    ) -> None:
        self._run = run
        self._max_calls = max_calls
        self._max_messages = max_messages
        self._queue: collections.deque[_Call[W, R]] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0  # run so far (merged ones, not the calls run again alone)

    async def submit(self, work: W) -> R:
        """``work``'s result, once the transaction holding it committed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append(_Call(work, future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="smsgw-store-group-commit")
        return await future

    async def close(self) -> None:
        """Wait for the transaction in flight and the calls queued."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._task)

    def _next(self) -> list[_Call[W, R]]:
        calls: list[_Call[W, R]] = []
        messages = 0
        queue = self._queue
        while queue and len(calls) < self._max_calls:
            call = queue[0]
            size = len(call.work)
            if calls and messages + size > self._max_messages:
                break
            queue.popleft()
            if call.future.done():
                continue  # its caller stopped waiting: left out
            calls.append(call)
            messages += size
        return calls

    async def _drain(self) -> None:
        try:
            while self._queue:
                calls = self._next()
                if calls:
                    await self._commit(calls)
        finally:
            self._task = None

    async def _commit(self, calls: list[_Call[W, R]]) -> None:
        try:
            self.transactions += 1
            results = await self._run([c.work for c in calls])
        except StoreUnavailable as exc:
            for call in calls:
                _answer(call, exc)
            return
        except Exception as exc:  # noqa: BLE001 (handed to the callers, or each run alone)
            if len(calls) == 1:
                _answer(calls[0], exc)
                return
            for call in calls:  # find which one it was: each in its own transaction
                await self._commit([call])
            return
        except BaseException:  # cancelled (the loop shutting down): nobody is answered
            for call in calls:
                call.future.cancel()
            raise
        for call, result in zip(calls, results, strict=True):
            _answer(call, result)


def _answer(call: _Call[W, R], result: R | Exception) -> None:
    if call.future.done():
        return  # cancelled meanwhile
    if isinstance(result, Exception):
        call.future.set_exception(result)
    else:
        call.future.set_result(result)
