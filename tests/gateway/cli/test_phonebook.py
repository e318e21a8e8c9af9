"""``smsgw phonebook create | import | list | show``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.cli.clirun import Cli


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path, capsys)
    c.ok("account", "create", "acme")
    return c


def test_phonebook_create_import_list_show(cli: Cli) -> None:
    cli.ok("phonebook", "create", "acme", "clients")
    book = cli.dir / "book.csv"
    book.write_text(
        "name,number\nAnn,+33612345678\nBob,0612345679\nCid,+33 6 12 34 56 80\n"
        "Ann again,+33612345678\n"
    )
    result = cli("phonebook", "import", "acme", "clients", str(book))
    assert result.code == 3  # part of the work: one row refused (README: exit codes)
    expected = (
        "imported 2 contacts into clients (2 new, 0 updated); 1 invalid rows skipped, 1 duplicates"
    )
    assert expected in result.out
    assert "book.csv line 3: '0612345679'" in result.err
    listing = cli.ok("phonebook", "list", "acme", "--json").json()["phonebooks"]
    assert [(b["name"], b["contacts"]) for b in listing] == [("clients", 2)]
    assert "clients" in cli.ok("phonebook", "list", "acme").out
    contacts = cli.ok("phonebook", "show", "acme", "clients", "--json").json()["contacts"]
    assert contacts == [
        {"name": "Ann", "number": "+33612345678"},
        {"name": "Cid", "number": "+33612345680"},
    ]
    assert "+33612345680" in cli.ok("phonebook", "show", "acme", "clients").out
    clean = cli.dir / "clean.csv"
    clean.write_text("name,number\nDee,+33612345681\n")
    assert cli.ok("phonebook", "import", "acme", "clients", str(clean)).code == 0
    only_bad = cli.dir / "only_bad.csv"
    only_bad.write_text("name,number\nEve,0612345682\n")
    assert cli("phonebook", "import", "acme", "clients", str(only_bad)).code == 1
    again = cli("phonebook", "import", "acme", "clients", str(book), "--json").json()
    assert (again["added"], again["updated"]) == (0, 2)


def test_phonebook_errors(cli: Cli) -> None:
    cli.ok("phonebook", "create", "acme", "clients")
    cli.fails("phonebook", "create", "acme", "clients", match="already exists")
    cli.fails("phonebook", "show", "acme", "vip", match="no phonebook 'vip'")
    cli.fails(
        "phonebook", "import", "acme", "clients", str(cli.dir / "missing.csv"), match="cannot read"
    )
    bad = cli.dir / "bad.csv"
    bad.write_text('name,number\n"Ann,+33612345678\n')
    cli.fails("phonebook", "import", "acme", "clients", str(bad), match="bad.csv")
    cli.fails("phonebook", "list", "ghost", match="unknown account")
