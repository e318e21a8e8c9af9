"""Account tokens' names, on every backend: kept, listed, returned on revoke; the rules
of gateway.store.accounts.check_token_name."""

from __future__ import annotations

import pytest

from gateway.model.errors import UserError
from gateway.store.base import Store


async def test_a_name_is_kept_listed_and_returned_on_revoke(any_store: Store) -> None:
    for account in ("acme", "beta"):
        await any_store.create_account(account)
    named, token = await any_store.create_token("acme", name="Shop (prod) · café")
    unnamed, _ = await any_store.create_token("acme")
    assert named.name == "Shop (prod) · café"
    assert unnamed.name is None
    assert await any_store.account_for_token(token) == "acme"
    assert await any_store.list_tokens("acme") == [named, unnamed]
    assert await any_store.revoke_token(named.id, account="acme") == named
    assert await any_store.list_tokens() == [unnamed]


async def test_names_need_not_be_unique(any_store: Store) -> None:
    for account in ("acme", "beta"):
        await any_store.create_account(account)
    old, _ = await any_store.create_token("acme", name="crm")
    new, _ = await any_store.create_token("acme", name="crm")  # its replacement
    theirs, _ = await any_store.create_token("beta", name="crm")
    assert [t.name for t in await any_store.list_tokens()] == ["crm", "crm", "crm"]
    await any_store.revoke_token(old.id)
    assert await any_store.list_tokens() == [new, theirs]


@pytest.mark.parametrize(
    "name",
    ["", " crm", "crm ", "a\tb", "line\nbreak", "bell\x07", "x" * 65, "zero\u200bwidth"],
)
async def test_a_bad_name_is_refused_and_no_token_made(any_store: Store, name: str) -> None:
    await any_store.create_account("acme")
    with pytest.raises(UserError, match=r"bad token name .*: 1-64 printable characters") as exc:
        await any_store.create_token("acme", name=name)
    assert "\n" not in str(exc.value)
    assert await any_store.list_tokens() == []


async def test_the_longest_name_is_taken(any_store: Store) -> None:
    await any_store.create_account("acme")
    record, _ = await any_store.create_token("acme", name="é" * 64)
    assert [t.name for t in await any_store.list_tokens("acme")] == ["é" * 64]
    assert record.name == "é" * 64
