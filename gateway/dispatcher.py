"""The dispatcher: claims due messages, encodes, routes and submits them.

One claim loop leases due messages from the store in batches (priority, then
age) while fewer than ``max_in_flight`` are being sent, and runs one task per
message. A message task drops what is past its validity (``expired``, with a
refund) or too old (``failed``), picks a link with the router, encodes the
text for that link (concatenation mode, packing, a reference kept unique per
destination), submits the segments not yet accepted, and hands the outcomes
to a group-commit batcher. The store derives each message's state from its
segments and refunds what was never accepted.

Retries: a transient outcome sends the message back to the queue with a
back-off (``retry_at``); the next claim routes it again, so a link that is
down or throttling is skipped while another can take the traffic. A message
that keeps failing ends ``failed`` once it is ``max_age`` old (its validity,
when shorter, ends it ``expired`` first). Retries while a link is down back
off too, but to at most ``link_retry_max``, so traffic resumes soon after the
link returns without every queued message being rewritten every second.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.batching import Batcher
from gateway.codec import encode
from gateway.errors import CodecError
from gateway.link import Link, LinkHealth, Outcome, Retry, SubmitRequest
from gateway.metrics import Metrics
from gateway.model import MessageState, SegmentState
from gateway.router import Router
from gateway.store.base import Store
from gateway.store.records import Message, OutcomeRecord, QueueChanges

ChangesSink = Callable[[QueueChanges], None]
_LINK_STATE_REASONS = frozenset({"link_down", "no_link_bound", "no_route"})


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchSettings:
    worker: str  # unique per daemon: leases name it
    batch: int = 500  # messages per claim
    lease: float = 300.0  # seconds a claim holds; longer than any submit can take
    max_in_flight: int = 5000  # messages being sent at once
    idle_poll: float = 0.2  # seconds between claims when nothing is due
    retry_base: float = 2.0
    retry_max: float = 300.0
    link_retry_max: float = 30.0  # back-off cap while no link can take the message
    max_age: float = 86_400.0  # a message not submitted within a day fails
    references: int = 100_000  # destinations whose concatenation reference is remembered


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

    async def acquire(self, n: int) -> int:
        n = min(n, self.size)
        if not self._waiters and self.free >= n:
            self.free -= n
            return n
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


class Dispatcher:
    def __init__(
        self,
        *,
        store: Store,
        router: Router,
        links: Mapping[str, Link],
        settings: DispatchSettings,
        on_changes: ChangesSink,
        logger: Any,  # a structlog bound logger
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._router = router
        self._links = dict(links)
        self._s = settings
        self._on_changes = on_changes
        self._log = logger.bind(component="dispatcher")
        self._clock = clock
        self._rng = rng or random.Random()
        self._metrics = metrics
        self._refs = References(size=settings.references, rng=self._rng)
        self._outcomes: Batcher[OutcomeRecord, QueueChanges] = Batcher(
            flush=self._flush_outcomes, name="outcome-writer"
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._room.set()
        self._poke = asyncio.Event()
        self._stopping = False
        self._health: dict[str, LinkHealth] = {}
        self._health_at = 0.0
        self._slots: dict[int, WeightedSlots] = {}  # id(link) -> its unrecorded submits

    # --- control ------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def poke(self) -> None:
        """Something was enqueued: claim now instead of at the next poll."""
        self._poke.set()

    def replace(self, *, router: Router, links: Mapping[str, Link]) -> None:
        """New routes and links (SIGHUP); messages being sent finish on their link."""
        self._router = router
        self._links = dict(links)
        self._health_at = 0.0
        current = {id(link) for link in self._links.values()}
        self._slots = {key: slots for key, slots in self._slots.items() if key in current}

    async def run(self) -> None:
        """Claim and dispatch until :meth:`stop`."""
        while not self._stopping:
            room = self._s.max_in_flight - len(self._tasks)
            if room < self._wanted_room():
                self._room.clear()
                await self._room.wait()
                continue
            claimed = await self._store.claim_due(
                self._s.worker, now=self._clock(), limit=min(self._s.batch, room),
                lease_seconds=self._s.lease,
            )
            for message in claimed:
                task = asyncio.create_task(self._dispatch(message), name=f"send-{message.id}")
                self._tasks.add(task)
                task.add_done_callback(self._done)
            if len(claimed) < min(self._s.batch, room):
                self._poke.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._s.idle_poll):
                        await self._poke.wait()

    async def stop(self, *, timeout: float) -> int:
        """Stop claiming; wait (bounded) for messages being sent. Returns those left.

        The outcome writer stays open: the messages left still get answers (or
        ``link_down`` once the links stop), and :meth:`close` records them.
        """
        self._stopping = True
        self._poke.set()
        self._room.set()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        return len(self._tasks)

    async def close(self, *, timeout: float) -> None:
        """After the links stopped: record what the messages left ended with, then close."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        await self._outcomes.close()

    def _wanted_room(self) -> int:
        """Room to wait for before claiming: while plenty is being sent, a whole batch
        (one claim per batch rather than one per few answers: each claim is a write)."""
        if len(self._tasks) >= self._s.batch:
            return max(1, min(self._s.batch, self._s.max_in_flight // 2))
        return 1

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._s.max_in_flight - len(self._tasks) >= self._wanted_room():
            self._room.set()
        if not task.cancelled() and (exc := task.exception()) is not None:
            # even the retry could not be recorded (store down): the lease brings it back
            self._log.error("dispatch_unrecorded", error=repr(exc), exc_info=exc)

    # --- one message --------------------------------------------------------------

    def _link_health(self, now: float) -> dict[str, LinkHealth]:
        if now - self._health_at > 0.1:
            self._health = {name: link.health() for name, link in self._links.items()}
            self._health_at = now
        return self._health

    async def _finish(self, message: Message, state: MessageState, reason: str) -> None:
        changes = await self._store.finish(message.id, state, reason=reason)
        self._on_changes(changes)

    async def _dispatch(self, message: Message) -> None:
        try:
            await self._send(message)
        except Exception as exc:  # noqa: BLE001 - a bug must not strand the message
            # until its lease runs out
            self._log.error("dispatch_crashed", msg_id=message.id, error=repr(exc), exc_info=exc)
            await self._record([OutcomeRecord(
                message_id=message.id, index=0, link="", outcome=Retry(reason="internal_error"),
                retry_at=self._clock() + self._backoff(message.attempts),
            )])

    async def _send(self, message: Message) -> None:
        now = self._clock()
        if message.validity is not None and now >= message.send_at + message.validity:
            await self._finish(message, MessageState.EXPIRED, "validity passed before sending")
            return
        if now - message.created_at > self._s.max_age:
            await self._finish(message, MessageState.FAILED,
                               f"not sent after {message.attempts} attempts: {message.error}")
            return
        candidates = self._router.candidates(message.destination, self._link_health(now))
        if not candidates:
            reason = "no_link_bound" if self._router.has_route(message.destination) else "no_route"
            retry = Retry(reason=reason)
            await self._record([OutcomeRecord(
                message_id=message.id, index=0, link="", outcome=retry,
                retry_at=now + self._retry_delay(message.attempts, retry),
            )])
            return
        link = self._links[candidates[0]]
        indices, delivered = await self._pending_indices(message)
        if not indices:
            # every segment was accepted before a crash; only the state was not written
            state = MessageState.DELIVERED if delivered else MessageState.SUBMITTED
            self._on_changes(await self._store.finish(message.id, state))
            return
        try:
            segments = self._encode(message, link)
        except CodecError as exc:
            await self._finish(message, MessageState.REJECTED, f"cannot encode: {exc}")
            return
        # at most one window of this link's submits may be sent and not yet
        # recorded: that bounds what a crash can make us send twice
        slots = self._unrecorded_slots(link)
        taken = await slots.acquire(1 if link.concat == "payload" else len(indices))
        try:
            if link.concat == "payload":
                outcome = await self._submit(link, message, 0, segments[0])
                outcomes = dict.fromkeys(indices, outcome)
            elif len(indices) == 1:  # most messages: no task of its own for the segment
                i = indices[0]
                outcomes = {i: await self._submit(link, message, i, segments[i])}
            else:
                results = await asyncio.gather(
                    *(self._submit(link, message, i, segments[i]) for i in indices)
                )
                outcomes = dict(zip(indices, results, strict=True))
            now = self._clock()
            await self._record([
                OutcomeRecord(
                    message_id=message.id, index=i, link=link.name, outcome=o,
                    retry_at=now + self._retry_delay(message.attempts, o)
                    if isinstance(o, Retry) else None,
                )
                for i, o in outcomes.items()
            ])
        finally:
            slots.release(taken)

    def _unrecorded_slots(self, link: Link) -> WeightedSlots:
        slots = self._slots.get(id(link))
        if slots is None:
            window = max(link.health().window, 1)
            slots = self._slots[id(link)] = WeightedSlots(window)
        return slots

    async def _pending_indices(self, message: Message) -> tuple[list[int], bool]:
        """Segments still to send, and whether all the others are delivered."""
        # a lease taken back from a crashed worker counts as an attempt (store),
        # so attempts == 0 means no segment of this message was ever sent
        if message.attempts == 0:
            return list(range(message.segments)), False
        view = await self._store.get_message(message.id)
        pending = [s.index for s in view.segments if s.state is SegmentState.PENDING]
        delivered = all(s.state is SegmentState.DELIVERED for s in view.segments)
        return pending, delivered

    def _encode(self, message: Message, link: Link) -> list[Any]:
        concat = link.concat
        segments = encode(
            message.text, concat=concat, reference=self._refs.take(message.destination, concat),
            packed=link.packed, encoding=message.encoding, msg_class=message.msg_class,
        )
        if concat != "payload" and len(segments) != message.segments:
            # a 16-bit reference leaves one character less per segment than the
            # 8-bit one the price was computed with: keep the count that was paid
            segments = encode(
                message.text, concat="udh8", reference=self._refs.take(message.destination, "udh8"),
                packed=link.packed, encoding=message.encoding, msg_class=message.msg_class,
            )
        return segments

    async def _submit(self, link: Link, message: Message, index: int, segment: Any) -> Outcome:
        request = SubmitRequest(
            message_id=message.id, index=index, source=message.sender,
            source_kind=message.sender_kind, destination=message.destination, segment=segment,
            msg_class=message.msg_class, validity=_remaining_validity(message, self._clock()),
            priority=message.priority,
        )
        if self._metrics is not None:
            self._metrics.submit_sent(link=link.name)
        started = time.monotonic()
        try:
            outcome = await link.submit(request)
        except Exception as exc:  # noqa: BLE001 - a driver bug must not lose the message
            self._log.error("submit_crashed", link=link.name, msg_id=message.id, error=repr(exc))
            return Retry(reason="internal_error")
        if self._metrics is not None:
            self._metrics.submit_answered(link=link.name, outcome=outcome,
                                          latency=time.monotonic() - started)
        return outcome

    async def _record(self, records: Sequence[OutcomeRecord]) -> None:
        if records:  # one future for the message's records: they share a batch
            await self._outcomes.submit_many(records)

    async def _flush_outcomes(self, records: Sequence[OutcomeRecord]) -> QueueChanges:
        changes = await self._store.record_outcomes(records, now=self._clock())
        self._on_changes(changes)
        return changes

    def _retry_delay(self, attempts: int, outcome: Retry) -> float:
        """Throttling and a lost link are the link's state, not the message's fault:
        try again soon (the router skips that link meanwhile); other transient
        errors back off exponentially with the message's attempts."""
        if outcome.throttled:
            return max(outcome.delay, self._s.retry_base / 2) * (0.5 + self._rng.random() / 2)
        if outcome.reason in _LINK_STATE_REASONS:
            return max(outcome.delay, self._backoff(attempts, cap=self._s.link_retry_max))
        return max(outcome.delay, self._backoff(attempts))

    def _backoff(self, attempts: int, *, cap: float | None = None) -> float:
        limit = self._s.retry_max if cap is None else cap
        delay = min(self._s.retry_base * 2.0 ** min(attempts, 32), limit)
        return delay * (0.5 + self._rng.random() / 2)


def _remaining_validity(message: Message, now: float) -> int | None:
    if message.validity is None:
        return None
    return max(int(message.send_at + message.validity - now), 1)
