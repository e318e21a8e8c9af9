"""The send service: sender checks, pricing, per-recipient refusals, idempotency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog

from gateway.enqueue import SendRequest, SendService
from gateway.errors import (
    ClientRefConflict,
    InsufficientCredit,
    InvalidRecipient,
    MonthlyCapReached,
    NoPrice,
    NotFound,
    SenderNotAllowed,
    TextTooLong,
    UserError,
)
from gateway.model import MessageClass, SenderKind, SenderStatus
from gateway.store.sqlite_store import SqliteStore
from tests.store.support import FakeClock, fresh_store, make_account

A, B, C = "+33612345678", "+33612345679", "+447700900123"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await fresh_store(tmp_path, FakeClock())
    yield s
    await s.close()


@pytest.fixture
def service(store: SqliteStore) -> SendService:
    return SendService(store=store, log=structlog.get_logger())


def _req(*to: str, sender: str = "ACME", text: str = "hello", **kw: object) -> SendRequest:
    return SendRequest(account="acme", sender=sender, recipients=list(to), text=text,
                       **kw)  # type: ignore[arg-type]


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
        (A, 6), (C, 10)
    ]
    assert (await store.balance("acme")).balance == 84


async def test_duplicates_are_sent_once(store: SqliteStore, service: SendService) -> None:
    await make_account(store)
    result = await service.send(_req(A, A, B))
    assert [a.message.destination for a in result.accepted] == [A, B]


async def test_deferred_sending_validity_priority_and_class_are_stored(
    store: SqliteStore, service: SendService
) -> None:
    await make_account(store)
    result = await service.send(_req(A, send_at=2e9, validity=3600, priority=3,
                                     msg_class=MessageClass.FLASH))
    m = (await store.get_message(result.accepted[0].message.id)).message
    assert (m.send_at, m.validity, m.priority, m.msg_class) == (2e9, 3600, 3, MessageClass.FLASH)


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
    [(SenderStatus.PENDING, None, "waiting for approval"),
     (SenderStatus.REFUSED, "not your brand", "was refused: not your brand")],
)
async def test_unapproved_sender_is_refused_with_why(
    store: SqliteStore, service: SendService, status: SenderStatus, reason: str | None,
    match: str,
) -> None:
    await make_account(store)
    await store.set_sender_status("acme", "ACME", status, reason=reason)
    with pytest.raises(SenderNotAllowed, match=match):
        await service.send(_req(A))


async def test_another_accounts_sender_is_refused(
    store: SqliteStore, service: SendService
) -> None:
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
    with pytest.raises(UserError, match="bad priority"):
        await service.send(_req(A, priority=4))
    with pytest.raises(UserError, match="bad validity"):
        await service.send(_req(A, validity=0))
    with pytest.raises(InvalidRecipient, match="no recipient"):
        await service.send(_req())
    with pytest.raises(InvalidRecipient, match="bad recipient"):
        await service.send(_req("0612345678"))
    with pytest.raises(NotFound, match="unknown account"):
        await service.send(SendRequest(account="ghost", sender="ACME", recipients=[A],
                                       text="x"))


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
