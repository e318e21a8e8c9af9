"""``smsgw account`` and ``smsgw token``."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.runtime.commands import main
from tests.gateway.cli.clirun import Cli


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path, capsys)


def test_account_create_list_show(cli: Cli) -> None:
    assert "balance       0" in cli.ok("account", "create", "acme").out
    cli.ok("account", "create", "beta")
    listing = cli.ok("account", "list").out.splitlines()
    assert listing[0].split() == [
        "ACCOUNT",
        "BALANCE",
        "CREDIT_LIMIT",
        "MONTHLY_CAP",
        "ALERT_BELOW",
    ]
    assert [line.split()[0] for line in listing[1:]] == ["acme", "beta"]
    doc = cli.ok("account", "show", "acme", "--json").json()
    assert (doc["account"], doc["balance"], doc["monthly_cap"]) == ("acme", 0, None)
    assert [a["account"] for a in cli.ok("account", "list", "--json").json()["accounts"]] == [
        "acme",
        "beta",
    ]


def test_account_set_limits_and_clear_them(cli: Cli) -> None:
    cli.ok("account", "create", "acme")
    doc = cli.ok(
        "account",
        "set",
        "acme",
        "--credit-limit",
        "50",
        "--monthly-cap",
        "150",
        "--alert-below",
        "20",
        "--json",
    ).json()
    assert (doc["credit_limit"], doc["monthly_cap"], doc["alert_below"]) == (50, 150, 20)
    doc = cli.ok("account", "set", "acme", "--monthly-cap", "none", "--json").json()
    assert (doc["credit_limit"], doc["monthly_cap"]) == (50, None)


def test_account_errors_are_one_line(cli: Cli) -> None:
    cli.ok("account", "create", "acme")
    cli.fails("account", "create", "acme", match="already exists")
    cli.fails("account", "create", "a/b", match="bad account name")
    cli.fails("account", "show", "ghost", match="unknown account 'ghost'")
    cli.fails("account", "set", "acme", match="nothing to set")
    cli.fails("account", "set", "acme", "--monthly-cap", "lots", match="bad monthly cap")
    cli.fails("account", "set", "ghost", "--credit-limit", "5", match="unknown account")


def test_token_create_prints_the_token_once(cli: Cli) -> None:
    cli.ok("account", "create", "acme")
    token = cli.ok("token", "create", "acme").out.strip()
    assert token.startswith("smsgw_")
    assert len(token) > 40
    assert token.encode() not in cli.db.read_bytes()
    doc = cli.ok("token", "create", "acme", "--json").json()
    assert doc["token"] != token
    cli.fails("token", "create", "ghost", match="unknown account")


def test_missing_config_file_says_how_to_create_one(cli: Cli) -> None:
    cli.config.unlink()
    cli.fails("account", "list", match=f"configuration file {cli.config} not found")


def test_malformed_config_names_file_and_key(cli: Cli) -> None:
    cli.config.write_text("[store]\nurl = 5\n")
    cli.fails("account", "list", match="gateway.toml line 2: [store] url: must be a string")


def test_store_that_cannot_be_opened_is_one_line(cli: Cli) -> None:
    cli.db.mkdir(parents=True)  # a directory where the database file should be
    cli.fails("account", "list", match="cannot open store")


def test_store_that_is_not_a_smsgw_database_is_refused(cli: Cli) -> None:
    cli.db.parent.mkdir(parents=True)
    cli.db.write_text("just some text\n" * 500)
    cli.fails("account", "list", match="is not a smsgw database")


def test_webhook_secret_is_shown_rotated_and_not_in_account_show(cli: Cli) -> None:
    cli.ok("account", "create", "acme")
    secret = cli.ok("account", "webhook-secret", "acme").out.strip()
    assert len(secret) == 64
    int(secret, 16)  # hex
    doc = cli.ok("account", "webhook-secret", "acme", "--json").json()
    assert (doc["account"], doc["webhook_secret"], doc["rotated"]) == ("acme", secret, False)
    assert secret not in cli.ok("account", "show", "acme").out
    assert secret not in cli.ok("account", "show", "acme", "--json").out
    rotated = cli.ok("account", "webhook-secret", "acme", "--rotate", "--json").json()
    assert rotated["rotated"] is True
    assert rotated["webhook_secret"] != secret
    assert cli.ok("account", "webhook-secret", "acme").out.strip() == rotated["webhook_secret"]
    cli.fails("account", "webhook-secret", "ghost", match="unknown account 'ghost'")


def test_config_option_is_accepted_before_the_command(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text('[store]\nurl = "sqlite:gw.db"\n', encoding="utf-8")
    assert main(["-c", str(config), "account", "create", "early"]) == 0
    assert main(["account", "show", "early", "-c", str(config)]) == 0
