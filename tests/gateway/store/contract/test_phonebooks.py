"""Phonebooks and their contacts, and the inbound messages' listing, on every backend."""

from __future__ import annotations

import asyncio

import pytest

from gateway.model.errors import AlreadyExists, NotFound, UserError
from gateway.model.records import InboundMessage, Phonebook, PhonebookContact
from gateway.store.base import Store
from tests.clock import FakeClock


def contact(name: str, number: str) -> PhonebookContact:
    return PhonebookContact(name=name, number=number)


async def test_phonebook_is_created_empty(any_store: Store, clock: FakeClock) -> None:
    await any_store.create_account("acme")
    book = await any_store.create_phonebook("acme", "clients")
    assert book == Phonebook(account="acme", name="clients", contacts=0, created_at=clock.now)
    assert await any_store.list_phonebooks("acme") == [book]
    assert await any_store.phonebook_contacts("acme", "clients") == []


async def test_phonebook_import_adds_and_renames_contacts(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.create_phonebook("acme", "clients")
    added, updated = await any_store.import_contacts(
        "acme", "clients", [contact("Ann", "+33612345678"), contact("Bob", "+33612345679")]
    )
    assert (added, updated) == (2, 0)
    added, updated = await any_store.import_contacts(
        "acme", "clients", [contact("Annie", "+33612345678"), contact("Cy", "+33612345670")]
    )
    assert (added, updated) == (1, 1)
    assert await any_store.import_contacts("acme", "clients", []) == (0, 0)
    assert await any_store.phonebook_contacts("acme", "clients") == [
        contact("Annie", "+33612345678"),
        contact("Bob", "+33612345679"),
        contact("Cy", "+33612345670"),
    ]
    [book] = await any_store.list_phonebooks("acme")
    assert (book.name, book.contacts) == ("clients", 3)


async def test_a_number_twice_in_one_import_is_added_then_renamed(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.create_phonebook("acme", "clients")
    counts = await any_store.import_contacts(
        "acme", "clients", [contact("Ann", "+33612345678"), contact("Annie", "+33612345678")]
    )
    assert counts == (1, 1)
    assert await any_store.phonebook_contacts("acme", "clients") == [
        contact("Annie", "+33612345678")
    ]


async def test_phonebooks_are_listed_by_name_with_their_sizes(any_store: Store) -> None:
    for name in ("acme", "beta"):
        await any_store.create_account(name)
    for name in ("vip", "Clients", "all"):
        await any_store.create_phonebook("acme", name)
    await any_store.create_phonebook("beta", "vip")  # the same name in another account
    await any_store.import_contacts("acme", "vip", [contact("Ann", "+33612345678")])
    books = await any_store.list_phonebooks("acme")
    assert [(b.name, b.contacts) for b in books] == [("Clients", 0), ("all", 0), ("vip", 1)]
    assert await any_store.phonebook_contacts("beta", "vip") == []


async def test_concurrent_imports_into_one_phonebook_count_each_contact_once(
    any_store: Store,
) -> None:
    await any_store.create_account("acme")
    await any_store.create_phonebook("acme", "clients")
    batches = [
        [contact(f"c{i}", f"+3361234{i:04d}") for i in range(start, start + 50)]
        for start in range(0, 400, 25)  # each half overlaps the next batch
    ]
    results = await asyncio.gather(
        *(any_store.import_contacts("acme", "clients", batch) for batch in batches)
    )
    assert sum(added for added, _ in results) == 425
    assert sum(added + updated for added, updated in results) == 50 * len(batches)
    [book] = await any_store.list_phonebooks("acme")
    assert book.contacts == 425


async def test_phonebook_errors(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.create_phonebook("acme", "clients")
    with pytest.raises(AlreadyExists, match="phonebook 'clients' already exists for account"):
        await any_store.create_phonebook("acme", "clients")
    with pytest.raises(NotFound, match="smsgw phonebook create acme vip"):
        await any_store.phonebook_contacts("acme", "vip")
    with pytest.raises(NotFound, match="smsgw phonebook create acme vip"):
        await any_store.import_contacts("acme", "vip", [contact("Ann", "+33612345678")])
    with pytest.raises(UserError, match="bad phonebook name"):
        await any_store.create_phonebook("acme", "../x")
    for call in (
        any_store.create_phonebook("ghost", "clients"),
        any_store.list_phonebooks("ghost"),
        any_store.phonebook_contacts("ghost", "clients"),
        any_store.import_contacts("ghost", "clients", []),
    ):
        with pytest.raises(NotFound, match="smsgw account create ghost"):
            await call


async def test_no_inbound_messages_yet(any_store: Store) -> None:
    await any_store.create_account("acme")
    assert await any_store.list_inbound() == []
    assert await any_store.list_inbound(account="acme") == []
    with pytest.raises(NotFound, match="smsgw account create ghost"):
        await any_store.list_inbound(account="ghost")


async def test_inbound_messages_are_listed_newest_first(any_store: Store) -> None:
    await any_store.create_account("acme")
    stored = [
        InboundMessage(
            id=f"IN{i}",
            account="acme" if i < 3 else None,
            link="op-a",
            source="+33612345678",
            destination="+33700000000",
            text=f"reply {i}",
            received_at=1000.0 + i,
        )
        for i in range(4)
    ]
    for message in stored:
        await any_store.add_inbound(message)
    assert await any_store.list_inbound() == stored[::-1]
    assert [m.id for m in await any_store.list_inbound(account="acme")] == ["IN2", "IN1", "IN0"]
    assert [m.id for m in await any_store.list_inbound(account="acme", limit=2)] == ["IN2", "IN1"]
