"""The ledger: top-ups, limits, monthly cap, low-balance alert, journal CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import sqlite3

import pytest
import structlog
from structlog.testing import capture_logs

from gateway.accounting.journal import journal_csv
from gateway.accounting.ledger import AccountState, Ledger, parse_amount
from gateway.ingress.pipeline import SendRequest, SendService
from gateway.model.errors import AlreadyExists, InsufficientCredit, MonthlyCapReached, UserError
from gateway.model.records import Enqueued, EntryKind
from gateway.store.pages import journal_rows
from gateway.store.sqlite.store import SqliteStore
from tests.gateway.store.support import make_account, new_message


@pytest.fixture
def ledger(store: SqliteStore) -> Ledger:
    return Ledger(store=store, min_topup=100, log=structlog.get_logger())


def _state(**kw: int | None) -> AccountState:
    base: dict[str, object] = {
        "name": "acme",
        "balance": 100,
        "credit_limit": 0,
        "monthly_cap": None,
        "alert_below": None,
        "alert_armed": True,
        "month": "2026-03",
        "month_spent": 0,
    }
    base.update(kw)
    return AccountState(**base)  # type: ignore[arg-type]


NOW = dt.datetime(2026, 3, 15, tzinfo=dt.UTC).timestamp()
NEXT_MONTH = dt.datetime(2026, 4, 1, 0, 0, 1, tzinfo=dt.UTC).timestamp()


def test_debit_within_balance_and_credit_limit() -> None:
    st = _state(balance=10, credit_limit=5)
    st.debit(15, NOW)
    assert st.balance == -5
    with pytest.raises(InsufficientCredit, match="balance -5 \\(credit limit 5\\), needed 1"):
        st.debit(1, NOW)


def test_monthly_cap_counts_the_calendar_month_in_utc() -> None:
    st = _state(balance=1000, monthly_cap=150)
    st.debit(140, NOW)
    with pytest.raises(MonthlyCapReached, match="spent 140 of 150 this month, needed 20"):
        st.debit(20, NOW)
    st.debit(20, NEXT_MONTH)  # a new month starts from zero
    assert (st.month, st.month_spent) == ("2026-04", 20)


def test_refund_gives_back_this_months_spending_only() -> None:
    st = _state(balance=1000, monthly_cap=150)
    st.debit(100, NOW)
    st.refund(40, NOW, debited_at=NOW)
    assert st.month_spent == 60
    st.debit(10, NEXT_MONTH)
    st.refund(50, NEXT_MONTH, debited_at=NOW)  # last month's debit
    assert (st.month_spent, st.balance) == (10, 1000 - 100 + 40 - 10 + 50)


def test_alert_crossing_is_reported_once_per_crossing() -> None:
    st = _state(balance=100, alert_below=50)
    assert st.debit(40, NOW) is None
    crossing = st.debit(20, NOW)
    assert crossing is not None
    assert (crossing.balance, crossing.alert_below) == (40, 50)
    assert st.debit(10, NOW) is None  # still below: no second alert
    assert st.topup(100, NOW) is None  # back above: re-armed
    assert st.debit(100, NOW) is not None


def test_adjustment_cannot_pass_the_credit_limit() -> None:
    st = _state(balance=10, credit_limit=0)
    with pytest.raises(InsufficientCredit):
        st.adjust(-11, NOW)
    st.adjust(-10, NOW)
    assert st.balance == 0


@pytest.mark.parametrize("raw", ["abc", "1.5", "", "-3"])
def test_bad_amount_is_refused(raw: str) -> None:
    with pytest.raises(UserError, match="bad amount"):
        parse_amount(raw)


def test_signed_amount_may_be_negative() -> None:
    assert parse_amount("-3", signed=True) == -3
    assert parse_amount("1_000") == 1000


async def test_topup_with_same_reference_credits_once(store: SqliteStore, ledger: Ledger) -> None:
    await store.create_account("acme")
    first = await ledger.topup("acme", 500, reference="ORDER-1")
    again = await ledger.topup("acme", 500, reference="ORDER-1")
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.entry.id == first.entry.id
    assert (await ledger.balance("acme")).balance == 500
    with pytest.raises(AlreadyExists, match="already credited with 500 credits, not 700"):
        await ledger.topup("acme", 700, reference="ORDER-1")


async def test_topup_below_minimum_pack_is_refused(store: SqliteStore, ledger: Ledger) -> None:
    await store.create_account("acme")
    with pytest.raises(UserError, match="minimum pack is 100 credits"):
        await ledger.topup("acme", 99, reference="ORDER-2")
    assert (await ledger.balance("acme")).balance == 0


async def test_bad_order_reference_is_refused(store: SqliteStore, ledger: Ledger) -> None:
    await store.create_account("acme")
    with pytest.raises(UserError, match="bad order reference"):
        await ledger.topup("acme", 100, reference="has space")


async def test_adjustment_needs_a_reason_and_is_journaled(
    store: SqliteStore, ledger: Ledger
) -> None:
    await store.create_account("acme")
    with pytest.raises(UserError, match="needs a reason"):
        await ledger.adjust("acme", 5, reason=" ")
    result = await ledger.adjust("acme", 5, reason="goodwill")
    assert (result.entry.kind, result.entry.note) == (EntryKind.ADJUSTMENT, "goodwill")


async def test_alert_crossing_is_logged_once(store: SqliteStore) -> None:
    await make_account(store, credit=100)
    await store.set_account("acme", alert_below=95)
    with capture_logs() as logs:
        service = SendService(store=store, log=structlog.get_logger())
        for i in range(4):
            await service.send(
                SendRequest(
                    account="acme", sender="ACME", recipients=[f"+3361234567{i}"], text="x" * 200
                )
            )
    crossed = [e for e in logs if e["event"] == "credit_low_crossed"]
    assert len(crossed) == 1
    assert crossed[0]["balance"] == 94  # 100 - 2 - 2 - 2


async def test_history_csv_opens_in_a_spreadsheet(store: SqliteStore, ledger: Ledger) -> None:
    await make_account(store, credit=0)
    await ledger.topup("acme", 200, reference="ORDER-9")
    r = (await store.enqueue([new_message(segments=2, price=3)])).results[0]
    assert isinstance(r, Enqueued)
    await ledger.adjust("acme", -4, reason='goodwill, "late" fix')
    text = journal_csv(await journal_rows(store, await ledger.history("acme")))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "date",
        "kind",
        "amount",
        "balance_after",
        "reference",
        "message",
        "destination",
        "segments",
    ]
    assert rows[1][1:5] == ["topup", "200", "200", "ORDER-9"]
    assert rows[2][1:4] == ["debit", "-6", "194"]
    assert rows[2][5:] == [r.message.id, r.message.destination, "2"]
    assert rows[3][1:8] == ["adjustment", "-4", "190", 'goodwill, "late" fix', "", "", ""]
    assert '"goodwill, ""late"" fix"' in text  # RFC 4180 quoting
    assert text.count("\r\n") == 4
    assert rows[1][0] == "2026-03-15T12:00:00Z"


async def test_verify_finds_a_tampered_balance(store: SqliteStore, ledger: Ledger) -> None:
    await store.create_account("acme")
    await ledger.topup("acme", 100, reference="o")
    assert await ledger.verify() == {}
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE accounts SET balance = 5")
    conn.commit()
    conn.close()
    assert await ledger.verify() == {"acme": (5, 100)}
