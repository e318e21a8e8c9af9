"""``smsgw order create | paid | list | cancel``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.cli.clirun import Cli


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path, capsys)
    c.ok("account", "create", "acme")
    c.ok("account", "create", "beta")
    return c


def balance(cli: Cli, account: str = "acme") -> int:
    value: int = cli.ok("credit", "show", account, "--json").json()["balance"]
    return value


def test_an_order_paid_credits_once(cli: Cli) -> None:
    created = cli.ok("order", "create", "acme", "500", "--json").json()
    assert (created["status"], created["credits"], created["payment_ref"]) == (
        "pending",
        500,
        None,
    )
    order_id = str(created["id"])
    assert balance(cli) == 0
    out = cli.ok("order", "paid", order_id, "--ref", "BANK-7").out
    assert out.strip() == f"order {order_id} paid: credited 500 to acme: balance 500"
    again = cli.ok("order", "paid", order_id)
    assert "already paid" in again.out
    assert "nothing changed" in again.out
    doc = cli.ok("order", "paid", order_id, "--json").json()
    assert (doc["duplicate"], doc["status"], doc["payment_ref"]) == (True, "paid", "BANK-7")
    assert balance(cli) == 500
    history = cli.ok("credit", "history", "acme", "--json").json()["entries"]
    assert [(e["kind"], e["reference"]) for e in history] == [("topup", f"order:{order_id}")]


def test_order_errors_are_one_line(cli: Cli) -> None:
    cli.fails("order", "create", "acme", "99", match="below the minimum pack of 100 credits")
    cli.fails("order", "create", "acme", "lots", match="bad number of credits 'lots'")
    cli.fails("order", "create", "ghost", "100", match="unknown account 'ghost'")
    cli.fails("order", "paid", "42", match="no order 42")
    cli.fails("order", "cancel", "42", match="no order 42")
    cli.fails("order", "paid", "x1", match="bad order id 'x1'")
    order_id = str(cli.ok("order", "create", "acme", "100", "--json").json()["id"])
    cli.fails("order", "paid", order_id, "--ref", "", match="bad payment reference")
    assert "cancelled" in cli.ok("order", "cancel", order_id).out
    cli.fails("order", "cancel", order_id, match=f"order {order_id} is already cancelled")
    cli.fails("order", "paid", order_id, match=f"order {order_id} is cancelled: it cannot be paid")
    paid = str(cli.ok("order", "create", "acme", "100", "--json").json()["id"])
    cli.ok("order", "paid", paid)
    cli.fails("order", "cancel", paid, match=f"order {paid} is paid: it cannot be cancelled")
    assert balance(cli) == 100


def test_list_by_account_and_status(cli: Cli) -> None:
    a = cli.ok("order", "create", "acme", "100", "--json").json()["id"]
    b = cli.ok("order", "create", "beta", "200", "--json").json()["id"]
    c = cli.ok("order", "create", "acme", "300", "--json").json()["id"]
    cli.ok("order", "paid", str(a))
    every = cli.ok("order", "list", "--json").json()["orders"]
    assert [o["id"] for o in every] == [c, b, a]
    acme = cli.ok("order", "list", "--account", "acme", "--json").json()["orders"]
    assert [o["id"] for o in acme] == [c, a]
    pending = cli.ok("order", "list", "--status", "pending", "--json").json()["orders"]
    assert [o["id"] for o in pending] == [c, b]
    table = cli.ok("order", "list", "--account", "acme", "--status", "paid").out.splitlines()
    assert table[0].split()[:4] == ["ID", "ACCOUNT", "CREDITS", "STATUS"]
    assert table[1].split()[:4] == [str(a), "acme", "100", "paid"]
    assert len(table) == 2
    cli.fails("order", "list", "--account", "ghost", match="unknown account 'ghost'")
