"""``smsgw store copy``: a SQLite store moved whole into PostgreSQL, or not at all."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import asyncpg
import pytest

from gateway.link.interface import Receipt
from gateway.model.errors import StoreInUse
from gateway.model.logins import LoginRole
from gateway.model.outcomes import Accepted, ReceiptState
from gateway.model.raw_body import RawBody
from gateway.model.records import (
    InboundMessage,
    Lease,
    MetricCount,
    OutcomeRecord,
    PhonebookContact,
)
from gateway.store.copy import TABLES, CopyRefused, copy_sqlite_to_postgres
from gateway.store.postgres.store import PostgresStore
from gateway.store.runlock import hold_store
from gateway.store.sqlite.store import SqliteStore
from tests.clock import FakeClock
from tests.gateway.cli.clirun import Cli
from tests.gateway.store.esme_support import add_credential
from tests.gateway.store.replies import LONG_GSM, parts_of
from tests.gateway.store.support import fresh_store, make_account, new_message

ESME_PASSWORDS: dict[Path, str] = {}  # the filled store's ESME password, by its directory
OPERATOR_TOKENS: dict[Path, str] = {}  # its operator token in force, likewise


async def filled_store(tmp_path: Path, clock: FakeClock) -> SqliteStore:
    """A store with a row in every table."""
    store = await fresh_store(tmp_path, clock)
    await make_account(store, credit=5000)
    await make_account(store, "zeta", credit=700)
    await store.set_account("acme", credit_limit=50, monthly_cap=10_000)
    await store.adjust("acme", -3, note="goodwill")
    await store.create_token("acme")
    await store.create_token("zeta", name="Shop (prod)")
    await store.revoke_operator_token((await store.create_operator_token("ops-old"))[0].id)
    _, OPERATOR_TOKENS[tmp_path] = await store.create_operator_token("ops")
    _, esme_password = await store.create_esme_credential("acme", "acme1", allow=["192.0.2.0/24"])
    ESME_PASSWORDS[tmp_path] = esme_password
    await store.create_login("acme", "ann@acme.example", LoginRole.CUSTOMER, "scrypt$hash")
    await store.create_session("ann@acme.example", ttl=3600)
    await store.set_price("+33", 2, account="zeta")
    await store.create_phonebook("acme", "team")
    await store.import_contacts(
        "acme", "team", [_contact("+33612345678", "Ana"), _contact("+33612345679", "Bo")]
    )
    hooked = dataclasses.replace(new_message("+33612345601"), callback_url="https://h.example/x")
    cut = RawBody(data_coding=0xF5, udh=bytes((5, 0, 3, 1, 2, 1)), body=b"\xff", encoding="8bit")
    queued = await store.enqueue(
        [
            hooked,
            new_message("+33612345602", client_ref="r1", body_hash="h"),
            dataclasses.replace(new_message("+33612345604"), raw=cut.pack()),  # an ESME's segment
        ]
    )
    sent = await store.enqueue(
        [new_message("+33612345603", segments=2, price=2)], lease=Lease(worker="gw", seconds=300)
    )
    [message] = [r.message for r in sent.results]  # type: ignore[union-attr]
    await store.record_outcomes(
        [
            OutcomeRecord(
                message_id=message.id, index=0, link="op-a", outcome=Accepted(smsc_id="s0")
            ),
        ],
        now=clock(),
    )
    await store.record_receipts(  # one that came before its submit answer: kept waiting
        [Receipt(link="op-a", smsc_id="early", state=ReceiptState.DELIVERED)], now=clock()
    )
    await add_credential(store, "acme", "esme1")  # the reply below waits for its ESME
    await store.add_inbound(
        InboundMessage(
            id="in-1",
            account="acme",
            link="op-a",
            source="+33699999999",
            destination="ACME",
            text="STOP",
            received_at=clock(),
        ),
        stop=True,  # and its source on acme's stoplist
    )
    await store.create_order("zeta", 300)  # pending
    await store.cancel_order((await store.create_order("zeta", 400)).id)
    held = parts_of(LONG_GSM, destination="ACME", at=clock())[0]  # a reply not whole yet
    assert await store.add_inbound_part(held, account="acme", now=clock()) is None
    await store.add_metric_counts([MetricCount("message_accepted", (("account", "acme"),), 3)])
    assert len(queued.results) == 3
    return store


def _contact(number: str, name: str) -> PhonebookContact:
    return PhonebookContact(number=number, name=name)


async def _pg_counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}  # noqa: S608
    finally:
        await conn.close()


async def test_every_table_is_copied_with_its_counts_checked(
    tmp_path: Path, clock: FakeClock, postgres_url: str
) -> None:
    store = await filled_store(tmp_path, clock)
    verify = await store.verify_ledger()
    await store.close()
    report = await copy_sqlite_to_postgres(tmp_path / "gw.db", postgres_url)
    assert verify == {}  # the source's journal matches its balances
    assert report.counts == await _pg_counts(postgres_url)
    assert all(report.counts[t] > 0 for t in TABLES), report.counts
    conn = await asyncpg.connect(postgres_url)
    try:
        balances = {
            r["name"]: r["balance"] for r in await conn.fetch("SELECT name, balance FROM accounts")
        }
        armed = await conn.fetchval("SELECT alert_armed FROM accounts WHERE name = 'acme'")
        # ids go on from where the copied rows end
        next_entry = await conn.fetchval(
            "INSERT INTO ledger (account, at, kind, amount, balance_after) "
            "VALUES ('acme', 0, 'adjustment', 0, 0) RETURNING id"
        )
        last_copied = report.counts["ledger"]
    finally:
        await conn.close()
    assert balances == {"acme": 5000 - 3 - 1 - 1 - 1 - 2 * 2, "zeta": 700}
    assert armed is True
    assert next_entry > last_copied


async def test_the_copy_reads_back_through_the_store_as_the_source_did(
    tmp_path: Path, clock: FakeClock, postgres_url: str
) -> None:
    source = await filled_store(tmp_path, clock)
    before = (
        await source.balance("acme"),
        await source.history("acme"),
        await source.list_messages(account="acme"),
        await source.list_senders("acme"),
        await source.phonebook_contacts("acme", "team"),
        await source.list_inbound(account="acme"),
        await source.pending_mqtt_events(limit=1000),
        await source.list_orders(),
        await source.list_stops("acme"),
        await source.list_operator_tokens(),
        await source.list_tokens(),
    )
    await source.close()
    await copy_sqlite_to_postgres(tmp_path / "gw.db", postgres_url)
    target = await PostgresStore.open(postgres_url, clock=clock)
    try:
        after = (
            await target.balance("acme"),
            await target.history("acme"),
            await target.list_messages(account="acme"),
            await target.list_senders("acme"),
            await target.phonebook_contacts("acme", "team"),
            await target.list_inbound(account="acme"),
            await target.pending_mqtt_events(limit=1000),
            await target.list_orders(),
            await target.list_stops("acme"),
            await target.list_operator_tokens(),
            await target.list_tokens(),
        )
        assert await target.verify_ledger() == {}
        # the tokens' names came along, and no name stays none
        assert [t.name for t in before[10]] == [None, "Shop (prod)"]
        # order ids go on from where the copied ones end
        assert (await target.create_order("zeta", 100)).id > max(o.id for o in before[7])
        # the ESME binds on the target with the password made on the source
        bound = await target.esme_credential_for_bind("acme1", ESME_PASSWORDS[tmp_path])
        assert bound.allow == ("192.0.2.0/24",)
        # the operator token in force works on the target; the revoked one stays revoked
        operator = await target.operator_for_token(OPERATOR_TOKENS[tmp_path])
        assert operator is not None
        assert operator.name == "ops"
        # operator token ids go on from where the copied ones end
        newer, _ = await target.create_operator_token("ops-new")
        assert newer.id > operator.id
        # the reply held in the source goes on in the target
        for part in parts_of(LONG_GSM, destination="ACME", at=clock())[1:]:
            reply = await target.add_inbound_part(part, account="acme", now=clock())
        assert reply is not None
        assert reply.message.text == LONG_GSM
    finally:
        await target.close()
    assert after == before


async def test_a_target_with_rows_is_refused_and_left_as_it_was(
    tmp_path: Path, clock: FakeClock, postgres_url: str
) -> None:
    store = await filled_store(tmp_path, clock)
    await store.close()
    await copy_sqlite_to_postgres(tmp_path / "gw.db", postgres_url)
    before = await _pg_counts(postgres_url)
    with pytest.raises(CopyRefused, match="already holds data"):
        await copy_sqlite_to_postgres(tmp_path / "gw.db", postgres_url)
    assert await _pg_counts(postgres_url) == before


async def test_a_store_a_daemon_runs_on_is_refused(
    tmp_path: Path, clock: FakeClock, postgres_url: str
) -> None:
    store = await filled_store(tmp_path, clock)
    await store.close()
    lock = hold_store(tmp_path / "gw.db")  # as `smsgw run` holds it
    try:
        with pytest.raises(StoreInUse):
            await copy_sqlite_to_postgres(tmp_path / "gw.db", postgres_url)
    finally:
        lock.release()
    conn = await asyncpg.connect(postgres_url)
    try:  # refused before the target was even opened
        assert (
            await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        )
    finally:
        await conn.close()


def test_the_command_prints_the_counts_and_refuses_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_url: str
) -> None:
    cli = Cli(tmp_path, capsys)
    cli.ready_account()
    done = cli.ok("store", "copy", "--from", f"sqlite:{cli.db}", "--to", postgres_url, "--json")
    assert done.json()["tables"]["accounts"] == 1
    assert done.json()["rows"] == sum(done.json()["tables"].values())
    cli.fails(
        "store",
        "copy",
        "--from",
        f"sqlite:{cli.db}",
        "--to",
        postgres_url,
        match="already holds data",
    )
    cli.fails(
        "store",
        "copy",
        "--from",
        f"sqlite:{tmp_path}/none.db",
        "--to",
        postgres_url,
        match="no such store file",
    )
