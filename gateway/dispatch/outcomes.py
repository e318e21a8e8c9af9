"""Outcomes of the dispatcher's segments: durable first, recorded after.

A :class:`Sending` is one message out on a link: it collects its segments'
outcomes as the link calls back. Once all are in, the
:class:`OutcomeRecorder` takes its records:

- accepted segments go to the acceptance journal (:mod:`gateway.dispatch.journal`);
  their slots in the lane are given back once it reports them durable, so
  at most one window of a link's accepted segments is ever not yet durable
  (docs/architecture.md, data rules). Refused and retried ones free their slots at once: sending
  them again is no duplicate. Without a journal, slots wait for the store;
- every record goes to the store, group-committed by one writer; once
  committed the message is finished with (``on_recorded``) and the journal
  may forget it.

The same writer records the links' delivery receipts (:meth:`OutcomeRecorder.receipt`;
its ``done`` callback tells the link when to acknowledge one, or refuse it if the
store failed or the daemon stopped first): outcomes and receipts of a round
go in one ``Store.record`` call, so a receipt that comes right after its
submit_sm_resp is applied with it, in one change of the message. A receipt
naming no message the store knows is counted as unmatched, not by its state
(``smsgw_receipts_unmatched_total``; ``receipts_unmatched`` logged at most every
:data:`SUMMARY_EVERY` seconds), and so are the kept ones dropped for want of room
(``receipts_dropped``).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from gateway.dispatch.journal import AcceptJournal
from gateway.dispatch.slots import WeightedSlots
from gateway.link.interface import Receipt, ReceiptDone
from gateway.model.clock import Clock
from gateway.model.errors import StoreError
from gateway.model.outcomes import Accepted, Outcome, Retry
from gateway.model.records import Message, OutcomeRecord, QueueChanges
from gateway.ops.metrics import Metrics
from gateway.store.base import Store

RECORD_RETRY_MIN = 0.1  # seconds before the first new attempt to record outcomes
RECORD_RETRY_MAX = 5.0  # seconds between attempts to record outcomes while the store fails
SUMMARY_EVERY = 10.0  # seconds between two log lines about unmatched or dropped receipts
RetryAt = Callable[[int, Retry], float]  # (attempts, outcome) -> when the message is due again


def record_retry_delay(failures: int) -> float:
    """Seconds before trying again to record outcomes after ``failures`` in a row
    (the exponent capped: a store down for days does not overflow it)."""
    return min(RECORD_RETRY_MIN * 2.0 ** min(failures, 16), RECORD_RETRY_MAX)


class RecordFn(Protocol):
    """Writes a round (``Store.record``, or worker 0 doing it: gateway.runtime.worker_pool)."""

    def __call__(
        self, outcomes: Sequence[OutcomeRecord], receipts: Sequence[Receipt], *, now: float
    ) -> Awaitable[QueueChanges]: ...


class Finished(Protocol):
    """What a recording finishes with: a message, sent on a lane or not."""

    message: Message


class Sending:
    """One message whose segments are out on a link: their outcomes as they come."""

    __slots__ = (
        "accepted",
        "indices",
        "journal_file",
        "link",
        "message",
        "outcomes",
        "recorder",
        "slots",
        "started",
        "taken",
        "waiting",
    )

    def __init__(
        self,
        *,
        recorder: OutcomeRecorder,
        link: str,
        slots: WeightedSlots,
        message: Message,
        indices: list[int],
        taken: int,
        waiting: int,
    ) -> None:
        self.recorder = recorder
        self.link = link
        self.slots = slots  # the lane's: ``taken`` of them are this message's
        self.message = message
        self.indices = indices
        self.taken = taken
        self.waiting = waiting  # answers still to come
        self.outcomes: dict[int, Outcome] = {}
        self.started = recorder.clock.monotonic()
        self.accepted = 0  # records journaled
        self.journal_file = -1  # the journal file they went to (-1: none)

    def answered(self, index: int, outcome: Outcome) -> None:
        """A segment's outcome (index -1: the one PDU of every segment, payload mode).

        Called from the link's callbacks: it never raises."""
        recorder = self.recorder
        try:
            if recorder.metrics is not None:
                latency = recorder.clock.monotonic() - self.started
                recorder.metrics.submit_answered(link=self.link, outcome=outcome, latency=latency)
            if index < 0:
                self.outcomes = dict.fromkeys(self.indices, outcome)
            else:
                self.outcomes[index] = outcome
            self.waiting -= 1
            if self.waiting == 0:
                recorder.answered(self)
        except Exception as exc:  # a bug here must not break the link's read loop
            recorder.log.error(
                "dispatch_crashed", msg_id=self.message.id, error=repr(exc), exc_info=exc
            )

    def free_slots(self) -> None:
        if self.taken:
            self.slots.release(self.taken)
            self.taken = 0


