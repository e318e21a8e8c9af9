"""``smsgw stoplist add | remove | list`` and a send to a stopped number."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.cli.clirun import Cli

A, B = "+33612345678", "+33612345679"


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path, capsys)
    c.ready_account("acme", credit=100)
    return c


def test_add_list_remove(cli: Cli) -> None:
    assert "nothing is sent to it" in cli.ok("stoplist", "add", "acme", A).out
    assert "already on the stoplist" in cli.ok("stoplist", "add", "acme", A).out
    assert cli.ok("stoplist", "add", "acme", A, "--json").json()["added"] is False
    doc = cli.ok("stoplist", "list", "acme", "--json").json()
    assert [(e["number"], e["source"]) for e in doc["stoplist"]] == [(A, "operator")]
    table = cli.ok("stoplist", "list", "acme").out.splitlines()
    assert table[0].split() == ["NUMBER", "SOURCE", "SINCE"]
    assert table[1].split()[:2] == [A, "operator"]
    assert "off the stoplist" in cli.ok("stoplist", "remove", "acme", A).out
    assert cli.ok("stoplist", "list", "acme", "--json").json()["stoplist"] == []


def test_errors_are_one_line(cli: Cli) -> None:
    cli.fails("stoplist", "add", "acme", "0612345678", match="bad number '0612345678'")
    cli.fails("stoplist", "add", "ghost", A, match="unknown account 'ghost'")
    cli.fails("stoplist", "remove", "acme", A, match=f"{A} is not on the stoplist")
    cli.fails("stoplist", "list", "ghost", match="unknown account 'ghost'")


def test_send_to_a_stopped_number_is_refused_and_not_charged(cli: Cli) -> None:
    cli.ok("stoplist", "add", "acme", A)
    result = cli("send", "--account", "acme", "--from", "ACME", "--to", A, "--to", B,
                 "--text", "hi", "--json")  # fmt: skip
    assert result.code == 3, result.err
    doc = result.json()
    assert [r["to"] for r in doc["refused"]] == [A]
    assert doc["refused"][0]["error"] == "stopped"
    assert cli.ok("credit", "show", "acme", "--json").json()["balance"] == 99
