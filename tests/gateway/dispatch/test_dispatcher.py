"""The dispatcher against the real SQLite store and scripted links: handover, claims,
the unrecorded window, the journal, retries, expiry, leases, stop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import structlog
from prometheus_client import CollectorRegistry

from gateway.codec import analyze, raw_segment
from gateway.codec.alphabet import to_septets
from gateway.dispatch.dispatcher import Dispatcher, DispatchSettings
from gateway.dispatch.journal import AcceptJournal
from gateway.dispatch.router import Route, Router
from gateway.link.interface import LinkHealth, OutcomeCallback, Receipt, SubmitRequest
from gateway.link.submit_tasks import SubmitTasks
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.errors import StoreError
from gateway.model.message import MessageState, SenderKind
from gateway.model.outcomes import Accepted, Outcome, ReceiptState, Rejected, Retry
from gateway.model.raw_body import RawBody
from gateway.model.records import Lease, Message, NewMessage, OutcomeRecord, QueueChanges
from gateway.ops.metrics import Metrics
from gateway.store.sqlite.store import SqliteStore
from tests.clock import AheadClock
from tests.gateway.store.support import make_account, open_sqlite
from tests.waiting import eventually

LINK_DOWN = Retry(reason="link_down")
WORKER = "gw-test"
LONG = "x" * 400  # three segments of 153 GSM characters


class ScriptedLink:
    """A streaming link whose answers the test decides (at once, or when released)."""

    def __init__(
        self,
        name: str = "op-a",
        *,
        window: int = 4,
        concat: str = "udh8",
        answer: Callable[[SubmitRequest], Outcome] | None = None,
        hold: bool = False,
    ) -> None:
        self.name = name
        self.concat = concat
        self.packed = False
        self.window = window
        self.bound = True
        self.throttled = False
        self.hold = hold  # answers wait for release()
        self._answer = answer or (lambda r: Accepted(smsc_id=f"{r.message_id}/{r.index}"))
        self.sent: list[SubmitRequest] = []
        self.pending: list[tuple[SubmitRequest, OutcomeCallback]] = []
        self._room: asyncio.Event = asyncio.Event()
        self._ids = itertools.count()

    def health(self) -> LinkHealth:
        return LinkHealth(
            name=self.name,
            driver="scripted",
            up=self.bound,
            bound=self.bound,
            in_flight=len(self.pending),
            window=self.window,
            throttled=self.throttled,
        )

    def room(self) -> int:
        return self.window - len(self.pending) if self.bound else self.window

    async def wait_room(self) -> None:
        while self.bound and len(self.pending) >= self.window:
            self._room.clear()
            await self._room.wait()

    def send(self, request: SubmitRequest, done: OutcomeCallback) -> None:
        if not self.bound:
            done(LINK_DOWN)
            return
        self.sent.append(request)
        if self.hold:
            self.pending.append((request, done))
        else:
            asyncio.get_running_loop().call_soon(done, self._answer(request))

    def release(self, count: int | None = None) -> None:
        """Answer the held submits (``count`` of them, oldest first)."""
        take = self.pending[: len(self.pending) if count is None else count]
        del self.pending[: len(take)]
        for request, done in take:
            done(self._answer(request))
        self._room.set()

    def drop(self) -> None:
        """The connection is lost: every held submit answers link_down."""
        self.bound = False
        pending, self.pending = self.pending, []
        for _, done in pending:
            done(LINK_DOWN)
        self._room.set()

    async def run(self) -> None:
        return None

    async def stop(self, *, timeout: float = 10.0) -> None:
        self.drop()


class TaskLink:
    """A link that sends by awaiting, one task per segment (like a modem)."""

    def __init__(self, name: str = "op-a", *, window: int = 2) -> None:
        self.name = name
        self.concat = "udh8"
        self.packed = False
        self.window = window
        self.sent: list[SubmitRequest] = []
        self.most = 0  # submits awaiting their answer at once, at most
        self._waiting = 0
        self._sends = SubmitTasks(self._send_one, window=window, logger=structlog.get_logger())

    def health(self) -> LinkHealth:
        return LinkHealth(name=self.name, driver="tasks", up=True, bound=True, window=self.window)

    def room(self) -> int:
        return self._sends.room()

    async def wait_room(self) -> None:
        await self._sends.wait_room()

    def send(self, request: SubmitRequest, done: OutcomeCallback) -> None:
        self._sends.send(request, done)

    async def _send_one(self, request: SubmitRequest) -> Outcome:
        self.sent.append(request)
        self._waiting += 1
        self.most = max(self.most, self._waiting)
        await asyncio.sleep(0)
        self._waiting -= 1
        return Accepted(smsc_id=f"{request.message_id}/{request.index}")

    async def run(self) -> None:
        return None

    async def stop(self, *, timeout: float = 10.0) -> None:
        return None


class CountingStore:
    """The real store; outcome recording can be held back; claims are counted."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.recording = asyncio.Event()
        self.recording.set()
        self.claimed: list[str] = []
        self.recorded = 0
        self.failing: Exception | None = None  # record() raises it while set

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def record(
        self, outcomes: Sequence[OutcomeRecord], receipts: Sequence[Receipt], *, now: float
    ) -> QueueChanges:
        await self.recording.wait()
        if self.failing is not None:
            raise self.failing
        changes = await self.store.record(outcomes, receipts, now=now)
        self.recorded += len(outcomes)
        return changes

    async def claim_due(
        self,
        worker: str,
        *,
        now: float,
        limit: int,
        lease_seconds: float,
    ) -> list[Message]:
        claimed = await self.store.claim_due(
            worker, now=now, limit=limit, lease_seconds=lease_seconds
        )
        self.claimed += [m.id for m in claimed]
        return claimed


