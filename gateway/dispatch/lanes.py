"""The dispatcher's lanes: one per link, its messages in send order, streamed into it.

The dispatcher routes a message to a link's :class:`Lane`. The lane sends
its messages one after the other in :class:`~gateway.dispatch.slots.SendOrder`
(a message of a higher priority goes before those of lower ones that came
first): it encodes the message for the link (concatenation mode, packing, a
reference kept unique per destination), takes one slot of the lane's window
per segment (:class:`~gateway.dispatch.slots.WeightedSlots`: given back once
the segment's outcome is durable) and streams the segments into the link as
fast as the link has room (:meth:`gateway.link.interface.Link.send`): no task,
no future per message; the link calls back with each segment's outcome
(:class:`~gateway.dispatch.outcomes.Sending`).

What a message's state means to the dispatcher (held, routed, out on a link)
stays the dispatcher's: a lane asks and tells it through :class:`LaneHost`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from gateway.codec import Segment, encode, raw_segment
from gateway.dispatch.outcomes import OutcomeRecorder, Sending, Unsent
from gateway.dispatch.slots import References, SendOrder, WeightedSlots
from gateway.link.interface import Link, SubmitRequest
from gateway.model.clock import Clock
from gateway.model.errors import CodecError
from gateway.model.message import MessageState, SegmentState
from gateway.model.outcomes import Retry
from gateway.model.raw_body import RawBody
from gateway.model.records import Message, OutcomeRecord
from gateway.ops.metrics import Metrics
from gateway.store.base import Store

INTERNAL_ERROR = Retry(reason="internal_error")


class LaneHost(Protocol):
    """What lanes ask and tell the dispatcher about the messages it holds."""

    @property
    def stopping(self) -> bool: ...

    def sendable(self, message: Message) -> bool:
        """Still ours to send: held, with enough of its lease left."""
        ...

    def let_go(self, message: Message) -> None:
        """A routed message that will not be sent now (its lease comes back to it)."""
        ...

    def unroute(self, messages: list[Message]) -> None:
        """Routed messages given back unsent (the lane stops): back to the queue."""
        ...

    def finish(self, message: Message, state: MessageState, reason: str | None) -> None:
        """End a routed message outside the outcome flow (delivered, rejected...)."""
        ...

    def started(self, sending: Sending) -> None:
        """A message's segments go out on a link."""
        ...

    def backoff(self, attempts: int) -> float:
        """Seconds before a message with ``attempts`` is tried again."""
        ...


class Lane:
    """One link's messages, in send order, and its segments sent and not yet recorded."""

    __slots__ = ("link", "queue", "retired", "slots", "task", "wake")

    def __init__(self, link: Link) -> None:
        self.link = link
        self.slots = WeightedSlots(max(link.health().window, 1))
        self.queue = SendOrder()
        self.wake = asyncio.Event()
        self.retired = False  # the link left the configuration (SIGHUP)
        self.task: asyncio.Task[None] | None = None

    def push(self, message: Message) -> None:
        self.queue.push(message)
        self.wake.set()

    def heads(self, message: Message) -> bool:
        """Whether ``message`` is still the next one to send (not stopped or re-routed)."""
        return not self.retired and bool(self.queue) and self.queue.peek() is message


