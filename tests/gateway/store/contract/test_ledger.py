"""The ledger on every backend: top-ups idempotent by reference, adjustments,
balance, history and the journal's sum, also under concurrent writers."""

from __future__ import annotations

import asyncio

import pytest

from gateway.model.errors import AlreadyExists, InsufficientCredit, NotFound
from gateway.model.records import Balance, EntryKind
from gateway.store.base import Store
from tests.clock import FakeClock


async def test_topup_credits_and_is_journaled(any_store: Store, clock: FakeClock) -> None:
    await any_store.create_account("acme")
    result = await any_store.topup("acme", 500, reference="ORDER-1", note="pack S")
    assert (result.duplicate, result.crossing) == (False, None)
    entry = result.entry
    assert (entry.account, entry.at, entry.kind) == ("acme", clock.now, EntryKind.TOPUP)
    assert (entry.amount, entry.balance_after) == (500, 500)
    assert (entry.reference, entry.message_id, entry.note) == ("ORDER-1", None, "pack S")
    assert await any_store.history("acme") == [entry]
    assert (await any_store.get_account("acme")).balance == 500


async def test_topup_with_same_reference_credits_once(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.create_account("beta")
    first = await any_store.topup("acme", 500, reference="ORDER-1")
    again = await any_store.topup("acme", 500, reference="ORDER-1", note="sent twice")
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.entry == first.entry
    assert (await any_store.balance("acme")).balance == 500
    with pytest.raises(
        AlreadyExists,
        match="order reference 'ORDER-1' was already credited with 500 credits, not 700",
    ):
        await any_store.topup("acme", 700, reference="ORDER-1")
    other = await any_store.topup("beta", 700, reference="ORDER-1")  # another account's order
    assert not other.duplicate
    assert len(await any_store.history("acme")) == 1
    assert await any_store.verify_ledger() == {}


async def test_concurrent_topups_with_one_reference_credit_once(any_store: Store) -> None:
    await any_store.create_account("acme")
    results = await asyncio.gather(
        *(any_store.topup("acme", 250, reference="ORDER-7") for _ in range(20))
    )
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.entry.id for r in results}) == 1
    assert (await any_store.balance("acme")).balance == 250
    assert len(await any_store.history("acme")) == 1
    assert await any_store.verify_ledger() == {}


async def test_concurrent_topups_with_one_reference_and_other_amounts(any_store: Store) -> None:
    await any_store.create_account("acme")
    results = await asyncio.gather(
        *(any_store.topup("acme", 100 + i % 2, reference="ORDER-8") for i in range(10)),
        return_exceptions=True,
    )
    credited = [r for r in results if not isinstance(r, BaseException) and not r.duplicate]
    assert len(credited) == 1
    amount = credited[0].entry.amount
    for i, r in enumerate(results):
        if 100 + i % 2 == amount:
            assert not isinstance(r, BaseException)
        else:
            assert isinstance(r, AlreadyExists)
    assert (await any_store.balance("acme")).balance == amount


async def test_adjustment_is_journaled_and_may_not_pass_the_credit_limit(
    any_store: Store,
) -> None:
    await any_store.create_account("acme")
    await any_store.set_account("acme", credit_limit=50)
    result = await any_store.adjust("acme", -30, note="postpaid use")
    entry = result.entry
    assert (entry.kind, entry.amount, entry.balance_after, entry.note) == (
        EntryKind.ADJUSTMENT,
        -30,
        -30,
        "postpaid use",
    )
    assert entry.reference is None
    with pytest.raises(InsufficientCredit, match="balance -30 \\(credit limit 50\\), needed 21"):
        await any_store.adjust("acme", -21, note="too much")
    assert (await any_store.adjust("acme", -20, note="to the limit")).entry.balance_after == -50
    assert [e.amount for e in await any_store.history("acme")] == [-30, -20]


async def test_unknown_account_has_no_ledger(any_store: Store) -> None:
    for call in (
        any_store.topup("ghost", 100, reference="o"),
        any_store.adjust("ghost", 5, note="x"),
        any_store.balance("ghost"),
        any_store.history("ghost"),
    ):
        with pytest.raises(NotFound, match="smsgw account create ghost"):
            await call


async def test_balance_shows_the_limits_and_the_months_spending(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.set_account("acme", credit_limit=50, monthly_cap=300)
    await any_store.topup("acme", 200, reference="o")
    assert await any_store.balance("acme") == Balance(
        account="acme",
        balance=200,
        credit_limit=50,
        available=250,
        monthly_cap=300,
        month_spent=0,
    )


async def test_history_is_oldest_first_and_limit_keeps_the_last(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.create_account("beta")
    for i in range(5):
        await any_store.topup("acme", 100 + i, reference=f"o-{i}")
        await any_store.adjust("beta", 1, note="goodwill")
    amounts = [e.amount for e in await any_store.history("acme")]
    assert amounts == [100, 101, 102, 103, 104]
    assert [e.amount for e in await any_store.history("acme", limit=2)] == [103, 104]
    assert await any_store.history("acme", limit=0) == []
    assert [e.balance_after for e in await any_store.history("beta")] == [1, 2, 3, 4, 5]
    assert await any_store.history("acme", limit=10) == await any_store.history("acme")


async def test_verify_ledger_on_an_empty_store_and_after_changes(any_store: Store) -> None:
    assert await any_store.verify_ledger() == {}
    await any_store.create_account("acme")
    await any_store.topup("acme", 100, reference="o")
    await any_store.adjust("acme", -7, note="correction")
    assert await any_store.verify_ledger() == {}


async def test_concurrent_adjusts_keep_journal_and_balance_equal(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.set_account("acme", credit_limit=10)
    amounts = [(-1) ** i * (i % 7 + 1) for i in range(40)]
    results = await asyncio.gather(
        *(any_store.adjust("acme", amount, note=f"n{i}") for i, amount in enumerate(amounts)),
        return_exceptions=True,
    )
    assert all(isinstance(r, InsufficientCredit) for r in results if isinstance(r, BaseException))
    applied = [r.entry for r in results if not isinstance(r, BaseException)]
    balance = await any_store.balance("acme")
    assert balance.balance == sum(e.amount for e in applied)
    history = await any_store.history("acme")
    assert sorted(e.id for e in history) == sorted(e.id for e in applied)
    running = 0
    for e in history:  # each entry's balance_after follows the one before
        running += e.amount
        assert e.balance_after == running >= -10
    assert await any_store.verify_ledger() == {}


async def test_concurrent_topups_and_adjusts_of_two_accounts(any_store: Store) -> None:
    for name in ("acme", "beta"):
        await any_store.create_account(name)
        await any_store.set_account(name, credit_limit=30)  # adjusts may come first
    calls = [
        any_store.topup(name, 100, reference=f"{name}-{i % 5}")
        for i in range(20)
        for name in ("acme", "beta")
    ] + [any_store.adjust(name, -3, note="use") for _ in range(10) for name in ("acme", "beta")]
    await asyncio.gather(*calls)
    for name in ("acme", "beta"):
        assert (await any_store.balance(name)).balance == 500 - 30
    assert await any_store.verify_ledger() == {}
