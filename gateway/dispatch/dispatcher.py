"""The dispatcher: leased messages in, segments out through the links, outcomes recorded.

Messages reach the dispatcher leased to it (``worker``, its name), two ways:

- handed over by ingest (:meth:`Dispatcher.take`): HTTP and MQTT sends due
  now are stored leased to this dispatcher (``Store.enqueue(lease=...)``)
  and go straight to it, with no claim;
- claimed from the store (``claim_due``: priority, then age) while its queue
  runs short: retries whose back-off ended, scheduled messages, sends made
  by ``smsgw send``, leases taken back after a crash.

They wait in one queue (priority, then age). The feeder takes them from it
while fewer than ``max_in_flight`` are routed, ends what is past its
validity (``expired``, refunded) or too old (``failed``), routes each one
(longest prefix, weights, failover past links that are down or throttling)
and puts it in its link's lane (:mod:`gateway.dispatch.lanes`), which
encodes it for the link and streams its segments into the link.

A segment's slot in its lane is given back once its outcome is durable
(:mod:`gateway.dispatch.outcomes`): at most one window of a link's segments is ever
accepted by the SMSC and not yet recorded, which bounds what a crash can
make us send twice (docs/architecture.md, data rules). Accepted segments are made durable first
in the acceptance journal (:mod:`gateway.dispatch.journal`: a file append and
fdatasync, about a millisecond), so the window moves on without waiting for
the store's write lock; refused and retried ones hold no slot once answered
(sending them again is no duplicate). One writer group-commits every outcome
to the store, which derives each message's state from its segments and
refunds what was never accepted. Without a journal, slots wait for that
commit.

Retries (:mod:`gateway.dispatch.retries`): a transient outcome sends the
message back to the queue with a back-off; a message that keeps failing ends
``failed`` once it is ``max_age`` old (its validity, when shorter, ends it
``expired`` first). When a link comes back (bound again), the messages
waiting out a retry for want of a link become due at once
(``Store.wake_waiting``) and are claimed in priority order.

Holding ``max_in_flight + batch`` messages, the dispatcher stops
:attr:`~Dispatcher.accepting` handovers: ingest stores what comes next
queued, claimed once there is room. A message is sent only while its lease
has ``lease_margin`` seconds left (or a quarter of the lease); one held in
memory longer (an overload) is let go and comes back through a claim once
its lease ends.

This module is past ~400 lines on purpose: it is one state (the messages
held, routed and out on a link) and every transition of it; what does not
share that state is in lanes, retries, slots and outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.dispatch.journal import AcceptJournal
from gateway.dispatch.lanes import Lane, Lanes
from gateway.dispatch.outcomes import Finished, OutcomeRecorder, RecordFn, Sending, Unsent
from gateway.dispatch.retries import WAITING_FOR_A_LINK, RetryPolicy
from gateway.dispatch.router import Router
from gateway.dispatch.slots import References, SendOrder
from gateway.link.interface import Link, LinkHealth, Receipt, ReceiptDone
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.errors import StoreError
from gateway.model.message import MessageState
from gateway.model.outcomes import Retry
from gateway.model.records import Message, OutcomeRecord, QueueChanges
from gateway.ops.metrics import Metrics
from gateway.ops.retrying import Outage
from gateway.store.base import Store

ChangesSink = Callable[[QueueChanges], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchSettings:
    worker: str  # unique per daemon: leases name it
    batch: int = 500  # messages per claim
    lease: float = 300.0  # seconds a claim holds; longer than any submit can take
    # a message is sent only while its lease has this much left (a quarter of
    # the lease at most)
    lease_margin: float = 30.0
    max_in_flight: int = 5000  # messages routed to links at once
    idle_poll: float = 0.2  # seconds between claims when nothing is due
    retry_base: float = 2.0
    retry_max: float = 300.0
    link_retry_max: float = 30.0  # back-off cap while no link can take the message
    max_age: float = 86_400.0  # a message not submitted within a day fails
    references: int = 100_000  # destinations whose concatenation reference is remembered


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
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        journal: AcceptJournal | None = None,
        record: RecordFn | None = None,
    ) -> None:
        self._store = store
        self._router = router
        self._s = settings
        self._margin = min(settings.lease_margin, settings.lease / 4)
        self._on_changes = on_changes
        self.log = logger.bind(component="dispatcher")
        self._clock = clock
        self._rng = rng or random.Random()
        self._retries = RetryPolicy(
            base=settings.retry_base,
            cap=settings.retry_max,
            link_cap=settings.link_retry_max,
            rng=self._rng,
        )
        self.metrics = metrics
        self._links: dict[str, Link] = {}
        # leased to us: id -> the copy we hold (waiting, routed, sent, being recorded)
        self._held: dict[str, Message] = {}
        self._queue = SendOrder()
        self._bound: frozenset[str] = frozenset()  # links bound when last looked at
        self._routed = 0  # held messages in a lane or out on a link
        self._sending: dict[str, Sending] = {}  # message id -> out on a link
        self._outcomes = OutcomeRecorder(
            store=store,
            journal=journal,
            on_changes=on_changes,
            on_recorded=self._recorded,
            retry_at=self._retries.delay,
            clock=clock,
            logger=self.log,
            metrics=metrics,
            record=record,
        )
        self._wake = asyncio.Event()  # the feeder: work came, or room did
        self._idle = asyncio.Event()  # nothing out on a link
        self._idle.set()
        self._claim_now = True  # claim at once, not at the next poll
        self._claims = Outage("claims", self.log)  # the store away: claims pause
        self._next_claim = 0.0
        self._stopping = False
        self._accepting = True
        # told when accepting changes (the daemon tells its worker processes)
        self.on_accepting: Callable[[bool], object] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._side: set[asyncio.Task[Any]] = set()  # finishes, releases, reads
        self._health: dict[str, LinkHealth] = {}
        self._health_at = 0.0
        self._lanes = Lanes(
            host=self,
            store=store,
            outcomes=self._outcomes,
            refs=References(size=settings.references, rng=self._rng),
            clock=clock,
            metrics=metrics,
            logger=self.log,
        )
        self._set_links(links)

    # --- control ------------------------------------------------------------------

    @property
    def held(self) -> int:
        """Messages leased to this dispatcher that it holds (waiting, routed or out)."""
        return len(self._held)

    @property
    def accepting(self) -> bool:
        """Whether ingest should hand messages over (else store them queued, to be
        claimed later): False from ``max_in_flight + batch`` held, True again below
        ``max_in_flight``."""
        return self._accepting

    def record_receipt(self, receipt: Receipt, done: ReceiptDone) -> None:
        """A link's delivery receipt: committed with the next round of outcomes."""
        self._outcomes.receipt(receipt, done)

    def take(self, messages: Iterable[Message]) -> None:
        """Messages stored leased to this dispatcher (``Store.enqueue(lease=...)``).

        Beyond twice what it holds while accepting (ingest has not heard yet that
        it stopped), they are given back to the queue."""
        cap = 2 * (self._s.max_in_flight + self._s.batch)
        extra: list[str] = []
        for m in messages:
            if m.lease_owner != self._s.worker or m.state is not MessageState.DISPATCHING:
                continue
            if len(self._held) >= cap or self._stopping:
                extra.append(m.id)  # the queue takes it back; a claim brings it later
            elif m.id not in self._held:
                self._hold(m)
        if extra:
            self._side_task(self._release(extra), "dispatch-release")
        self._check_accepting()
        self._wake.set()

    def _check_accepting(self) -> None:
        held = len(self._held)
        if self._accepting and held >= self._s.max_in_flight + self._s.batch:
            self._accepting = False
        elif not self._accepting and held < self._s.max_in_flight:
            self._accepting = True
        else:
            return
        if self.on_accepting is not None:
            self.on_accepting(self._accepting)

    def replace(self, *, router: Router, links: Mapping[str, Link]) -> None:
        """New routes and links (SIGHUP); messages out on a link finish there."""
        self._router = router
        self._set_links(links)
        self._health_at = 0.0
        self._wake.set()

    async def adopt(self) -> int:
        """Take the messages leased to us that nobody hands over (a worker process
        that stored them died before telling): how many."""
        ids = [i for i in await self._store.leased_to(self._s.worker) if i not in self._held]
        if ids:
            self.take(await self._store.get_messages(ids))
        return len(ids)

    async def run(self) -> None:
        """Claim, feed the lanes and record outcomes until :meth:`stop`."""
        self._writer = asyncio.create_task(self._outcomes.run(), name="outcome-writer")
        self._lanes.start()
        while not self._stopping:
            self._wake.clear()
            self._feed()
            self._watch_links()
            now = self._clock.monotonic()
            room = self._s.max_in_flight - len(self._held)
            want = room > 0 and len(self._queue) < self._s.batch
            if want and (self._claim_now or now >= self._next_claim):
                try:
                    await self._claim(room)
                except StoreError as exc:  # the store away: claim again after a pause
                    self._claim_now = False
                    self._next_claim = self._clock.monotonic() + self._claims.failed(exc)
                else:
                    self._claims.worked()
                continue
            # a claim is due at the next poll; else the queue or in-flight count must
            # shrink first, and whatever shrinks them sets _wake
            timeout = self._next_claim - now if want else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def stop(self, *, timeout: float) -> int:
        """Stop claiming and starting messages; wait (bounded) for those out on a link.

        Returns how many are left. The writer stays open: they still get
        answers (or ``link_down`` once the links stop) and :meth:`close`
        records them.
        """
        self._stopping = True
        self._wake.set()
        self._lanes.wake()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        return len(self._sending)

    async def close(self, *, timeout: float) -> None:
        """After the links stopped: record what the messages out ended with, give the
        queue back what was never sent, then close."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        self._outcomes.close()
        if self._writer is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._writer)
            self._writer.cancel()
        self._lanes.cancel()
        unsent = [i for i in self._held if i not in self._sending]
        if unsent:
            await self._release(unsent)
        if self._side:
            await asyncio.wait(set(self._side), timeout=timeout)

    # --- the queue ------------------------------------------------------------------

    def _hold(self, message: Message) -> None:
        self._held[message.id] = message
        self._queue.push(message)

    def _watch_links(self) -> None:
        """A link bound again (or for the first time): what waits for a link is due now."""
        health = self._link_health(self._clock())
        bound = frozenset(name for name, h in health.items() if h.bound)
        returned = bound - self._bound
        self._bound = bound
        if returned and not self._stopping:
            self._side_task(self._wake_waiting(sorted(returned)), "dispatch-wake")

    async def _wake_waiting(self, links: list[str]) -> None:
        woken = await self._store.wake_waiting(
            reasons=WAITING_FOR_A_LINK, now=self._clock(), within=self._s.retry_max
        )
        if woken:
            self.log.info("waiting_messages_woken", links=links, messages=woken)
            self._claim_now = True
            self._wake.set()

    def _let_go(self, message: Message) -> None:
        """No longer ours to send (finished, recorded, given back, lease too short)."""
        if self._held.get(message.id) is message:
            del self._held[message.id]
            if not self._accepting:
                self._check_accepting()
            self._wake.set()  # room for claims and the feeder

    async def _claim(self, room: int) -> None:
        limit = min(self._s.batch, room)
        claimed = await self._store.claim_due(
            self._s.worker,
            now=self._clock(),
            limit=limit,
            lease_seconds=self._s.lease,
        )
        for message in claimed:
            if message.id not in self._sending:  # out on a link: its answer is on the way
                self._hold(message)  # a copy still held lost its lease: this one replaces it
        self._claim_now = len(claimed) == limit
        if not self._claim_now:
            self._next_claim = self._clock.monotonic() + self._s.idle_poll

    async def _release(self, ids: list[str]) -> None:
        for i in ids:
            message = self._held.get(i)
            if message is not None:
                self._let_go(message)
        released = await self._store.release(self._s.worker, ids)
        if released:
            self.log.info("leases_given_back", messages=released)

    def _feed(self) -> None:
        """Route waiting messages to their lanes while fewer than max_in_flight are."""
        queue = self._queue
        if not queue or self._stopping:
            return
        now = self._clock()
        health = self._link_health(now)
        held = self._held
        while queue and self._routed < self._s.max_in_flight:
            message = queue.pop()
            if held.get(message.id) is not message:
                continue  # replaced by a newer copy (claimed again after its lease ran out)
            if message.validity is not None and now >= message.send_at + message.validity:
                self._finish(message, MessageState.EXPIRED, "validity passed before sending")
                continue
            if now - message.created_at > self._s.max_age:
                self._finish(
                    message,
                    MessageState.FAILED,
                    f"not sent after {message.attempts} attempts: {message.error}",
                )
                continue
            candidates = self._router.candidates(message.destination, health)
            if not candidates:
                reason = (
                    "no_link_bound" if self._router.has_route(message.destination) else "no_route"
                )
                retry = Retry(reason=reason)
                self._routed += 1
                self._outcomes.record(
                    Unsent(message),
                    [
                        OutcomeRecord(
                            message_id=message.id,
                            index=0,
                            link="",
                            outcome=retry,
                            retry_at=now + self._retries.delay(message.attempts, retry),
                        )
                    ],
                )
                continue
            self._routed += 1
            self._lanes[candidates[0]].push(message)

    def _set_links(self, links: Mapping[str, Link]) -> None:
        self._links = dict(links)
        self._lanes.set_links(self._links)

    # --- what the lanes ask and tell (LaneHost) --------------------------------------

    @property
    def lanes(self) -> Mapping[str, Lane]:
        return self._lanes

    @property
    def stopping(self) -> bool:
        return self._stopping

    def sendable(self, message: Message) -> bool:
        lease_until = message.lease_until
        return self._held.get(message.id) is message and (
            lease_until is None or lease_until - self._clock() >= self._margin
        )

    def let_go(self, message: Message) -> None:
        self._routed -= 1
        self._let_go(message)

    def unroute(self, messages: list[Message]) -> None:
        for message in messages:
            self._routed -= 1
            if self._held.get(message.id) is message and not self._stopping:
                self._queue.push(message)
        self._wake.set()

    def finish(self, message: Message, state: MessageState, reason: str | None) -> None:
        self._finish(message, state, reason, routed=True)

    def started(self, sending: Sending) -> None:
        self._sending[sending.message.id] = sending
        self._idle.clear()

    def backoff(self, attempts: int) -> float:
        return self._retries.backoff(attempts)

    def _link_health(self, now: float) -> dict[str, LinkHealth]:
        if now - self._health_at > 0.1:
            self._health = {name: link.health() for name, link in self._links.items()}
            self._health_at = now
        return self._health

    # --- finishing ---------------------------------------------------------------------

    def _recorded(self, done: Finished) -> None:
        """A message's outcomes are committed: it is no longer ours to hold."""
        self._routed -= 1
        self._let_go(done.message)
        if isinstance(done, Sending):
            if self._sending.get(done.message.id) is done:
                del self._sending[done.message.id]
            if not self._sending:
                self._idle.set()
        self._wake.set()

    def _finish(
        self, message: Message, state: MessageState, reason: str | None, *, routed: bool = False
    ) -> None:
        """End a message outside the outcome flow (expired, failed, rejected...)."""

        async def finish() -> None:
            try:
                self._on_changes(await self._store.finish(message.id, state, reason=reason))
            finally:
                if routed:
                    self._routed -= 1
                self._let_go(message)
                self._wake.set()

        self._side_task(finish(), "dispatch-finish")

    def _side_task(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._side.add(task)
        task.add_done_callback(self._side_done)

    def _side_done(self, task: asyncio.Task[Any]) -> None:
        self._side.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # not recorded (store down): the lease brings the message back
            self.log.error("dispatch_unrecorded", error=repr(exc), exc_info=exc)