@dataclasses.dataclass
class Rig:
    store: CountingStore
    dispatcher: Dispatcher
    links: dict[str, ScriptedLink | TaskLink]
    changes: list[QueueChanges]

    async def enqueue(
        self, count: int = 1, *, lease: bool = True, text: str = "hello", **kw: Any
    ) -> list[Message]:
        info = analyze(text)
        if kw.get("raw") is not None:  # one segment an ESME cut
            info = info._replace(segments=1)
        batch = [
            NewMessage(
                account="acme",
                sender="ACME",
                sender_kind=SenderKind.ALPHA,
                destination=f"+3361234{i:04d}",
                text=text,
                encoding=info.encoding,
                segments=info.segments,
                price=1,
                **kw,
            )
            for i in range(count)
        ]
        result = await self.store.enqueue(
            batch, lease=Lease(worker=WORKER, seconds=300) if lease else None
        )
        messages = [r.message for r in result.results if hasattr(r, "message")]
        if lease:
            self.dispatcher.take(messages)
        return messages

    async def states(self, messages: Sequence[Message]) -> list[MessageState]:
        return [(await self.store.get_message(m.id)).message.state for m in messages]

    async def all_in(self, messages: Sequence[Message], state: MessageState) -> None:
        async def check() -> bool:
            return set(await self.states(messages)) == {state}

        await eventually(check, timeout=10, what=f"every message {state.value}")


async def _turns(count: int = 50) -> None:
    """Let the event loop run other tasks ``count`` times (no timed wait)."""
    for _ in range(count):
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def rig(
    tmp_path: Path,
    *links: ScriptedLink | TaskLink,
    journal: bool = True,
    clock: Clock = SYSTEM_CLOCK,
    routes: Sequence[Route] | None = None,
    metrics: Metrics | None = None,
    **settings: Any,
) -> AsyncIterator[Rig]:
    store = await open_sqlite(tmp_path / "gw.db", synchronous="normal")
    await make_account(store, credit=100_000)
    counting = CountingStore(store)
    acceptance: AcceptJournal | None = None
    if journal:
        acceptance, _ = AcceptJournal.open(tmp_path / "journal")
        acceptance.start()
    changes: list[QueueChanges] = []
    by_name = {link.name: link for link in links}
    dispatcher = Dispatcher(
        store=counting,
        router=Router(routes or [Route(prefix="*", link=name) for name in by_name]),
        links=by_name,
        settings=DispatchSettings(worker=WORKER, **{"idle_poll": 0.05, **settings}),
        on_changes=changes.append,
        logger=structlog.get_logger(),
        clock=clock,
        journal=acceptance,
        metrics=metrics,
    )
    task = asyncio.create_task(dispatcher.run())
    try:
        yield Rig(store=counting, dispatcher=dispatcher, links=by_name, changes=changes)
    finally:
        await dispatcher.stop(timeout=2)
        for link in links:
            await link.stop()
        await dispatcher.close(timeout=2)
        await asyncio.wait_for(task, 5)
        if acceptance is not None:
            await acceptance.close()
        await store.close()


