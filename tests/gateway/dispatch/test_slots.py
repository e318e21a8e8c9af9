"""SendOrder (priority, then age), WeightedSlots (FIFO, several units per taker, a taker
larger than the whole passes alone) and References."""

from __future__ import annotations

import asyncio

from gateway.dispatch.slots import References, SendOrder, WeightedSlots
from gateway.model.ids import new_id
from gateway.model.message import MessageClass, MessageState, SenderKind
from gateway.model.records import Message


def _message(priority: int, at: float) -> Message:
    return Message(
        id=new_id(at),
        account="acme",
        sender="ACME",
        sender_kind=SenderKind.ALPHA,
        destination="+33612345678",
        text="hi",
        encoding="gsm7",
        segments=1,
        price=1,
        credits=1,
        msg_class=MessageClass.STANDARD,
        send_at=at,
        validity=None,
        priority=priority,
        client_ref=None,
        callback_url=None,
        state=MessageState.DISPATCHING,
        attempts=0,
        next_attempt_at=at,
        created_at=at,
        updated_at=at,
        lease_owner="w",
        lease_until=at + 300,
        error=None,
    )


def test_send_order_is_priority_then_age_whatever_came_first() -> None:
    order = SendOrder()
    old_low, new_low = _message(0, 100.0), _message(0, 101.0)
    old_high, new_high = _message(3, 102.0), _message(3, 103.0)
    middle = _message(1, 99.0)
    for message in (new_low, old_low, new_high, middle, old_high):
        order.push(message)
    assert len(order) == 5
    assert order.peek() is old_high
    assert [order.pop() for _ in range(5)] == [old_high, new_high, middle, old_low, new_low]
    assert not order


async def test_takers_wait_in_order_and_get_what_they_asked() -> None:
    slots = WeightedSlots(4)
    assert await slots.acquire(3) == 3
    order: list[str] = []

    async def take(name: str, n: int) -> None:
        await slots.acquire(n)
        order.append(name)

    big = asyncio.create_task(take("big", 2))
    small = asyncio.create_task(take("small", 1))
    await asyncio.sleep(0)
    assert order == []  # one unit free; "big" waits first and "small" may not pass it
    slots.release(3)
    await asyncio.gather(big, small)
    assert order == ["big", "small"]
    assert slots.free == 1


async def test_taker_larger_than_the_size_takes_everything() -> None:
    slots = WeightedSlots(2)
    assert await slots.acquire(10) == 2
    assert slots.free == 0
    slots.release(2)
    assert slots.free == 2


async def test_cancelled_waiter_gives_nothing_away() -> None:
    slots = WeightedSlots(1)
    await slots.acquire(1)
    waiter = asyncio.create_task(slots.acquire(1))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    slots.release(1)
    assert slots.free == 1


def test_references_follow_each_other_per_destination_within_range() -> None:
    import random

    draws = random.Random(3)
    fresh = [draws.randrange(0x10000) for _ in range(4)]  # a new destination's start, in turn
    refs = References(size=2, rng=random.Random(3))
    assert refs.take("+331", "udh8") == fresh[0] & 0xFF
    assert refs.take("+331", "udh8") == (fresh[0] + 1) & 0xFF
    assert refs.take("+332", "udh16") == fresh[1]
    assert refs.take("+333", "udh16") == fresh[2]
    # past the size the oldest destination is forgotten: +331 starts anew, +333 goes on
    assert refs.take("+331", "udh16") == fresh[3]
    assert refs.take("+333", "udh16") == (fresh[2] + 1) & 0xFFFF