class Unsent:
    """Records of a message that went to no link (no route, an internal error)."""

    __slots__ = ("message",)

    def __init__(self, message: Message) -> None:
        self.message = message


class Summary:
    """Counts logged at most once every ``every`` seconds: the first at once, then what
    came since the last line (the metrics count each one)."""

    __slots__ = ("_counts", "_every", "_last")

    def __init__(self, every: float = SUMMARY_EVERY) -> None:
        self._counts: collections.Counter[str] = collections.Counter()
        self._every = every
        self._last = -math.inf

    def add(self, keys: Iterable[str], now: float) -> dict[str, int] | None:
        """Count ``keys``; the counts to log now, or None (too soon, or nothing)."""
        self._counts.update(keys)
        if not self._counts or now - self._last < self._every:
            return None
        counts = dict(self._counts)
        self._counts.clear()
        self._last = now
        return counts


class OutcomeRecorder:
    def __init__(
        self,
        *,
        store: Store,
        journal: AcceptJournal | None,
        on_changes: Callable[[QueueChanges], None],
        on_recorded: Callable[[Finished], None],
        retry_at: RetryAt,
        clock: Clock,
        logger: Any,
        metrics: Metrics | None,
        record: RecordFn | None = None,
    ) -> None:
        self._record = record or store.record
        self._journal = journal
        self._on_changes = on_changes
        self._on_recorded = on_recorded
        self._retry_at = retry_at
        self.clock = clock
        self.log = logger
        self.metrics = metrics
        self._records: list[OutcomeRecord] = []  # answered, to be recorded
        self._after: list[Finished] = []  # what the next recording finishes
        self._journaling: list[OutcomeRecord] = []  # accepted, to be journaled
        self._journaled: list[Sending] = []  # whose slots the next journal write frees
        self._journal_due = False
        self._receipts: list[Receipt] = []
        self._receipts_stored: list[ReceiptDone] = []
        self._round: list[ReceiptDone] = []  # of the receipts being recorded
        self._wake = asyncio.Event()
        self._closing = False
        self._unmatched = Summary()  # receipts kept unmatched, by link
        self._dropped = Summary()  # kept receipts dropped for want of room, by link

    def answered(self, sending: Sending) -> None:
        """Every segment of a message answered: records to the store, accepted ones to
        the journal too; its slots free once nothing it holds can be sent twice."""
        now = self.clock()
        message = sending.message
        attempts = message.attempts
        records = [
            OutcomeRecord(
                message_id=message.id,
                index=i,
                link=sending.link,
                outcome=o,
                retry_at=self._retry_at(attempts, o) + now if isinstance(o, Retry) else None,
            )
            for i, o in sending.outcomes.items()
        ]
        accepted = [r for r in records if isinstance(r.outcome, Accepted)]
        if not accepted:  # nothing the SMSC could deliver twice: no slot to hold
            sending.free_slots()
        elif self._journal is not None:
            sending.accepted = len(accepted)
            self._journaling.extend(accepted)
            self._journaled.append(sending)
            if not self._journal_due:
                self._journal_due = True
                asyncio.get_running_loop().call_soon(self._journal_flush)
        self.record(sending, records)

    def record(self, finished: Finished, records: list[OutcomeRecord]) -> None:
        self._records.extend(records)
        self._after.append(finished)
        self._wake.set()

    def receipt(self, receipt: Receipt, done: ReceiptDone) -> None:
        """Record a delivery receipt with the next round; ``done(None)`` once it is
        committed, ``done(error)`` if not (the link refuses it, the SMSC sends it
        again)."""
        self._receipts.append(receipt)
        self._receipts_stored.append(done)
        self._wake.set()

    def _journal_flush(self) -> None:
        """Journal what was answered this loop turn, in one append."""
        self._journal_due = False
        journal = self._journal
        if journal is None or not self._journaling:
            return
        records, sendings = self._journaling, self._journaled
        self._journaling, self._journaled = [], []
        file, durable = journal.append(records)
        for sending in sendings:
            sending.journal_file = file
        durable.add_done_callback(functools.partial(self._journal_written, sendings))

    def _journal_written(self, sendings: list[Sending], durable: asyncio.Future[None]) -> None:
        if durable.cancelled() or durable.exception() is not None:
            # not durable: their slots wait for the store's commit instead
            self.log.error(
                "journal_unwritten",
                messages=len(sendings),
                error=repr(None if durable.cancelled() else durable.exception()),
            )
            for sending in sendings:
                sending.journal_file = -1
            return
        for sending in sendings:
            sending.free_slots()

    async def run(self) -> None:
        """Group-commit the answered outcomes until :meth:`close`.

        Receipts still waiting when it ends (closed, or cancelled at the stop's
        deadline) are refused: the SMSC delivers them again."""
        try:
            await self._run()
        finally:
            dones = self._round + self._receipts_stored
            self._round, self._receipts, self._receipts_stored = [], [], []
            self._receipts_done(dones, StoreError("stopping: receipt not recorded"))

    async def _run(self) -> None:
        failures = 0
        while True:
            if not self._records and not self._receipts:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            records, after = self._records, self._after
            receipts, self._round = self._receipts, self._receipts_stored
            self._records, self._after = [], []
            self._receipts, self._receipts_stored = [], []
            try:
                changes = await self._record(records, receipts, now=self.clock())
            except Exception as exc:  # noqa: BLE001 - outcomes kept and tried again
                if not self._unrecorded(records, after, receipts, exc):
                    continue
                if self._closing:
                    return  # the leases bring them back after a restart
                failures += 1
                await asyncio.sleep(record_retry_delay(failures))
                continue
            failures = 0
            self._recorded_round(after, receipts, changes)

    def _unrecorded(
        self,
        records: list[OutcomeRecord],
        after: list[Finished],
        receipts: list[Receipt],
        exc: Exception,
    ) -> bool:
        """A round the store refused: its receipts refused (the SMSC sends them
        again), its outcomes kept for the next one; whether there were outcomes."""
        if receipts:
            self.log.warning("receipts_unrecorded", receipts=len(receipts), error=repr(exc))
        self._answer_round(exc)
        if not records:
            return False
        self.log.error("outcomes_unrecorded", messages=len(after), error=repr(exc))
        self._records[:0], self._after[:0] = records, after
        return True

    def _recorded_round(
        self, after: list[Finished], receipts: list[Receipt], changes: QueueChanges
    ) -> None:
        self._answer_round(None)
        for done in after:
            self._finished(done)
        try:
            if receipts or changes.matched_late or changes.dropped:
                self._count_receipts(receipts, changes)
            self._on_changes(changes)
        except Exception as exc:  # events and metrics must not stop sending
            self.log.error("changes_unreported", error=repr(exc), exc_info=exc)

    def _count_receipts(self, receipts: Sequence[Receipt], changes: QueueChanges) -> None:
        if self.metrics is not None:
            self.metrics.receipts_recorded(receipts, changes)
        now = self.clock()
        kept = self._unmatched.add((link for link, _ in changes.unmatched), now)
        if kept is not None:
            self.log.info(
                "receipts_unmatched",
                links=kept,
                kept=sum(kept.values()),
                matched_late=len(changes.matched_late),
            )
        dropped = self._dropped.add((link for link, _ in changes.dropped), now)
        if dropped is not None:
            self.log.warning(
                "receipts_dropped", links=dropped, dropped=sum(dropped.values()), reason="overflow"
            )

    def _answer_round(self, error: BaseException | None) -> None:
        dones, self._round = self._round, []
        self._receipts_done(dones, error)

    def _finished(self, done: Finished) -> None:
        """One message's records are committed: its slots, journal records, holder."""
        try:
            if isinstance(done, Sending):
                done.free_slots()
                if done.journal_file >= 0 and self._journal is not None:
                    self._journal.stored(done.journal_file, done.accepted)
            self._on_recorded(done)
        except Exception as exc:  # a bug must not stop the recording of the others
            self.log.error(
                "dispatch_crashed", msg_id=done.message.id, error=repr(exc), exc_info=exc
            )

    def _receipts_done(self, dones: list[ReceiptDone], error: BaseException | None) -> None:
        for done in dones:
            try:
                done(error)
            except Exception as exc:  # a link's bug must not stop the recording
                self.log.error("receipt_unacknowledged", error=repr(exc), exc_info=exc)

    def close(self) -> None:
        """Record what is queued, then let :meth:`run` return."""
        self._closing = True
        self._wake.set()
