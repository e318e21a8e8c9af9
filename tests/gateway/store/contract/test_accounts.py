"""Accounts, API tokens, webhook secrets and the metrics' counters, on every backend."""

from __future__ import annotations

import asyncio

import pytest

from gateway.model.errors import AlreadyExists, NotFound, UserError
from gateway.model.records import MetricCount
from gateway.store import KEEP
from gateway.store.base import Store
from tests.clock import FakeClock
from tests.gateway.store.support import make_account


async def test_account_is_created_with_zero_balance(any_store: Store, clock: FakeClock) -> None:
    account = await any_store.create_account("acme")
    assert (account.name, account.balance, account.credit_limit) == ("acme", 0, 0)
    assert (account.monthly_cap, account.alert_below, account.month_spent) == (None, None, 0)
    assert (account.month, account.created_at) == ("2026-03", clock.now)
    assert await any_store.get_account("acme") == account


async def test_account_created_twice_is_refused(any_store: Store) -> None:
    await any_store.create_account("acme")
    with pytest.raises(AlreadyExists, match="account 'acme' already exists"):
        await any_store.create_account("acme")


async def test_account_created_at_once_twice_is_created_once(any_store: Store) -> None:
    results = await asyncio.gather(
        *(any_store.create_account("acme") for _ in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, AlreadyExists) for r in results if isinstance(r, BaseException))
    assert [a.name for a in await any_store.list_accounts()] == ["acme"]


@pytest.mark.parametrize("name", ["", "a/b", "a b", "x" * 65, "+acme", "acme#"])
async def test_bad_account_name_is_refused(any_store: Store, name: str) -> None:
    with pytest.raises(UserError, match="bad account name"):
        await any_store.create_account(name)
    assert await any_store.list_accounts() == []


async def test_unknown_account_says_how_to_create_it(any_store: Store) -> None:
    with pytest.raises(NotFound, match=r"unknown account 'ghost': .*smsgw account create ghost"):
        await any_store.get_account("ghost")
    with pytest.raises(NotFound, match="smsgw account create ghost"):
        await any_store.set_account("ghost", credit_limit=5)


async def test_accounts_are_listed_by_name_bytewise(any_store: Store) -> None:
    for name in ("beta", "Zed", "acme", "a.b", "a_b"):
        await any_store.create_account(name)
    assert [a.name for a in await any_store.list_accounts()] == sorted(
        ["beta", "Zed", "acme", "a.b", "a_b"]
    )


async def test_set_account_changes_only_what_is_given(any_store: Store) -> None:
    await any_store.create_account("acme")
    a = await any_store.set_account("acme", credit_limit=50, monthly_cap=150, alert_below=20)
    assert (a.credit_limit, a.monthly_cap, a.alert_below) == (50, 150, 20)
    a = await any_store.set_account("acme", credit_limit=KEEP, monthly_cap=None)
    assert (a.credit_limit, a.monthly_cap, a.alert_below) == (50, None, 20)
    a = await any_store.set_account("acme", alert_below=None)
    assert (a.credit_limit, a.monthly_cap, a.alert_below) == (50, None, None)
    assert await any_store.get_account("acme") == a


async def test_credit_limit_below_existing_debt_is_refused(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.set_account("acme", credit_limit=50)
    await any_store.adjust("acme", -40, note="postpaid use")
    with pytest.raises(
        UserError, match=r"credit limit 10 is below the account's debt \(balance -40\)"
    ):
        await any_store.set_account("acme", credit_limit=10, monthly_cap=5)
    account = await any_store.get_account("acme")
    assert (account.credit_limit, account.monthly_cap) == (50, None)  # nothing written


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"credit_limit": -1}, "bad credit limit: must not be negative"),
        ({"monthly_cap": -1}, "bad monthly cap: must not be negative"),
        ({"alert_below": 5, "monthly_cap": -1}, "bad monthly cap"),
    ],
)
async def test_negative_limits_are_refused(
    any_store: Store, settings: dict[str, int], error: str
) -> None:
    await any_store.create_account("acme")
    with pytest.raises(UserError, match=error):
        await any_store.set_account("acme", **settings)
    assert (await any_store.get_account("acme")).alert_below is None


