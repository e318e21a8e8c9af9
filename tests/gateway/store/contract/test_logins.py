"""Console logins and sessions, and contacts removed, on every backend."""

from __future__ import annotations

import pytest

from gateway.model.errors import AlreadyExists, NotFound, UserError
from gateway.model.logins import LoginRole
from gateway.model.records import PhonebookContact
from gateway.store.base import Store
from gateway.store.logins import hash_password, verify_password
from tests.clock import FakeClock

# a cheap KDF cost for tests: the scheme is the same, only slower in production
HASH = hash_password("one-time-password", n=2**4)


async def test_login_is_created_with_a_password_to_change(
    any_store: Store, clock: FakeClock
) -> None:
    await any_store.create_account("acme")
    login = await any_store.create_login("acme", " Ann@Example.COM ", LoginRole.CUSTOMER, HASH)
    assert login.email == "ann@example.com"
    assert (login.account, login.role, login.must_change) == ("acme", LoginRole.CUSTOMER, True)
    assert (login.failed_attempts, login.locked_until, login.disabled) == (0, None, False)
    assert login.created_at == clock.now
    assert verify_password("one-time-password", login.password_hash)
    assert not verify_password("another", login.password_hash)
    assert await any_store.get_login("ANN@example.com") == login
    assert await any_store.get_login("bob@example.com") is None
    assert await any_store.list_logins() == [login]
    assert await any_store.list_logins("acme") == [login]


async def test_login_email_is_unique_and_checked(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.create_account("other")
    await any_store.create_login("acme", "ann@example.com", LoginRole.OPERATOR, HASH)
    with pytest.raises(AlreadyExists):
        await any_store.create_login("other", "Ann@example.com", LoginRole.CUSTOMER, HASH)
    with pytest.raises(UserError, match="bad email"):
        await any_store.create_login("acme", "not-an-email", LoginRole.CUSTOMER, HASH)
    with pytest.raises(NotFound, match="unknown account"):
        await any_store.create_login("nobody", "cy@example.com", LoginRole.CUSTOMER, HASH)
    assert [x.account for x in await any_store.list_logins()] == ["acme"]
    assert await any_store.list_logins("other") == []


async def test_wrong_passwords_lock_the_login_for_a_while(
    any_store: Store, clock: FakeClock
) -> None:
    await any_store.create_account("acme")
    await any_store.create_login("acme", "ann@example.com", LoginRole.CUSTOMER, HASH)
    for attempt in (1, 2):
        login = await any_store.login_failed("ann@example.com", max_failures=3, lock_seconds=60)
        assert (login.failed_attempts, login.locked_until) == (attempt, None)
    login = await any_store.login_failed("ann@example.com", max_failures=3, lock_seconds=60)
    assert (login.failed_attempts, login.locked_until) == (3, clock.now + 60)
    clock.advance(61)
    login = await any_store.login_failed("ann@example.com", max_failures=3, lock_seconds=60)
    assert (login.failed_attempts, login.locked_until) == (1, None)
    with pytest.raises(NotFound):
        await any_store.login_failed("bob@example.com", max_failures=3, lock_seconds=60)


async def test_session_is_found_by_its_token_until_it_expires(
    any_store: Store, clock: FakeClock
) -> None:
    await any_store.create_account("acme")
    await any_store.create_login("acme", "ann@example.com", LoginRole.CUSTOMER, HASH)
    await any_store.login_failed("ann@example.com", max_failures=5, lock_seconds=60)
    session, token = await any_store.create_session("ann@example.com", ttl=100)
    assert session.login.failed_attempts == 0
    assert (session.created_at, session.expires_at) == (clock.now, clock.now + 100)
    found = await any_store.get_session(token)
    assert found == session
    assert found.csrf
    assert found.csrf != token
    assert await any_store.get_session(token + "x") is None
    clock.advance(101)
    assert await any_store.get_session(token) is None


async def test_session_ends_at_log_out_and_when_its_login_is_disabled(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.create_login("acme", "ann@example.com", LoginRole.CUSTOMER, HASH)
    _, first = await any_store.create_session("ann@example.com", ttl=100)
    _, second = await any_store.create_session("ann@example.com", ttl=100)
    await any_store.end_session(first)
    assert await any_store.get_session(first) is None
    assert await any_store.get_session(second) is not None
    login = await any_store.disable_login("ann@example.com")
    assert login.disabled
    assert await any_store.get_session(second) is None
    with pytest.raises(NotFound):
        await any_store.disable_login("bob@example.com")


async def test_new_password_clears_must_change_and_the_lock(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.create_login("acme", "ann@example.com", LoginRole.CUSTOMER, HASH)
    _, token = await any_store.create_session("ann@example.com", ttl=100)
    await any_store.login_failed("ann@example.com", max_failures=1, lock_seconds=60)
    new = hash_password("a new password", n=2**4)
    login = await any_store.set_login_password("ann@example.com", new)
    assert (login.must_change, login.failed_attempts, login.locked_until) == (False, 0, None)
    assert verify_password("a new password", login.password_hash)
    assert await any_store.get_session(token) is None  # its sessions ended
    login = await any_store.set_login_password("ann@example.com", HASH, must_change=True)
    assert login.must_change


async def test_contact_is_removed_from_its_phonebook(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.create_phonebook("acme", "clients")
    await any_store.import_contacts(
        "acme",
        "clients",
        [
            PhonebookContact(name="Ann", number="+33612345678"),
            PhonebookContact(name="Bob", number="+33612345679"),
        ],
    )
    await any_store.remove_contact("acme", "clients", "+33612345678")
    assert await any_store.phonebook_contacts("acme", "clients") == [
        PhonebookContact(name="Bob", number="+33612345679")
    ]
    with pytest.raises(NotFound):
        await any_store.remove_contact("acme", "clients", "+33612345678")
    with pytest.raises(NotFound):
        await any_store.remove_contact("acme", "nobook", "+33612345679")
