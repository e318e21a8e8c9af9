"""``smsgw price set | list``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.cli.clirun import Cli


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path, capsys)


def test_price_set_and_list(cli: Cli) -> None:
    cli.ok("account", "create", "acme")
    assert "+33: 2 credits per segment (default list)" in cli.ok("price", "set", "33", "2").out
    cli.ok("price", "set", "*", "1")
    cli.ok("price", "set", "+44", "4", "--account", "acme")
    prices = cli.ok("price", "list", "--json").json()["prices"]
    assert prices == [{"prefix": "+", "credits": 1}, {"prefix": "+33", "credits": 2}]
    own = cli.ok("price", "list", "--account", "acme").out.splitlines()
    assert own[1].split() == ["+44", "4"]


def test_price_errors(cli: Cli) -> None:
    cli.fails("price", "set", "+33a", "2", match="bad prefix")
    cli.fails("price", "set", "+33", "-1", match="bad price")
    cli.fails("price", "set", "+33", "1", "--account", "ghost", match="unknown account")
