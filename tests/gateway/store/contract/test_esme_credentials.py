"""ESME credentials (the SMPP server's binds), on every backend."""

from __future__ import annotations

import pytest

from gateway.model.errors import AlreadyExists, NotFound, UserError
from gateway.model.esme import EsmeCredential
from gateway.model.esme_ingress import UnknownSystemId, WrongPassword
from gateway.store.base import Store
from gateway.store.esme_credentials import PASSWORD_LENGTH
from tests.clock import FakeClock


async def test_created_credential_binds_with_its_password_only(
    any_store: Store, clock: FakeClock
) -> None:
    await any_store.create_account("acme")
    credential, password = await any_store.create_esme_credential(
        "acme", "acme1", max_binds=3, throughput=50, allow=["192.0.2.7", "2001:db8::/32"]
    )
    assert credential == EsmeCredential(
        account="acme",
        system_id="acme1",
        max_binds=3,
        throughput=50,
        allow=("192.0.2.7/32", "2001:db8::/32"),
        created_at=clock.now,
    )
    assert len(password) == PASSWORD_LENGTH
    assert await any_store.esme_credential_for_bind("acme1", password) == credential
    with pytest.raises(WrongPassword, match="wrong password for system_id 'acme1'"):
        await any_store.esme_credential_for_bind("acme1", password[::-1] + "x")
    with pytest.raises(UnknownSystemId, match="no ESME credential has system_id 'ghost'"):
        await any_store.esme_credential_for_bind("ghost", password)


async def test_system_id_is_unique_across_accounts(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.create_account("beta")
    await any_store.create_esme_credential("acme", "shared")
    with pytest.raises(AlreadyExists, match="system_id 'shared' already exists"):
        await any_store.create_esme_credential("beta", "shared")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"system_id": "x" * 16}, "bad system_id"),
        ({"system_id": "a b"}, "bad system_id"),
        ({"max_binds": 0}, "max binds 0"),
        ({"throughput": 0}, "throughput 0"),
        ({"allow": ["not-an-address"]}, "bad allow entry"),
        ({"throughput": 1_000_001}, "throughput 1000001: 1 to 1,000,000"),
        ({"options": ["zip"]}, "unknown ESME option 'zip'"),
    ],
)
async def test_bad_settings_are_refused(
    any_store: Store, kwargs: dict[str, object], message: str
) -> None:
    await any_store.create_account("acme")
    args: dict[str, object] = {"system_id": "acme1"} | kwargs
    system_id = str(args.pop("system_id"))
    with pytest.raises(UserError, match=message):
        await any_store.create_esme_credential("acme", system_id, **args)  # type: ignore[arg-type]
    assert await any_store.list_esme_credentials() == []


async def test_unknown_account_is_refused(any_store: Store) -> None:
    with pytest.raises(NotFound, match="unknown account 'ghost'"):
        await any_store.create_esme_credential("ghost", "g1")


async def test_list_remove_and_options(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.create_account("beta")
    await any_store.create_esme_credential("beta", "b1")
    await any_store.create_esme_credential("acme", "a2", options=["latin1"])
    await any_store.create_esme_credential("acme", "a1")
    listed = await any_store.list_esme_credentials()
    assert [(c.account, c.system_id) for c in listed] == [
        ("acme", "a1"),
        ("acme", "a2"),
        ("beta", "b1"),
    ]
    assert listed[1].options == ("latin1",)
    assert [c.system_id for c in await any_store.list_esme_credentials("beta")] == ["b1"]
    removed = await any_store.remove_esme_credential("acme", "a1")
    assert removed.system_id == "a1"
    with pytest.raises(NotFound, match="no ESME credential 'a1'"):
        await any_store.remove_esme_credential("acme", "a1")
    with pytest.raises(NotFound, match="no ESME credential 'b1'"):
        await any_store.remove_esme_credential("acme", "b1")  # another account's
    assert [c.system_id for c in await any_store.list_esme_credentials()] == ["a2", "b1"]


async def test_new_password_replaces_the_old(any_store: Store) -> None:
    await any_store.create_account("acme")
    _, old = await any_store.create_esme_credential("acme", "acme1")
    new = await any_store.set_esme_password("acme", "acme1")
    assert new != old
    await any_store.esme_credential_for_bind("acme1", new)
    with pytest.raises(WrongPassword):
        await any_store.esme_credential_for_bind("acme1", old)
    with pytest.raises(NotFound):
        await any_store.set_esme_password("acme", "ghost")