async def test_a_new_alert_threshold_is_armed_again(any_store: Store) -> None:
    await make_account(any_store, credit=100)
    await any_store.set_account("acme", alert_below=95)
    crossed = await any_store.adjust("acme", -10, note="use")
    assert crossed.crossing is not None
    assert crossed.crossing.balance == 90
    assert (await any_store.adjust("acme", -1, note="use")).crossing is None  # reported once
    await any_store.set_account("acme", alert_below=80)  # above it: armed
    await any_store.set_account("acme", alert_below=95)  # below it again: not armed
    assert (await any_store.adjust("acme", -1, note="use")).crossing is None
    await any_store.set_account("acme", alert_below=80)
    crossed = await any_store.adjust("acme", -20, note="use")
    assert crossed.crossing is not None
    assert (crossed.crossing.balance, crossed.crossing.alert_below) == (68, 80)


async def test_token_resolves_to_its_account_and_is_listed(
    any_store: Store, clock: FakeClock
) -> None:
    for name in ("acme", "beta"):
        await any_store.create_account(name)
    record, token = await any_store.create_token("acme")
    assert token.startswith("smsgw_")
    assert token.startswith(record.prefix)
    assert len(record.prefix) == len("smsgw_") + 6
    assert (record.account, record.created_at) == ("acme", clock.now)
    assert await any_store.account_for_token(token) == "acme"
    assert await any_store.account_for_token(token + "x") is None
    beta, _ = await any_store.create_token("beta")
    second, other = await any_store.create_token("acme")
    assert other != token
    assert await any_store.list_tokens("acme") == [record, second]
    assert await any_store.list_tokens() == [record, beta, second]
    assert await any_store.list_tokens("beta") == [beta]


async def test_token_of_an_unknown_account_is_refused(any_store: Store) -> None:
    with pytest.raises(NotFound, match="smsgw account create ghost"):
        await any_store.create_token("ghost")
    with pytest.raises(NotFound, match="smsgw account create ghost"):
        await any_store.list_tokens("ghost")
    with pytest.raises(NotFound, match="smsgw account create ghost"):
        await any_store.revoke_token(1, account="ghost")


async def test_revoked_token_is_refused_from_then_on(any_store: Store) -> None:
    for name in ("acme", "beta"):
        await any_store.create_account(name)
    record, token = await any_store.create_token("acme")
    with pytest.raises(NotFound, match=rf"no API token {record.id} of account 'beta': "):
        await any_store.revoke_token(record.id, account="beta")  # not beta's
    assert await any_store.account_for_token(token) == "acme"
    assert await any_store.revoke_token(record.id, account="acme") == record
    assert await any_store.account_for_token(token) is None
    assert await any_store.list_tokens() == []
    with pytest.raises(NotFound, match=rf"no API token {record.id}: `smsgw token list`"):
        await any_store.revoke_token(record.id)
    again, _ = await any_store.create_token("acme")
    assert await any_store.revoke_token(again.id) == again  # any account's


async def test_webhook_secret_per_account_and_rotation(any_store: Store) -> None:
    await make_account(any_store)
    await make_account(any_store, "beta")
    secret = await any_store.webhook_secret("acme")
    assert len(secret) == 64
    bytes.fromhex(secret.decode())
    assert await any_store.webhook_secret("acme") == secret
    assert secret != await any_store.webhook_secret("beta")
    new = await any_store.rotate_webhook_secret("acme")
    assert new.encode() == await any_store.webhook_secret("acme") != secret
    with pytest.raises(NotFound, match="smsgw account create ghost"):
        await any_store.webhook_secret("ghost")
    with pytest.raises(NotFound, match="smsgw account create ghost"):
        await any_store.rotate_webhook_secret("ghost")


async def test_metric_counts_add_up_until_taken_once(any_store: Store) -> None:
    sent = MetricCount(name="message_accepted", labels=(("account", "acme"),), amount=2)
    final = MetricCount(
        name="message_finished", labels=(("account", "acme"), ("status", "cancelled")), amount=1
    )
    await any_store.add_metric_counts([sent, final])
    await any_store.add_metric_counts([sent._replace(amount=3), final._replace(amount=0)])
    await any_store.add_metric_counts([])
    taken = await any_store.take_metric_counts()
    assert sorted(taken) == [sent._replace(amount=5), final]
    assert await any_store.take_metric_counts() == []


async def test_metric_counts_added_at_once_are_all_taken(any_store: Store) -> None:
    counts = [
        MetricCount(name="message_accepted", labels=(("account", a),), amount=1)
        for a in ("acme", "beta", "gamma")
    ]
    await asyncio.gather(
        *(any_store.add_metric_counts(counts[i % 3 :] + counts[: i % 3]) for i in range(12))
    )
    taken = await any_store.take_metric_counts()
    assert sorted(taken) == [c._replace(amount=12) for c in counts]
