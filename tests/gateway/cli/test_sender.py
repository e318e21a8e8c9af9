"""``smsgw sender add | approve | refuse | list``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.cli.clirun import Cli


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path, capsys)
    c.ok("account", "create", "acme")
    return c


def test_sender_lifecycle(cli: Cli) -> None:
    assert "pending" in cli.ok("sender", "add", "acme", "ACME").out
    doc = cli.ok("sender", "add", "acme", "+33 6 12 34 56 78", "--json").json()
    assert (doc["sender"], doc["kind"]) == ("+33612345678", "number")
    cli.ok("sender", "add", "acme", "36180", "--kind", "shortcode")
    assert "approved" in cli.ok("sender", "approve", "acme", "ACME").out
    out = cli.ok("sender", "refuse", "acme", "36180", "--reason", "not leased").out
    assert "refused (not leased)" in out
    senders = cli.ok("sender", "list", "acme", "--json").json()["senders"]
    assert {(s["sender"], s["status"], s["reason"]) for s in senders} == {
        ("ACME", "approved", None),
        ("+33612345678", "pending", None),
        ("36180", "refused", "not leased"),
    }
    table = cli.ok("sender", "list", "acme").out
    assert "not leased" in table


def test_sender_errors(cli: Cli) -> None:
    cli.fails("sender", "add", "acme", "WAY-TOO-LONG-NAME", match="")
    cli.fails("sender", "add", "acme", "12", "--kind", "shortcode", match="")
    cli.ok("sender", "add", "acme", "ACME")
    cli.fails("sender", "add", "acme", "ACME", match="already exists")
    cli.fails("sender", "approve", "acme", "OTHER", match="no sender 'OTHER'")
    cli.fails("sender", "list", "ghost", match="unknown account")


def test_a_short_code_approved_for_one_account_is_refused_for_another(cli: Cli) -> None:
    cli.ok("account", "create", "beta")
    cli.ok("sender", "add", "acme", "36180")
    cli.ok("sender", "add", "beta", "36180")
    cli.ok("sender", "approve", "acme", "36180")
    cli.fails(
        "sender",
        "approve",
        "beta",
        "36180",
        match="short code '36180' is approved for account 'acme': one owner at a time",
    )
    cli.ok("account", "create", "gamma")
    cli.fails("sender", "add", "gamma", "36180", match="belongs to another account")
    cli.ok("sender", "refuse", "acme", "36180", "--reason", "moved to beta")
    assert "approved" in cli.ok("sender", "approve", "beta", "36180").out
