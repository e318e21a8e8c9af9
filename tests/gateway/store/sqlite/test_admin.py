"""Accounts, tokens, senders, prices, phonebooks and inbound messages in the store."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path

import pytest

from gateway.model.errors import AlreadyExists, NotFound, SenderTaken, UserError
from gateway.model.message import SenderKind, SenderStatus
from gateway.model.records import InboundMessage, PhonebookContact
from gateway.store import KEEP, open_store
from gateway.store.sqlite.store import SqliteStore


async def test_account_is_created_with_zero_balance(store: SqliteStore) -> None:
    account = await store.create_account("acme")
    assert (account.name, account.balance, account.credit_limit) == ("acme", 0, 0)
    assert account.monthly_cap is None


async def test_account_created_twice_is_refused(store: SqliteStore) -> None:
    await store.create_account("acme")
    with pytest.raises(AlreadyExists, match="already exists"):
        await store.create_account("acme")


@pytest.mark.parametrize("name", ["", "a/b", "a b", "x" * 65, "+acme", "acme#"])
async def test_bad_account_name_is_refused(store: SqliteStore, name: str) -> None:
    with pytest.raises(UserError, match="bad account name"):
        await store.create_account(name)


async def test_unknown_account_says_how_to_create_it(store: SqliteStore) -> None:
    with pytest.raises(NotFound, match="smsgw account create ghost"):
        await store.get_account("ghost")


async def test_set_account_changes_only_what_is_given(store: SqliteStore) -> None:
    await store.create_account("acme")
    a = await store.set_account("acme", credit_limit=50, monthly_cap=150, alert_below=20)
    assert (a.credit_limit, a.monthly_cap, a.alert_below) == (50, 150, 20)
    a = await store.set_account("acme", credit_limit=KEEP, monthly_cap=None)
    assert (a.credit_limit, a.monthly_cap, a.alert_below) == (50, None, 20)


async def test_credit_limit_below_existing_debt_is_refused(store: SqliteStore) -> None:
    await store.create_account("acme")
    await store.set_account("acme", credit_limit=50)
    await store.adjust("acme", -40, note="postpaid use")
    with pytest.raises(UserError, match="below the account's debt"):
        await store.set_account("acme", credit_limit=10)


async def test_token_is_stored_hashed_and_resolves_to_its_account(store: SqliteStore) -> None:
    await store.create_account("acme")
    record, token = await store.create_token("acme")
    assert token.startswith("smsgw_")
    assert token.startswith(record.prefix)
    assert await store.account_for_token(token) == "acme"
    assert await store.account_for_token(token + "x") is None
    conn = sqlite3.connect(store.path)
    stored = [r[0] for r in conn.execute("SELECT token_hash FROM api_tokens")]
    conn.close()
    assert token not in stored
    assert [t.id for t in await store.list_tokens("acme")] == [record.id]


async def test_sender_starts_pending_and_keeps_refusal_reason(store: SqliteStore) -> None:
    await store.create_account("acme")
    sender = await store.add_sender("acme", "ACME", SenderKind.ALPHA)
    assert sender.status is SenderStatus.PENDING
    refused = await store.set_sender_status(
        "acme", "ACME", SenderStatus.REFUSED, reason="brand not proven"
    )
    assert (refused.status, refused.reason) == (SenderStatus.REFUSED, "brand not proven")
    got = await store.get_sender("acme", "ACME")
    assert got is not None
    assert got.reason == "brand not proven"
    assert await store.sender_owners("ACME") == ["acme"]
    assert [s.value for s in await store.list_senders("acme")] == ["ACME"]


async def test_sender_added_twice_or_unknown_is_refused(store: SqliteStore) -> None:
    await store.create_account("acme")
    await store.add_sender("acme", "ACME", SenderKind.ALPHA)
    with pytest.raises(AlreadyExists):
        await store.add_sender("acme", "ACME", SenderKind.ALPHA)
    with pytest.raises(NotFound, match="smsgw sender add"):
        await store.set_sender_status("acme", "OTHER", SenderStatus.APPROVED)


@pytest.mark.parametrize(
    ("value", "kind"), [("36180", SenderKind.SHORTCODE), ("+33612345678", SenderKind.NUMBER)]
)
async def test_short_code_or_number_has_one_approved_owner(
    store: SqliteStore,
    value: str,
    kind: SenderKind,
) -> None:
    for name in ("acme", "beta", "gamma"):
        await store.create_account(name)
    await store.add_sender("acme", value, kind)
    await store.add_sender("beta", value, kind)  # both ask; the operator picks one
    await store.set_sender_status("acme", value, SenderStatus.APPROVED)
    with pytest.raises(SenderTaken, match="is approved for account 'acme'") as taken:
        await store.set_sender_status("beta", value, SenderStatus.APPROVED)
    assert f"(smsgw sender refuse acme {value})" in str(taken.value)
    with pytest.raises(SenderTaken, match="belongs to another account") as refused:
        await store.add_sender("gamma", value, kind)
    assert "acme" not in str(refused.value)  # a customer asking is not told who owns it
    assert await store.sender_owners(value) == ["acme", "beta"]
    # moving it: refused for the owner first, then approved for the other
    await store.set_sender_status("acme", value, SenderStatus.REFUSED, reason="moved")
    await store.set_sender_status("beta", value, SenderStatus.APPROVED)
    assert await store.sender_owners(value) == ["beta", "acme"]  # the approved one first


async def test_alphanumeric_names_stay_shareable(store: SqliteStore) -> None:
    for name in ("acme", "beta"):
        await store.create_account(name)
        await store.add_sender(name, "SHOP", SenderKind.ALPHA)
        await store.set_sender_status(name, "SHOP", SenderStatus.APPROVED)
    assert await store.sender_owners("SHOP") == ["acme", "beta"]


async def test_concurrent_approvals_of_one_short_code_leave_one_owner(
    store: SqliteStore,
    tmp_path: Path,
) -> None:
    other = await open_store(f"sqlite:///{tmp_path}/gw.db")  # as another process would
    try:
        names = [f"acc{i}" for i in range(6)]
        for name in names:
            await store.create_account(name)
            await store.add_sender(name, "36180", SenderKind.SHORTCODE)
        results = await asyncio.gather(
            *(
                s.set_sender_status(n, "36180", SenderStatus.APPROVED)
                for n, s in zip(names, itertools.cycle([store, other]), strict=False)
            ),
            return_exceptions=True,
        )
    finally:
        await other.close()
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, SenderTaken) for r in results if isinstance(r, BaseException))


def test_the_database_itself_refuses_a_second_approved_owner(store: SqliteStore) -> None:
    conn = sqlite3.connect(store.path)
    try:
        conn.executemany(
            "INSERT INTO accounts (name, month, created_at) VALUES (?, '', 0)",
            [("acme",), ("beta",)],
        )
        conn.executemany(
            "INSERT INTO senders (account, value, kind, status, created_at, updated_at) "
            "VALUES (?, ?, ?, 'approved', 0, 0)",
            [("acme", "SHOP", "alpha"), ("beta", "SHOP", "alpha"), ("acme", "36180", "shortcode")],
        )
        with pytest.raises(sqlite3.IntegrityError, match=r"senders\.value"):
            conn.execute(
                "INSERT INTO senders (account, value, kind, status, created_at, updated_at) "
                "VALUES ('beta', '36180', 'shortcode', 'approved', 0, 0)"
            )
    finally:
        conn.close()


async def test_prices_per_account_and_default_are_separate_lists(store: SqliteStore) -> None:
    await store.create_account("acme")
    await store.set_price("+33", 2)
    await store.set_price("+33", 3)  # replaces
    await store.set_price("+33", 1, account="acme")
    assert [(p.prefix, p.credits) for p in await store.list_prices()] == [("+33", 3)]
    assert [(p.prefix, p.credits) for p in await store.list_prices(account="acme")] == [("+33", 1)]


async def test_send_context_reads_account_sender_and_both_price_lists(
    store: SqliteStore,
) -> None:
    await store.create_account("acme")
    await store.add_sender("acme", "ACME", SenderKind.ALPHA)
    await store.set_sender_status("acme", "ACME", SenderStatus.APPROVED)
    await store.set_price("+33", 3)
    await store.set_price("+3361", 1, account="acme")
    context = await store.send_context("acme", "ACME")
    assert context.account.name == "acme"
    assert context.sender is not None
    assert (context.sender.value, context.sender.status) == ("ACME", SenderStatus.APPROVED)
    assert [(p.prefix, p.credits) for p in context.own_prices] == [("+3361", 1)]
    assert [(p.prefix, p.credits) for p in context.default_prices] == [("+33", 3)]
    assert (await store.send_context("acme", "OTHER")).sender is None
    with pytest.raises(NotFound, match="smsgw account create ghost"):
        await store.send_context("ghost", "ACME")


async def test_phonebook_import_adds_and_renames_contacts(store: SqliteStore) -> None:
    await store.create_account("acme")
    await store.create_phonebook("acme", "clients")
    added, updated = await store.import_contacts(
        "acme",
        "clients",
        [
            PhonebookContact(name="Ann", number="+33612345678"),
            PhonebookContact(name="Bob", number="+33612345679"),
        ],
    )
    assert (added, updated) == (2, 0)
    added, updated = await store.import_contacts(
        "acme", "clients", [PhonebookContact(name="Annie", number="+33612345678")]
    )
    assert (added, updated) == (0, 1)
    contacts = await store.phonebook_contacts("acme", "clients")
    assert [(c.name, c.number) for c in contacts] == [
        ("Annie", "+33612345678"),
        ("Bob", "+33612345679"),
    ]
    [book] = await store.list_phonebooks("acme")
    assert (book.name, book.contacts) == ("clients", 2)


async def test_phonebook_errors(store: SqliteStore) -> None:
    await store.create_account("acme")
    await store.create_phonebook("acme", "clients")
    with pytest.raises(AlreadyExists):
        await store.create_phonebook("acme", "clients")
    with pytest.raises(NotFound, match="smsgw phonebook create acme vip"):
        await store.phonebook_contacts("acme", "vip")
    with pytest.raises(UserError, match="bad phonebook name"):
        await store.create_phonebook("acme", "../x")


async def test_inbound_messages_are_listed_newest_first(store: SqliteStore) -> None:
    await store.create_account("acme")
    for i in range(3):
        await store.add_inbound(
            InboundMessage(
                id=f"IN{i}",
                account="acme" if i < 2 else None,
                link="op-a",
                source="+33612345678",
                destination="+33700000000",
                text=f"reply {i}",
                received_at=1000.0 + i,
            )
        )
    assert [m.id for m in await store.list_inbound()] == ["IN2", "IN1", "IN0"]
    assert [m.id for m in await store.list_inbound(account="acme")] == ["IN1", "IN0"]
