"""``smsgw credit add | show | history [--csv] | adjust``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.gateway.cli.clirun import Cli


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path, capsys)
    c.ok("account", "create", "acme")
    return c


def test_topup_is_idempotent_by_order_reference(cli: Cli) -> None:
    assert "balance 500" in cli.ok("credit", "add", "acme", "500", "--ref", "ORD-1").out
    again = cli.ok("credit", "add", "acme", "500", "--ref", "ORD-1")
    assert "already credited" in again.out
    assert cli.ok("credit", "show", "acme", "--json").json()["balance"] == 500
    doc = cli.ok("credit", "add", "acme", "500", "--ref", "ORD-1", "--json").json()
    assert doc["duplicate"] is True


def test_topup_errors(cli: Cli) -> None:
    cli.fails("credit", "add", "acme", "99", "--ref", "X", match="minimum pack is 100")
    cli.fails("credit", "add", "acme", "ten", "--ref", "X", match="bad amount 'ten'")
    cli.fails("credit", "add", "ghost", "100", "--ref", "X", match="unknown account 'ghost'")
    cli.fails("credit", "add", "acme", "100", "--ref", "a b", match="bad order reference")
    cli.ok("credit", "add", "acme", "100", "--ref", "X")
    cli.fails("credit", "add", "acme", "200", "--ref", "X", match="already credited with 100")


def test_show_balance_table_and_json(cli: Cli) -> None:
    cli.ok("credit", "add", "acme", "300", "--ref", "A")
    out = cli.ok("credit", "show", "acme").out
    assert "balance       300" in out
    doc = cli.ok("credit", "show", "acme", "--json").json()
    assert doc == {
        "account": "acme",
        "balance": 300,
        "credit_limit": 0,
        "available": 300,
        "monthly_cap": None,
        "month_spent": 0,
        "currency": "credits",
    }


def test_history_as_table_json_and_csv(cli: Cli) -> None:
    cli.ok("credit", "add", "acme", "300", "--ref", "A")
    cli.ok("credit", "adjust", "acme", "-20", "--reason", "billing fix")
    table = cli.ok("credit", "history", "acme").out.splitlines()
    assert table[0].split()[:4] == ["DATE", "KIND", "AMOUNT", "BALANCE_AFTER"]
    assert len(table) == 3
    entries = cli.ok("credit", "history", "acme", "--json").json()["entries"]
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in entries] == [
        ("topup", 300, 300),
        ("adjustment", -20, 280),
    ]
    rows = list(csv.reader(io.StringIO(cli.ok("credit", "history", "acme", "--csv").out)))
    assert rows[0][:4] == ["date", "kind", "amount", "balance_after"]
    assert rows[2][1:4] == ["adjustment", "-20", "280"]
    assert rows[2][4] == "billing fix"  # an adjustment's reason as its reference
    last = cli.ok("credit", "history", "acme", "--limit", "1", "--json").json()["entries"]
    assert [e["kind"] for e in last] == ["adjustment"]


def test_adjust_errors(cli: Cli) -> None:
    cli.fails("credit", "adjust", "acme", "-1", "--reason", "x", match="insufficient credit")
    cli.fails("credit", "adjust", "acme", "0", "--reason", "x", match="changes nothing")
    cli.fails("credit", "adjust", "acme", "5", "--reason", " ", match="needs a reason")
    cli.fails("credit", "history", "ghost", match="unknown account")


def test_amounts_beyond_what_a_balance_may_hold_are_one_line_errors(cli: Cli) -> None:
    # 9223372036854775807 is SQLite's largest integer: once the balance held it,
    # the next top-up overflowed with a traceback
    huge = "9223372036854775807"
    cli.fails("credit", "add", "acme", huge, "--ref", "A", match="bad amount")
    cli.fails("credit", "add", "acme", "99999999999999999999", "--ref", "B", match="bad amount")
    cli.fails("credit", "adjust", "acme", "-" + huge, "--reason", "r", match="bad amount")
    cli.fails("price", "set", "+33", huge, match="bad price")
    most = "1000000000000000"  # MAX_AMOUNT: one top-up may bring this much
    for i in range(101):  # MAX_BALANCE is 100 of them
        result = cli("credit", "add", "acme", most, "--ref", f"R{i}")
        if result.code:
            break
    assert result.code == 1
    assert "balance would pass" in result.err
    assert "Traceback" not in result.err
    assert cli.ok("credit", "show", "acme", "--json").json()["balance"] == i * int(most)
