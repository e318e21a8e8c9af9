"""Senders (one approved owner per short code or number), prices and a send's
context, on every backend."""

from __future__ import annotations

import asyncio

import pytest

from gateway.model.errors import AlreadyExists, NotFound, SenderTaken
from gateway.model.message import SenderKind, SenderStatus
from gateway.model.records import Price
from gateway.store.base import Store
from tests.clock import FakeClock


async def test_sender_starts_pending_and_keeps_refusal_reason(
    any_store: Store, clock: FakeClock
) -> None:
    await any_store.create_account("acme")
    sender = await any_store.add_sender("acme", "ACME", SenderKind.ALPHA)
    assert (sender.account, sender.value, sender.kind) == ("acme", "ACME", SenderKind.ALPHA)
    assert (sender.status, sender.reason, sender.created_at) == (
        SenderStatus.PENDING,
        None,
        clock.now,
    )
    assert await any_store.get_sender("acme", "ACME") == sender
    clock.advance(60)
    refused = await any_store.set_sender_status(
        "acme", "ACME", SenderStatus.REFUSED, reason="brand not proven"
    )
    assert (refused.status, refused.reason) == (SenderStatus.REFUSED, "brand not proven")
    assert (refused.created_at, refused.updated_at) == (sender.created_at, clock.now)
    assert await any_store.get_sender("acme", "ACME") == refused
    approved = await any_store.set_sender_status("acme", "ACME", SenderStatus.APPROVED)
    assert (approved.status, approved.reason) == (SenderStatus.APPROVED, None)
    assert await any_store.sender_owners("ACME") == ["acme"]
    assert await any_store.list_senders("acme") == [approved]
    assert await any_store.get_sender("acme", "OTHER") is None
    assert await any_store.sender_owners("OTHER") == []


async def test_senders_are_listed_by_value_bytewise(any_store: Store) -> None:
    await any_store.create_account("acme")
    values = ["shop", "SHOP2", "36180", "+33612345678", "Acme"]
    for value in values:
        kind = SenderKind.ALPHA if value[0].isalpha() else SenderKind.SHORTCODE
        await any_store.add_sender("acme", value, kind)
    assert [s.value for s in await any_store.list_senders("acme")] == sorted(values)