async def test_handed_over_messages_are_sent_and_recorded_without_a_claim(
    tmp_path: Path,
) -> None:
    link = ScriptedLink()
    async with rig(tmp_path, link) as r:
        messages = await r.enqueue(20)
        await r.all_in(messages, MessageState.SUBMITTED)
        assert r.store.claimed == []
        assert sorted(req.message_id for req in link.sent) == sorted(m.id for m in messages)
        assert r.dispatcher.held == 0


async def test_a_receipt_is_acknowledged_once_committed_and_counted_then(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    async with rig(tmp_path, ScriptedLink(), metrics=Metrics(registry=registry)) as r:
        [message] = await r.enqueue(1)
        await r.all_in([message], MessageState.SUBMITTED)
        r.store.recording.clear()  # the next round waits
        done: list[BaseException | None] = []
        r.dispatcher.record_receipt(
            Receipt(link="op-a", smsc_id=f"{message.id}/0", state=ReceiptState.DELIVERED),
            done.append,
        )
        await _turns()
        assert done == []  # not committed: the link must not acknowledge it yet
        assert (
            registry.get_sample_value(
                "smsgw_receipts_total", {"link": "op-a", "state": "delivered"}
            )
            is None
        )
        r.store.recording.set()
        await eventually(lambda: done == [None], what="the receipt acknowledged")
        assert (
            registry.get_sample_value(
                "smsgw_receipts_total", {"link": "op-a", "state": "delivered"}
            )
            == 1
        )
        await r.all_in([message], MessageState.DELIVERED)


async def test_receipts_naming_no_known_message_are_counted_unmatched_not_delivered(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"link": "op-a", **labels})

    link = ScriptedLink(hold=True)
    with structlog.testing.capture_logs() as logs:
        async with rig(tmp_path, link, metrics=Metrics(registry=registry)) as r:
            [message] = await r.enqueue(1)
            await eventually(lambda: len(link.sent) == 1, what="the submit sent")
            done: list[BaseException | None] = []
            # one overtakes its submit_sm_resp (held), one names a message never sent
            for smsc_id in (f"{message.id}/0", "never-sent"):
                r.dispatcher.record_receipt(
                    Receipt(link="op-a", smsc_id=smsc_id, state=ReceiptState.DELIVERED), done.append
                )
            await eventually(lambda: done == [None, None], what="both acknowledged")
            assert sample("smsgw_receipts_total", state="delivered") is None
            assert sample("smsgw_receipts_unmatched_total") == 2
            link.release()  # the answer comes: the kept receipt is applied at last
            await r.all_in([message], MessageState.DELIVERED)
            await eventually(
                lambda: sample("smsgw_receipts_total", state="delivered") == 1,
                what="the late receipt counted",
            )
            assert sample("smsgw_receipts_unmatched_total") == 2
    [kept] = [e for e in logs if e["event"] == "receipts_unmatched"]
    assert (kept["log_level"], kept["kept"], kept["links"]) == ("info", 2, {"op-a": 2})