class Lanes(Mapping[str, Lane]):
    """Every link's lane, and the loop (a named task per lane) that sends its messages."""

    def __init__(
        self,
        *,
        host: LaneHost,
        store: Store,
        outcomes: OutcomeRecorder,
        refs: References,
        clock: Clock,
        metrics: Metrics | None,
        logger: Any,
    ) -> None:
        self._host = host
        self._store = store
        self._outcomes = outcomes
        self._refs = refs
        self._clock = clock
        self._metrics = metrics
        self.log = logger
        self._lanes: dict[str, Lane] = {}
        self._running = False

    def __getitem__(self, name: str) -> Lane:
        return self._lanes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._lanes)

    def __len__(self) -> int:
        return len(self._lanes)

    def set_links(self, links: Mapping[str, Link]) -> None:
        """A lane per link: those whose link left (or changed) retire, new ones start."""
        for name, lane in list(self._lanes.items()):
            if links.get(name) is not lane.link:
                lane.retired = True
                lane.wake.set()
                del self._lanes[name]
        for name, link in links.items():
            if name not in self._lanes:
                lane = Lane(link)
                self._lanes[name] = lane
                if self._running:
                    self._start(lane)

    def start(self) -> None:
        self._running = True
        for lane in self._lanes.values():
            self._start(lane)

    def wake(self) -> None:
        """Every lane looks again (the dispatcher stops)."""
        for lane in self._lanes.values():
            lane.wake.set()

    def cancel(self) -> None:
        for lane in self._lanes.values():
            if lane.task is not None:
                lane.task.cancel()

    def _start(self, lane: Lane) -> None:
        lane.task = asyncio.create_task(self._pump(lane), name=f"lane-{lane.link.name}")

    async def _pump(self, lane: Lane) -> None:
        """Send the lane's messages, in send order, within its window of unrecorded
        segments; the next one is looked at again after every wait (one of a higher
        priority may have come meanwhile)."""
        queue = lane.queue
        host = self._host
        while True:
            if lane.retired or host.stopping:
                self._unroute(lane)
                if lane.retired:
                    return
            if not queue:
                lane.wake.clear()
                await lane.wake.wait()
                continue
            message = queue.peek()
            try:
                await self._send(lane, message)
            except Exception as exc:  # a bug must not stop the lane: retried later
                self.log.error("dispatch_crashed", msg_id=message.id, error=repr(exc), exc_info=exc)
                if queue and queue.peek() is message:
                    queue.pop()
                    self._outcomes.record(
                        Unsent(message),
                        [
                            OutcomeRecord(
                                message_id=message.id,
                                index=0,
                                link="",
                                outcome=INTERNAL_ERROR,
                                retry_at=self._clock() + host.backoff(message.attempts),
                            )
                        ],
                    )

    def _unroute(self, lane: Lane) -> None:
        messages: list[Message] = []
        while lane.queue:
            messages.append(lane.queue.pop())
        self._host.unroute(messages)

    async def _send(self, lane: Lane, message: Message) -> None:
        """The message at the head of the lane: encode, take its slots, send its segments."""
        host = self._host
        queue = lane.queue
        if not host.sendable(message):
            queue.pop()
            host.let_go(message)  # its lease runs out (or ran out): a claim brings it back
            return
        indices = await self._unsent(lane, message)
        if indices is None:
            return
        try:
            segments = self._encode(message, lane.link)
        except CodecError as exc:
            queue.pop()
            host.finish(message, MessageState.REJECTED, f"cannot encode: {exc}")
            return
        payload = lane.link.concat == "payload"
        need = 1 if payload else len(indices)
        slots = lane.slots
        taken = slots.take_now(need) or await slots.acquire(need)
        if host.stopping or not lane.heads(message):
            slots.release(taken)  # stopping or re-routed while waiting: not sent
            return
        queue.pop()
        sending = Sending(
            recorder=self._outcomes,
            link=lane.link.name,
            slots=slots,
            message=message,
            indices=indices,
            taken=taken,
            waiting=need,
        )
        host.started(sending)
        await self._stream(lane, sending, segments, [-1] if payload else indices)

    async def _unsent(self, lane: Lane, message: Message) -> list[int] | None:
        """The indices of the segments to send; None when there is nothing to send
        now (the lane stopped meanwhile, or every segment went before a crash)."""
        if message.attempts == 0:
            # a lease taken back from a crashed worker counts as an attempt (store),
            # so attempts == 0 means no segment of this message was ever sent
            return list(range(message.segments))
        view = await self._store.get_message(message.id)
        if self._host.stopping or not lane.heads(message):
            return None  # the lane stopped meanwhile: the message goes back unsent
        indices = [g.index for g in view.segments if g.state is SegmentState.PENDING]
        if not indices:
            # every segment was accepted before a crash; only the state was not written
            delivered = all(g.state is SegmentState.DELIVERED for g in view.segments)
            lane.queue.pop()
            state = MessageState.DELIVERED if delivered else MessageState.SUBMITTED
            self._host.finish(message, state, None)
            return None
        return indices

    async def _stream(
        self, lane: Lane, sending: Sending, segments: list[Segment], targets: list[int]
    ) -> None:
        """Hand the segments to the link as it has room (target -1: the one PDU of
        every segment, payload mode)."""
        message = sending.message
        link = lane.link
        metrics = self._metrics
        validity = _remaining_validity(message, self._clock())
        sent = 0
        try:
            for i in targets:
                if link.room() <= 0:
                    await link.wait_room()
                if metrics is not None:
                    metrics.submit_sent(link=link.name)
                link.send(
                    SubmitRequest(
                        message_id=message.id,
                        index=max(i, 0),
                        source=message.sender,
                        source_kind=message.sender_kind,
                        destination=message.destination,
                        segment=segments[max(i, 0)],
                        msg_class=message.msg_class,
                        validity=validity,
                        priority=message.priority,
                    ),
                    functools.partial(sending.answered, i),
                )
                sent += 1
        except BaseException:
            # segments never handed to the link (a bug, or the lane cancelled): their
            # outcome is an internal error, so the slots, the message and its record
            # go the usual way instead of holding the window for good
            for i in targets[sent:]:
                sending.answered(i, INTERNAL_ERROR)
            raise

    def _encode(self, message: Message, link: Link) -> list[Segment]:
        if message.raw is not None:  # one segment an ESME cut: its header as given
            return [raw_segment(RawBody.unpack(message.raw), packed=link.packed)]
        concat = link.concat
        segments = encode(
            message.text,
            concat=concat,
            reference=self._refs.take(message.destination, concat),
            packed=link.packed,
            encoding=message.encoding,
            msg_class=message.msg_class,
        )
        if concat != "payload" and len(segments) != message.segments:
            # a 16-bit reference leaves one character less per segment than the
            # 8-bit one the price was computed with: keep the count that was paid
            segments = encode(
                message.text,
                concat="udh8",
                reference=self._refs.take(message.destination, "udh8"),
                packed=link.packed,
                encoding=message.encoding,
                msg_class=message.msg_class,
            )
        return segments


def _remaining_validity(message: Message, now: float) -> int | None:
    if message.validity is None:
        return None
    return max(int(message.send_at + message.validity - now), 1)