async def test_sender_added_twice_or_unknown_is_refused(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.add_sender("acme", "ACME", SenderKind.ALPHA)
    with pytest.raises(AlreadyExists, match="sender 'ACME' already exists for account 'acme'"):
        await any_store.add_sender("acme", "ACME", SenderKind.ALPHA)
    with pytest.raises(NotFound, match=r"no sender 'OTHER' for account 'acme': .*smsgw sender add"):
        await any_store.set_sender_status("acme", "OTHER", SenderStatus.APPROVED)
    for call in (
        any_store.add_sender("ghost", "ACME", SenderKind.ALPHA),
        any_store.set_sender_status("ghost", "ACME", SenderStatus.APPROVED),
        any_store.list_senders("ghost"),
    ):
        with pytest.raises(NotFound, match="smsgw account create ghost"):
            await call


async def test_sender_added_at_once_twice_is_added_once(any_store: Store) -> None:
    await any_store.create_account("acme")
    results = await asyncio.gather(
        *(any_store.add_sender("acme", "36180", SenderKind.SHORTCODE) for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, AlreadyExists) for r in results if isinstance(r, BaseException))


@pytest.mark.parametrize(
    ("value", "kind"), [("36180", SenderKind.SHORTCODE), ("+33612345678", SenderKind.NUMBER)]
)
async def test_short_code_or_number_has_one_approved_owner(
    any_store: Store, value: str, kind: SenderKind
) -> None:
    for name in ("acme", "beta", "gamma"):
        await any_store.create_account(name)
    await any_store.add_sender("acme", value, kind)
    await any_store.add_sender("beta", value, kind)  # both ask; the operator picks one
    await any_store.set_sender_status("acme", value, SenderStatus.APPROVED)
    with pytest.raises(SenderTaken, match="is approved for account 'acme'") as taken:
        await any_store.set_sender_status("beta", value, SenderStatus.APPROVED)
    assert f"(smsgw sender refuse acme {value})" in str(taken.value)
    with pytest.raises(SenderTaken, match="belongs to another account") as refused:
        await any_store.add_sender("gamma", value, kind)
    assert "acme" not in str(refused.value)  # a customer asking is not told who owns it
    assert await any_store.get_sender("gamma", value) is None
    assert await any_store.sender_owners(value) == ["acme", "beta"]
    # refusing another account's request, or approving the owner again, is allowed
    await any_store.set_sender_status("beta", value, SenderStatus.REFUSED, reason="taken")
    await any_store.set_sender_status("acme", value, SenderStatus.APPROVED)
    # moving it: refused for the owner first, then approved for the other
    await any_store.set_sender_status("acme", value, SenderStatus.REFUSED, reason="moved")
    await any_store.set_sender_status("beta", value, SenderStatus.APPROVED)
    assert await any_store.sender_owners(value) == ["beta", "acme"]  # the approved one first


async def test_alphanumeric_names_stay_shareable(any_store: Store) -> None:
    for name in ("beta", "acme"):
        await any_store.create_account(name)
        await any_store.add_sender(name, "SHOP", SenderKind.ALPHA)
        await any_store.set_sender_status(name, "SHOP", SenderStatus.APPROVED)
    assert await any_store.sender_owners("SHOP") == ["acme", "beta"]


async def test_concurrent_approvals_of_one_short_code_leave_one_owner(any_store: Store) -> None:
    names = [f"acc{i}" for i in range(6)]
    for name in names:
        await any_store.create_account(name)
        await any_store.add_sender(name, "36180", SenderKind.SHORTCODE)
    results = await asyncio.gather(
        *(any_store.set_sender_status(n, "36180", SenderStatus.APPROVED) for n in names),
        return_exceptions=True,
    )
    winners = [r.account for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    lost = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, SenderTaken) for r in lost)
    assert all(f"approved for account {winners[0]!r}" in str(r) for r in lost)
    assert (await any_store.sender_owners("36180"))[0] == winners[0]


async def test_prices_per_account_and_default_are_separate_lists(any_store: Store) -> None:
    await any_store.create_account("acme")
    assert await any_store.set_price("+33", 2) == Price(account=None, prefix="+33", credits=2)
    await any_store.set_price("+33", 3)  # replaces
    await any_store.set_price("+", 5)
    own = await any_store.set_price("+33", 1, account="acme")
    assert own == Price(account="acme", prefix="+33", credits=1)
    assert await any_store.list_prices() == [
        Price(account=None, prefix="+", credits=5),
        Price(account=None, prefix="+33", credits=3),
    ]
    assert await any_store.list_prices(account="acme") == [own]
    with pytest.raises(NotFound, match="smsgw account create ghost"):
        await any_store.set_price("+33", 1, account="ghost")
    with pytest.raises(NotFound, match="smsgw account create ghost"):
        await any_store.list_prices(account="ghost")


async def test_send_context_reads_account_sender_and_both_price_lists(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.create_account("beta")
    await any_store.add_sender("acme", "ACME", SenderKind.ALPHA)
    await any_store.set_sender_status("acme", "ACME", SenderStatus.APPROVED)
    await any_store.set_price("+33", 3)
    await any_store.set_price("+3361", 1, account="acme")
    await any_store.set_price("+336", 2, account="acme")
    await any_store.set_price("+33", 9, account="beta")
    context = await any_store.send_context("acme", "ACME")
    assert context.account == await any_store.get_account("acme")
    assert context.sender == await any_store.get_sender("acme", "ACME")
    assert context.own_prices == [
        Price(account="acme", prefix="+336", credits=2),
        Price(account="acme", prefix="+3361", credits=1),
    ]
    assert context.default_prices == [Price(account=None, prefix="+33", credits=3)]
    assert (await any_store.send_context("acme", "OTHER")).sender is None
    with pytest.raises(NotFound, match="smsgw account create ghost"):
        await any_store.send_context("ghost", "ACME")
