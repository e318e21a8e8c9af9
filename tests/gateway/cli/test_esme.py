"""``smsgw esme create | list | remove | password``: passwords shown once, never listed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.model.errors import UserError
from gateway.store import open_store
from tests.gateway.cli.clirun import Cli


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path, capsys)
    c.ok("account", "create", "acme")
    return c


def binds(cli: Cli, system_id: str, password: str) -> bool:
    async def look() -> bool:
        store = await open_store(f"sqlite:///{cli.db}")
        try:
            await store.esme_credential_for_bind(system_id, password)
        except UserError:
            return False
        finally:
            await store.close()
        return True

    return asyncio.run(look())


def test_create_list_password_remove(cli: Cli) -> None:
    made = cli.ok(
        "esme", "create", "acme", "acme1", "--max-binds", "2", "--throughput", "20",
        "--allow", "192.0.2.0/24", "198.51.100.7", "--json",
    ).json()  # fmt: skip
    assert made["system_id"] == "acme1"
    assert made["allow"] == ["192.0.2.0/24", "198.51.100.7/32"]
    assert binds(cli, "acme1", made["password"])
    plain = cli.ok("esme", "create", "acme", "acme2", "--latin1").out.strip()
    assert len(plain) == 8
    listed = cli.ok("esme", "list", "acme", "--json").json()["credentials"]
    assert [(c["system_id"], c["max_binds"], c["throughput"]) for c in listed] == [
        ("acme1", 2, 20),
        ("acme2", 1, None),
    ]
    assert listed[1]["options"] == ["latin1"]
    shown = cli.ok("esme", "list").out + cli.ok("esme", "list", "--json").out
    assert made["password"] not in shown
    assert plain not in shown
    new = cli.ok("esme", "password", "acme", "acme1").out.strip()
    assert binds(cli, "acme1", new)
    assert not binds(cli, "acme1", made["password"])
    assert cli.ok("esme", "remove", "acme", "acme1").out == (
        "removed ESME credential acme1 of acme\n"
    )
    assert not binds(cli, "acme1", new)


def test_password_and_remove_answer_json(cli: Cli) -> None:
    made = cli.ok("esme", "create", "acme", "acme1", "--json").json()
    rotated = cli.ok("esme", "password", "acme", "acme1", "--json").json()
    assert set(rotated) == {"account", "system_id", "password"}
    assert (rotated["account"], rotated["system_id"]) == ("acme", "acme1")
    assert rotated["password"] != made["password"]
    assert binds(cli, "acme1", rotated["password"])
    removed = cli.ok("esme", "remove", "acme", "acme1", "--json").json()
    assert removed["removed"] is True
    assert (removed["account"], removed["system_id"], removed["max_binds"]) == ("acme", "acme1", 1)
    assert "password" not in removed
    assert cli.ok("esme", "list", "--json").json() == {"credentials": []}


def test_errors_are_one_line(cli: Cli) -> None:
    cli.ok("esme", "create", "acme", "acme1")
    cli.fails("esme", "create", "acme", "acme1", match="system_id 'acme1' already exists")
    cli.fails("esme", "create", "ghost", "g1", match="unknown account 'ghost'")
    cli.fails("esme", "create", "acme", "x1", "--max-binds", "0", match="--max-binds")
    cli.fails("esme", "create", "acme", "x1", "--allow", "nowhere", match="bad allow entry")
    cli.fails("esme", "remove", "acme", "ghost", match="no ESME credential 'ghost'")
