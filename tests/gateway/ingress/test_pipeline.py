"""The send service: sender checks, pricing, per-recipient refusals, idempotency."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import structlog

from gateway.ingress.pipeline import MAX_CLIENT_REF, MAX_VALIDITY, SendRequest, SendService
from gateway.model.errors import (
    ClientRefConflict,
    EmptyText,
    InsufficientCredit,
    InvalidRecipient,
    MonthlyCapReached,
    NoPrice,
    NotFound,
    OutOfRange,
    SenderNotAllowed,
    TextTooLong,
)
from gateway.model.message import MessageClass, MessageState, SenderKind, SenderStatus
from gateway.model.records import Lease
from gateway.store.sqlite.store import SqliteStore
from tests.clock import START, FakeClock
from tests.gateway.store.support import fresh_store, make_account

A, B, C = "+33612345678", "+33612345679", "+447700900123"


@pytest.fixture
def service(store: SqliteStore, clock: FakeClock) -> SendService:
    return SendService(store=store, log=structlog.get_logger(), clock=clock)


def _req(*to: str, sender: str = "ACME", text: str = "hello", **kw: object) -> SendRequest:
    return SendRequest(account="acme", sender=sender, recipients=list(to), text=text, **kw)  # type: ignore[arg-type]


async def test_send_prices_each_recipient_by_longest_prefix(
    store: SqliteStore, service: SendService
) -> None:
    await make_account(store, credit=100)
    await store.set_price("+33", 2)
    await store.set_price("+3361", 3)
    await store.set_price("+44", 5, account="acme")
    result = await service.send(_req(A, C, text="ж" * 100))  # UCS-2: 2 segments
    assert result.refused == ()
    assert [(a.message.destination, a.message.credits) for a in result.accepted] == [
        (A, 6),
        (C, 10),
    ]
    assert (await store.balance("acme")).balance == 84


async def test_duplicates_are_sent_once(store: SqliteStore, service: SendService) -> None:
    await make_account(store)
    result = await service.send(_req(A, A, B))
    assert [a.message.destination for a in result.accepted] == [A, B]


async def test_deferred_sending_validity_priority_and_class_are_stored(
    store: SqliteStore, service: SendService, clock: FakeClock
) -> None:
    await make_account(store)
    later = clock.now + 86400
    result = await service.send(
        _req(A, send_at=later, validity=3600, priority=3, msg_class=MessageClass.FLASH)
    )
    m = (await store.get_message(result.accepted[0].message.id)).message
    assert (m.send_at, m.validity, m.priority, m.msg_class) == (later, 3600, 3, MessageClass.FLASH)


async def test_specific_prefix_beats_the_catch_all(
    store: SqliteStore, service: SendService
) -> None:
    await make_account(store, price=0)
    await store.set_price("+33", 4)
    r = await service.send(_req(A, C))
    assert [a.message.credits for a in r.accepted] == [4, 0]


async def test_missing_price_is_a_clear_refusal(tmp_path: Path) -> None:
    s = await fresh_store(tmp_path, FakeClock())
    await s.create_account("acme")
    await s.add_sender("acme", "ACME", SenderKind.ALPHA)
    await s.set_sender_status("acme", "ACME", SenderStatus.APPROVED)
    service = SendService(store=s, log=structlog.get_logger())
    result = await service.send(_req(A))
    [refused] = result.refused
    assert isinstance(refused.error, NoPrice)
    assert "smsgw price set PREFIX CREDITS" in str(refused.error)
    await s.close()


async def test_insufficient_credit_names_balance_and_need(
    store: SqliteStore, service: SendService
) -> None:
    await make_account(store, credit=100)
    await store.set_price("+", 60)
    result = await service.send(_req(A, B))
    assert len(result.accepted) == 1
    [refused] = result.refused
    assert isinstance(refused.error, InsufficientCredit)
    assert "balance 40, needed 60" in str(refused.error)


@pytest.mark.parametrize(
    ("status", "reason", "match"),
    [
        (SenderStatus.PENDING, None, "waiting for approval"),
        (SenderStatus.REFUSED, "not your brand", "was refused: not your brand"),
    ],
)
async def test_unapproved_sender_is_refused_with_why(
    store: SqliteStore,
    service: SendService,
    status: SenderStatus,
    reason: str | None,
    match: str,
) -> None:
    await make_account(store)
    await store.set_sender_status("acme", "ACME", status, reason=reason)
    with pytest.raises(SenderNotAllowed, match=match):
        await service.send(_req(A))


async def test_another_accounts_sender_is_refused(store: SqliteStore, service: SendService) -> None:
    await make_account(store)
    await store.create_account("rival")
    await store.add_sender("rival", "RIVAL", SenderKind.ALPHA)
    with pytest.raises(SenderNotAllowed, match="belongs to another account"):
        await service.send(_req(A, sender="RIVAL"))
    with pytest.raises(SenderNotAllowed, match="smsgw sender add acme NOBODY"):
        await service.send(_req(A, sender="NOBODY"))


async def test_request_wide_errors(store: SqliteStore, service: SendService) -> None:
    await make_account(store)
    with pytest.raises(TextTooLong):
        await service.send(_req(A, text="x" * 153 * 256))
    with pytest.raises(OutOfRange, match=r"priority 4: 0 \(default\) to 3"):
        await service.send(_req(A, priority=4))
    with pytest.raises(OutOfRange, match="validity 0 seconds: 1 to 38102400"):
        await service.send(_req(A, validity=0))
    with pytest.raises(InvalidRecipient, match="no recipient"):
        await service.send(_req())
    with pytest.raises(InvalidRecipient, match="bad recipient"):
        await service.send(_req("0612345678"))
    with pytest.raises(NotFound, match="unknown account"):
        await service.send(SendRequest(account="ghost", sender="ACME", recipients=[A], text="x"))


@pytest.mark.parametrize("text", ["", " ", " \n\t "])
async def test_empty_or_blank_text_is_refused_before_any_charge(
    store: SqliteStore,
    service: SendService,
    text: str,
) -> None:
    await make_account(store, credit=100)
    with pytest.raises(EmptyText) as refused:
        await service.send(_req(A, text=text))
    assert str(refused.value) == "the text is empty: give the message to send"
    assert (await store.balance("acme")).balance == 100
    assert await store.list_messages(account="acme", limit=10) == []


def _at(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


@pytest.mark.parametrize(
    ("send_at", "words"),
    [
        (_at("9999-12-31T23:59:59-23:00"), "send_at is more than 365 days ahead"),
        (_at("0001-01-01T00:00:00+01:00"), "send_at is more than 7 days in the past"),
        (START + 365 * 86400 + 1, "at the latest"),
        (START - 7 * 86400 - 1, "at the earliest"),
        (float("nan"), "days ahead"),
    ],
)
async def test_send_at_out_of_its_window_is_refused_before_any_charge(
    store: SqliteStore,
    service: SendService,
    send_at: float,
    words: str,
) -> None:
    await make_account(store, credit=100)
    with pytest.raises(OutOfRange, match=words) as refused:
        await service.send(_req(A, send_at=send_at))
    assert refused.value.code == "invalid_value"
    assert (await store.balance("acme")).balance == 100
    assert await store.list_messages(account="acme", limit=10) == []


async def test_send_at_window_ends_and_validity_limits_are_taken(
    store: SqliteStore,
    service: SendService,
) -> None:
    await make_account(store, credit=100)
    for send_at in (START + 365 * 86400, START - 7 * 86400):
        await service.send(_req(A, send_at=send_at, client_ref=f"at-{send_at}"))
    await service.send(_req(A, validity=MAX_VALIDITY))
    await service.send(_req(A, validity=1))
    await service.send(_req(A, client_ref="r" * MAX_CLIENT_REF))
    with pytest.raises(OutOfRange, match="441 days"):
        await service.send(_req(A, validity=MAX_VALIDITY + 1))
    with pytest.raises(OutOfRange, match="validity -1 seconds"):
        await service.send(_req(A, validity=-1))
    with pytest.raises(OutOfRange, match="client_ref of 101 characters: 1 to 100"):
        await service.send(_req(A, client_ref="r" * 101))
    with pytest.raises(OutOfRange, match="client_ref of 0 characters"):
        await service.send(_req(A, client_ref=""))
    with pytest.raises(OutOfRange, match="priority -1"):
        await service.send(_req(A, priority=-1))
    assert (await store.balance("acme")).balance == 95


async def test_client_ref_makes_a_retry_idempotent(
    store: SqliteStore, service: SendService
) -> None:
    await make_account(store, credit=100)
    first = await service.send(_req(A, B, client_ref="req-1"))
    again = await service.send(_req(B, A, client_ref="req-1"))
    assert {a.message.id for a in again.accepted} == {a.message.id for a in first.accepted}
    assert all(a.duplicate for a in again.accepted)
    assert (await store.balance("acme")).balance == 98
    with pytest.raises(ClientRefConflict, match="different request"):
        await service.send(_req(A, B, client_ref="req-1", text="changed"))


async def test_postpaid_account_may_go_down_to_its_credit_limit(
    store: SqliteStore, service: SendService
) -> None:
    await make_account(store, credit=0)
    await store.set_account("acme", credit_limit=2)
    result = await service.send(_req(A, B, C))
    assert len(result.accepted) == 2
    assert "balance -2 (credit limit 2), needed 1" in str(result.refused[0].error)
    assert (await store.balance("acme")).balance == -2


async def test_monthly_cap_refuses_beyond_the_months_spending(
    store: SqliteStore, service: SendService
) -> None:
    await make_account(store, credit=1000)
    await store.set_account("acme", monthly_cap=2)
    result = await service.send(_req(A, B, C))
    assert len(result.accepted) == 2
    [refused] = result.refused
    assert isinstance(refused.error, MonthlyCapReached)
    assert "spent 2 of 2 this month, needed 1" in str(refused.error)


async def test_crossing_the_alert_threshold_is_reported_once(store: SqliteStore) -> None:
    crossed: list[str] = []
    service = SendService(store=store, log=structlog.get_logger(), on_crossing=crossed.append)
    await make_account(store, credit=100)
    await store.set_account("acme", alert_below=98)
    await service.send(_req(A))  # 99: still above
    assert crossed == []
    await service.send(_req(B))  # 98: not below yet
    await service.send(_req(C))  # 97: crossed
    await service.send(_req("+33612345670"))  # 96: still below, not again
    assert crossed == ["acme"]


async def test_with_a_lease_messages_due_now_go_leased_to_the_dispatcher(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store, credit=100)
    handed: list[list[str]] = []
    service = SendService(
        store=store,
        log=structlog.get_logger(),
        clock=clock,
        lease=lambda: Lease(worker="gw-1", seconds=300),
        on_stored=lambda ms: handed.append([m.id for m in ms]),
    )
    now = await service.send(_req(A, B, client_ref="r1"))
    later = await service.send(_req(C, send_at=clock.now + 3600))
    again = await service.send(_req(A, B, client_ref="r1"))  # the same request: no new message
    leased = [a.message for a in now.accepted]
    assert {(m.state, m.lease_owner, m.lease_until) for m in leased} == {
        (MessageState.DISPATCHING, "gw-1", clock.now + 300)
    }
    [scheduled] = [a.message for a in later.accepted]
    assert (scheduled.state, scheduled.lease_owner) == (MessageState.QUEUED, None)
    assert all(a.duplicate for a in again.accepted)
    # each committed batch's new messages, scheduled ones too (the dispatcher takes the
    # leased ones); nothing for the duplicate request
    assert handed == [[m.id for m in leased], [scheduled.id]]
    stored = await store.get_message(leased[0].id)
    assert (stored.message.state, stored.message.lease_owner) == (MessageState.DISPATCHING, "gw-1")
    # a claim does not take them: they are the dispatcher's already
    assert await store.claim_due("gw-2", now=clock.now, limit=10, lease_seconds=60) == []


async def test_while_the_dispatcher_is_full_messages_are_stored_queued(
    store: SqliteStore,
) -> None:
    await make_account(store, credit=100)
    accepting = False
    service = SendService(
        store=store,
        log=structlog.get_logger(),
        lease=lambda: Lease(worker="gw-1", seconds=300) if accepting else None,
    )
    [queued] = (await service.send(_req(A))).accepted
    accepting = True
    [leased] = (await service.send(_req(B))).accepted
    assert (queued.message.state, leased.message.state) == (
        MessageState.QUEUED,
        MessageState.DISPATCHING,
    )


async def test_an_approved_sender_and_prices_are_used_as_read_for_context_ttl(
    store: SqliteStore,
) -> None:
    await make_account(store)
    ticks = FakeClock(0.0)
    service = SendService(store=store, log=structlog.get_logger(), context_ttl=1.0, clock=ticks)
    await service.send(_req(A))
    await store.set_sender_status("acme", "ACME", SenderStatus.REFUSED, reason="spam")
    await store.set_price("+", 7)
    ticks.advance(0.9)
    kept = await service.send(_req(B))  # read 0.9 s ago: approved, price 1
    assert [a.message.credits for a in kept.accepted] == [1]
    ticks.advance(0.2)
    with pytest.raises(SenderNotAllowed, match="was refused: spam"):
        await service.send(_req(C))
    await store.set_sender_status("acme", "ACME", SenderStatus.APPROVED)
    repriced = await service.send(_req(C))
    assert [a.message.credits for a in repriced.accepted] == [7]


async def test_a_sender_not_allowed_is_read_again_at_the_next_send(store: SqliteStore) -> None:
    await make_account(store)
    await store.add_sender("acme", "NEWS", SenderKind.ALPHA)
    ticks = FakeClock(0.0)
    service = SendService(store=store, log=structlog.get_logger(), context_ttl=60.0, clock=ticks)
    with pytest.raises(SenderNotAllowed, match="waiting for approval"):
        await service.send(_req(A, sender="NEWS"))
    await store.set_sender_status("acme", "NEWS", SenderStatus.APPROVED)
    result = await service.send(_req(A, sender="NEWS"))  # no wait for the TTL
    assert [a.message.sender for a in result.accepted] == ["NEWS"]


async def test_stopped_recipient_is_refused_and_not_charged(
    store: SqliteStore, service: SendService
) -> None:
    await make_account(store, credit=100, price=2)
    await store.add_stop("acme", B)
    result = await service.send(_req(A, B, C))
    assert [a.message.destination for a in result.accepted] == [A, C]
    assert [(r.destination, r.error.code) for r in result.refused] == [(B, "stopped")]
    assert "stoplist" in str(result.refused[0].error)
    assert (await store.balance("acme")).balance == 96  # A and C only
    assert sorted(m.destination for m in await store.list_messages(account="acme")) == [A, C]


async def test_a_stop_applies_to_the_next_send_at_once(
    store: SqliteStore, service: SendService
) -> None:
    await make_account(store, credit=100)
    assert len((await service.send(_req(A))).accepted) == 1  # sender context now cached
    await store.add_stop("acme", A)
    result = await service.send(_req(A))
    assert (result.accepted, [r.destination for r in result.refused]) == ((), [A])
    assert (await store.balance("acme")).balance == 99
    await store.remove_stop("acme", A)
    assert len((await service.send(_req(A))).accepted) == 1
