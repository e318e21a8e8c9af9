"""Operators' API tokens on every backend: made, found, listed, revoked (their rows
kept), apart from the accounts' tokens."""

from __future__ import annotations

import pytest

from gateway.model.errors import AlreadyExists, NotFound, UserError
from gateway.store.base import Store
from tests.clock import FakeClock


async def test_a_token_is_found_by_its_secret_and_listed_without_it(
    any_store: Store, clock: FakeClock
) -> None:
    record, token = await any_store.create_operator_token("ops-alice")
    assert token.startswith("smsgwop_")
    assert token.startswith(record.prefix)
    assert len(record.prefix) == len("smsgwop_") + 6
    assert (record.name, record.created_at, record.revoked_at) == ("ops-alice", clock.now, None)
    assert await any_store.operator_for_token(token) == record
    assert await any_store.operator_for_token(token + "x") is None
    second, other = await any_store.create_operator_token("billing.script")
    assert other != token
    assert second.id > record.id
    assert await any_store.list_operator_tokens() == [record, second]


async def test_operator_and_account_tokens_never_answer_for_each_other(
    any_store: Store,
) -> None:
    await any_store.create_account("acme")
    _, account_token = await any_store.create_token("acme")
    operator, operator_token = await any_store.create_operator_token("ops")
    assert await any_store.operator_for_token(account_token) is None
    assert await any_store.account_for_token(operator_token) is None
    assert await any_store.list_tokens() != []
    assert [t.id for t in await any_store.list_operator_tokens()] == [operator.id]


async def test_a_revoked_token_is_refused_and_kept_as_revoked(
    any_store: Store, clock: FakeClock
) -> None:
    record, token = await any_store.create_operator_token("ops")
    clock.advance(5)
    revoked = await any_store.revoke_operator_token(record.id)
    assert revoked.revoked_at == clock.now
    assert (revoked.id, revoked.name, revoked.prefix) == (record.id, "ops", record.prefix)
    assert await any_store.operator_for_token(token) is None
    assert await any_store.list_operator_tokens() == [revoked]
    with pytest.raises(NotFound, match=rf"operator token {record.id} is already revoked"):
        await any_store.revoke_operator_token(record.id)
    with pytest.raises(NotFound, match="no operator token 999: `smsgw token list --operator`"):
        await any_store.revoke_operator_token(999)
    # the name is free again once its token is revoked
    again, fresh = await any_store.create_operator_token("ops")
    assert await any_store.operator_for_token(fresh) == again
    assert await any_store.list_operator_tokens() == [revoked, again]


async def test_names_are_unique_among_the_tokens_in_force(any_store: Store) -> None:
    record, token = await any_store.create_operator_token("ops")
    with pytest.raises(AlreadyExists, match="an operator token named 'ops' is in force"):
        await any_store.create_operator_token("ops")
    assert await any_store.list_operator_tokens() == [record]
    assert await any_store.operator_for_token(token) == record


@pytest.mark.parametrize("name", ["", "1ops", "a b", "ops/1", "x" * 65, "é"])
async def test_bad_names_are_refused_in_one_line(any_store: Store, name: str) -> None:
    with pytest.raises(UserError, match="bad operator token name") as refused:
        await any_store.create_operator_token(name)
    assert "\n" not in str(refused.value)
    assert await any_store.list_operator_tokens() == []