async def test_a_receipt_the_store_fails_to_record_is_refused(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    async with rig(tmp_path, ScriptedLink(), metrics=Metrics(registry=registry)) as r:
        [message] = await r.enqueue(1)
        await r.all_in([message], MessageState.SUBMITTED)
        r.store.failing = RuntimeError("disk I/O error")
        done: list[BaseException | None] = []
        r.dispatcher.record_receipt(
            Receipt(link="op-a", smsc_id=f"{message.id}/0", state=ReceiptState.DELIVERED),
            done.append,
        )
        await eventually(lambda: len(done) == 1, what="the receipt answered")
        assert isinstance(done[0], RuntimeError)  # the link refuses it: sent again later
        assert (
            registry.get_sample_value(
                "smsgw_receipts_total", {"link": "op-a", "state": "delivered"}
            )
            is None
        )
        r.store.failing = None
        assert await r.states([message]) == [MessageState.SUBMITTED]


async def test_queued_messages_are_claimed_and_sent(tmp_path: Path) -> None:
    link = ScriptedLink()
    async with rig(tmp_path, link) as r:
        messages = await r.enqueue(5, lease=False)  # as `smsgw send` stores them
        await r.all_in(messages, MessageState.SUBMITTED)
        assert sorted(r.store.claimed) == sorted(m.id for m in messages)


async def test_without_a_journal_accepted_segments_wait_for_the_store_within_the_window(
    tmp_path: Path,
) -> None:
    link = ScriptedLink(window=4)
    async with rig(tmp_path, link, journal=False) as r:
        r.store.recording.clear()  # the store's commits stall
        messages = await r.enqueue(12)
        lane = r.dispatcher.lanes["op-a"]
        await eventually(
            lambda: len(link.sent) == 4 and lane.slots.free == 0,
            what="a window sent, the lane out of slots",
        )
        await _turns()
        assert len(link.sent) == 4  # one window accepted and unrecorded: the bound
        r.store.recording.set()
        await r.all_in(messages, MessageState.SUBMITTED)


async def test_the_journal_lets_the_window_move_on_before_the_store_commits(
    tmp_path: Path,
) -> None:
    link = ScriptedLink(window=4)
    async with rig(tmp_path, link) as r:
        r.store.recording.clear()
        messages = await r.enqueue(12)
        # durable in the journal: the window moves on while the store is stalled
        await eventually(lambda: len(link.sent) == 12, what="every segment sent")
        assert r.store.recorded == 0
        r.store.recording.set()
        await r.all_in(messages, MessageState.SUBMITTED)


async def test_answers_other_than_accepted_hold_no_slot(tmp_path: Path) -> None:
    link = ScriptedLink(window=2, answer=lambda _r: Rejected(reason="ESME_RINVDSTADR"))
    async with rig(tmp_path, link, journal=False) as r:
        r.store.recording.clear()
        messages = await r.enqueue(6)
        # refused: nothing to send twice, so no commit is waited for
        await eventually(lambda: len(link.sent) == 6, what="every segment sent")
        r.store.recording.set()
        await r.all_in(messages, MessageState.REJECTED)


async def test_a_retry_goes_back_to_the_queue_with_a_back_off(tmp_path: Path) -> None:
    link = ScriptedLink(answer=lambda _r: Retry(reason="ESME_RSYSERR", status=8))
    async with rig(tmp_path, link, retry_base=60.0) as r:
        [message] = await r.enqueue(1)
        await r.all_in([message], MessageState.QUEUED)
        stored = (await r.store.get_message(message.id)).message
        assert stored.attempts == 1
        assert stored.next_attempt_at > time.time() + 20  # 60 s, jittered by half at most
        assert stored.error == "ESME_RSYSERR"


async def test_a_throttling_link_gives_way_to_another(tmp_path: Path) -> None:
    a = ScriptedLink(
        "op-a", answer=lambda _r: Retry(reason="ESME_RTHROTTLED", delay=0.01, throttled=True)
    )
    b = ScriptedLink("op-b")
    routes = [Route(prefix="*", link="op-a", weight=100), Route(prefix="*", link="op-b")]
    async with rig(tmp_path, a, b, routes=routes, retry_base=0.01) as r:
        [message] = await r.enqueue(1)
        await eventually(lambda: len(a.sent) >= 1, what="a first try on op-a")
        a.throttled = True  # its health says so now: the router puts it last
        await r.all_in([message], MessageState.SUBMITTED)
        assert [req.message_id for req in b.sent] == [message.id]


async def test_no_route_is_retried_later(tmp_path: Path) -> None:
    link = ScriptedLink()
    async with rig(tmp_path, link, routes=[Route(prefix="+44", link="op-a")]) as r:
        [message] = await r.enqueue(1)
        await r.all_in([message], MessageState.QUEUED)
        stored = (await r.store.get_message(message.id)).message
        assert stored.error == "no_route"
        assert link.sent == []


async def test_a_message_past_its_validity_expires_unsent_and_is_refunded(
    tmp_path: Path,
) -> None:
    link = ScriptedLink()
    async with rig(tmp_path, link, clock=AheadClock(60)) as r:
        [message] = await r.enqueue(1, validity=30)
        await r.all_in([message], MessageState.EXPIRED)
        assert link.sent == []
        balance = await r.store.balance("acme")
        assert balance.balance == 100_000


async def test_messages_whose_lease_runs_short_are_let_go_unsent(tmp_path: Path) -> None:
    link = ScriptedLink()
    # leases of 300 s: with the clock 280 s ahead, 20 s are left (less than the margin);
    # more held than max_in_flight: each one let go must wake the feeder for the next
    async with rig(tmp_path, link, clock=AheadClock(280), max_in_flight=1, batch=1) as r:
        messages = await r.enqueue(3)
        assert r.dispatcher.held == 3
        await eventually(lambda: r.dispatcher.held == 0, what="every message let go")
        assert link.sent == []
        assert await r.states(messages) == [MessageState.DISPATCHING] * 3  # until the lease ends


class FailingOnce(ScriptedLink):
    """A link whose first send raises (a bug in the link or in the request)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.failed = False

    def send(self, request: SubmitRequest, done: OutcomeCallback) -> None:
        if not self.failed:
            self.failed = True
            msg = "encoder bug"
            raise RuntimeError(msg)
        super().send(request, done)


async def test_a_send_that_raises_gives_its_slots_back_and_retries_the_message(
    tmp_path: Path,
) -> None:
    link = FailingOnce(window=1)
    async with rig(tmp_path, link) as r:
        messages = await r.enqueue(2)
        # the one slot came back (else nothing more is sent); the message whose send
        # raised is sent again after its back-off
        await r.all_in(messages, MessageState.SUBMITTED)
        assert sorted(req.message_id for req in link.sent) == sorted(m.id for m in messages)
        assert r.dispatcher.held == 0


async def test_receipts_waiting_at_close_are_refused(tmp_path: Path) -> None:
    done: list[BaseException | None] = []
    async with rig(tmp_path, ScriptedLink()) as r:
        [message] = await r.enqueue(1)
        await r.all_in([message], MessageState.SUBMITTED)
        r.store.recording.clear()  # the store never answers this round
        r.dispatcher.record_receipt(
            Receipt(link="op-a", smsc_id=f"{message.id}/0", state=ReceiptState.DELIVERED),
            done.append,
        )
        await _turns()
        assert done == []
    # the close gave up on the round: the link refuses it, the SMSC sends it again
    assert len(done) == 1
    assert isinstance(done[0], StoreError)


async def test_a_full_dispatcher_stops_accepting_then_gives_the_excess_back(
    tmp_path: Path,
) -> None:
    link = ScriptedLink(hold=True, window=1)
    async with rig(tmp_path, link, max_in_flight=2, batch=1) as r:
        told: list[bool] = []
        r.dispatcher.on_accepting = told.append
        first = await r.enqueue(3)  # max_in_flight + batch held: no more handovers
        assert not r.dispatcher.accepting
        assert told == [False]
        more = await r.enqueue(5)  # ingest had not heard: three fit, twice the limit

        async def given_back() -> bool:
            return (await r.states(more)).count(MessageState.QUEUED) == 2

        await eventually(given_back, what="two given back")
        stored = [(await r.store.get_message(m.id)).message for m in more]
        assert {m.attempts for m in stored} == {0}  # never sent: not an attempt
        link.hold = False
        link.release()
        await r.all_in(first, MessageState.SUBMITTED)
        await eventually(lambda: r.dispatcher.accepting, what="accepting again")
        assert told == [False, True]


async def test_stop_gives_back_what_was_never_sent(tmp_path: Path) -> None:
    link = ScriptedLink(hold=True, window=1)
    async with rig(tmp_path, link) as r:
        messages = await r.enqueue(4)
        await eventually(lambda: len(link.sent) == 1, what="the first sent")
        assert await r.dispatcher.stop(timeout=0.1) == 1  # its answer never came
        link.drop()
        await r.dispatcher.close(timeout=2)
        states = await r.states(messages)
        assert states == [MessageState.QUEUED] * 4  # the first as a retry, three unsent
        attempts = [(await r.store.get_message(m.id)).message.attempts for m in messages]
        assert sorted(attempts) == [0, 0, 0, 1]


async def test_a_long_message_takes_one_slot_per_segment(tmp_path: Path) -> None:
    link = ScriptedLink(window=4, hold=True)
    async with rig(tmp_path, link, journal=False) as r:
        first, second = await r.enqueue(2, text=LONG)
        await eventually(lambda: len(link.sent) == 3, what="the first message's segments")
        await _turns()  # the second does not fit the window's last slot
        assert len({req.message_id for req in link.sent}) == 1  # one message's three
        assert [req.index for req in link.sent] == [0, 1, 2]
        assert link.sent[0].segment.udh[:3] == b"\x05\x00\x03"  # concatenated, 8-bit ref
        link.release()
        await eventually(lambda: len(link.sent) == 6, what="the second message's segments")
        link.hold = False
        link.release()
        await r.all_in([first, second], MessageState.SUBMITTED)


async def test_payload_mode_sends_one_pdu_for_every_segment(tmp_path: Path) -> None:
    link = ScriptedLink(concat="payload")
    async with rig(tmp_path, link) as r:
        [message] = await r.enqueue(1, text=LONG)
        await r.all_in([message], MessageState.SUBMITTED)
        assert len(link.sent) == 1
        view = await r.store.get_message(message.id)
        assert {s.smsc_id for s in view.segments} == {f"{message.id}/0"}


@pytest.mark.parametrize(("concat", "packed"), [("udh8", False), ("sar", False), ("udh8", True)])
async def test_a_segment_an_esme_cut_is_sent_as_given(
    tmp_path: Path, concat: str, packed: bool
) -> None:
    link = ScriptedLink(concat=concat)
    link.packed = packed
    udh = bytes((5, 0, 3, 0x2A, 2, 2))
    raw = RawBody(data_coding=0x00, udh=udh, body=to_septets("part two"), encoding="gsm7")
    async with rig(tmp_path, link) as r:
        [message] = await r.enqueue(1, text="part two", raw=raw.pack())
        assert message.segments == 1
        await r.all_in([message], MessageState.SUBMITTED)
        [sent] = link.sent
        assert sent.segment == raw_segment(raw, packed=packed)
        assert (sent.segment.udh, sent.segment.esm_class, sent.segment.sar) == (udh, 0x40, None)


async def test_a_link_sending_through_tasks_keeps_to_its_window(tmp_path: Path) -> None:
    link = TaskLink(window=2)
    async with rig(tmp_path, link) as r:
        messages = await r.enqueue(6)
        await r.all_in(messages, MessageState.SUBMITTED)
        assert len(link.sent) == 6
        assert link.most == 2  # its window, not more


async def test_a_lost_link_sends_its_messages_back_to_be_routed_again(tmp_path: Path) -> None:
    link = ScriptedLink(hold=True, window=2)
    async with rig(tmp_path, link, link_retry_max=0.05) as r:
        messages = await r.enqueue(3)
        await eventually(lambda: len(link.sent) == 2, what="a window sent")
        link.drop()  # two answer link_down; the third is not sent on a dead link
        await eventually(
            lambda: not link.bound and r.dispatcher.held == 0, what="everything back in the queue"
        )
        link.bound = True
        link.hold = False
        await r.all_in(messages, MessageState.SUBMITTED)


@pytest.mark.parametrize("journal", [True, False])
async def test_every_segment_is_sent_once_under_load(tmp_path: Path, journal: bool) -> None:
    link = ScriptedLink(window=8)
    async with rig(tmp_path, link, journal=journal) as r:
        messages = [m for _ in range(5) for m in await r.enqueue(200)]
        await r.all_in(messages, MessageState.SUBMITTED)
        assert sorted(req.message_id for req in link.sent) == sorted(m.id for m in messages)


async def test_on_a_busy_link_higher_priority_goes_before_what_waited_longer(
    tmp_path: Path,
) -> None:
    link = ScriptedLink(hold=True, window=1)  # one segment out at a time: the rest wait
    async with rig(tmp_path, link) as r:
        low = await r.enqueue(4, priority=0)
        await eventually(lambda: len(link.sent) == 1, what="the first message out")
        high = await r.enqueue(3, priority=3)
        for count in range(2, 8):
            link.release()
            await eventually(lambda n=count: len(link.sent) == n, what=f"message {count} out")
        link.release()
        await r.all_in(low + high, MessageState.SUBMITTED)
    assert [q.priority for q in link.sent] == [0, 3, 3, 3, 0, 0, 0]
    assert {q.message_id for q in link.sent[1:4]} == {m.id for m in high}


async def test_after_an_outage_waiting_messages_leave_by_priority_not_retry_time(
    tmp_path: Path,
) -> None:
    link = ScriptedLink(window=1)
    link.bound = False
    # retries while no link is bound wait up to a minute: the link comes back sooner
    async with rig(tmp_path, link, link_retry_max=60.0, retry_base=60.0) as r:
        low = await r.enqueue(3, priority=0)
        high = await r.enqueue(3, priority=3)
        await r.all_in(low + high, MessageState.QUEUED)
        await eventually(lambda: r.dispatcher.held == 0, what="every message back in the store")
        link.bound = True
        await r.all_in(low + high, MessageState.SUBMITTED)
    assert [q.priority for q in link.sent] == [3, 3, 3, 0, 0, 0]
    assert {q.message_id for q in link.sent[:3]} == {m.id for m in high}
