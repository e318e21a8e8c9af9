"""Group commit: whole submits per batch, one future per submit, errors to every waiter."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from gateway.batching import Batcher, BatcherClosed


class _Sink:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def flush(self, items: Sequence[int]) -> int:
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("disk full")
        self.batches.append(list(items))
        return len(self.batches)


async def test_items_gathered_during_a_flush_go_in_the_next_batch() -> None:
    sink = _Sink()
    batcher: Batcher[int, int] = Batcher(flush=sink.flush)
    sink.gate.clear()
    first = batcher.submit(1)
    await asyncio.sleep(0)  # the writer took [1] and waits on the gate
    later = [batcher.submit(2), batcher.submit_many([3, 4])]
    sink.gate.set()
    assert await first == 1
    assert await asyncio.gather(*later) == [2, 2]
    assert sink.batches == [[1], [2, 3, 4]]
    await batcher.close()


async def test_a_submit_is_never_split_over_two_batches() -> None:
    sink = _Sink()
    batcher: Batcher[int, int] = Batcher(flush=sink.flush, max_items=3)
    futures = [batcher.submit_many([1, 2]), batcher.submit_many([3, 4]), batcher.submit(5)]
    assert await asyncio.gather(*futures) == [1, 2, 2]
    assert sink.batches == [[1, 2], [3, 4, 5]]
    await batcher.close()


async def test_a_failed_flush_fails_every_submit_of_its_batch() -> None:
    sink = _Sink()
    sink.fail = True
    batcher: Batcher[int, int] = Batcher(flush=sink.flush)
    futures = [batcher.submit_many([1, 2]), batcher.submit(3)]
    for f in futures:
        with pytest.raises(RuntimeError, match="disk full"):
            await f
    await batcher.close()
    with pytest.raises(BatcherClosed):
        batcher.submit(4)


async def test_a_cancelled_waiter_does_not_stop_the_others() -> None:
    sink = _Sink()
    batcher: Batcher[int, int] = Batcher(flush=sink.flush)
    sink.gate.clear()
    gone = batcher.submit(1)
    kept = batcher.submit(2)
    gone.cancel()
    sink.gate.set()
    assert await kept == 1
    assert sink.batches == [[1, 2]]
    await batcher.close()
