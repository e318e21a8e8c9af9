"""``smsgw login create | list | disable``: console logins, their one-time password
printed once and stored as a KDF hash."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.model.logins import Login
from gateway.store import open_store
from gateway.store.logins import verify_password
from tests.gateway.cli.clirun import Cli


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path, capsys)
    c.ok("account", "create", "acme")
    return c


def stored(cli: Cli, email: str) -> Login | None:
    async def look() -> Login | None:
        store = await open_store(f"sqlite:///{cli.db}")
        try:
            return await store.get_login(email)
        finally:
            await store.close()

    return asyncio.run(look())


def test_create_prints_a_one_time_password_stored_as_a_hash(cli: Cli) -> None:
    password = cli.ok("login", "create", "acme", "Ann@Acme.example").out.strip()
    assert len(password) >= 16
    login = stored(cli, "ann@acme.example")
    assert login is not None
    assert login.must_change
    assert password not in login.password_hash
    assert login.password_hash.startswith("scrypt$")
    assert verify_password(password, login.password_hash)
    doc = cli.ok("login", "create", "acme", "op@acme.example", "--role", "operator", "--json")
    assert doc.json()["role"] == "operator"
    assert verify_password(doc.json()["password"], stored(cli, "op@acme.example").password_hash)  # type: ignore[union-attr]


def test_list_shows_logins_without_passwords(cli: Cli) -> None:
    password = cli.ok("login", "create", "acme", "ann@acme.example").out.strip()
    listed = cli.ok("login", "list", "--json").json()["logins"]
    assert [(x["email"], x["account"], x["role"], x["must_change"]) for x in listed] == [
        ("ann@acme.example", "acme", "customer", True)
    ]
    text = cli.ok("login", "list").out
    assert "must change password" in text
    assert password not in text + str(listed)


def test_disable_and_the_errors_a_user_reads(cli: Cli) -> None:
    cli.ok("login", "create", "acme", "ann@acme.example")
    cli.fails("login", "create", "acme", "ANN@acme.example", match="already exists")
    cli.fails("login", "create", "nobody", "bob@acme.example", match="unknown account")
    cli.fails("login", "create", "acme", "not-an-email", match="bad email")
    assert cli.ok("login", "disable", "ann@acme.example").out == (
        "disabled login ann@acme.example of acme\n"
    )
    assert cli.ok("login", "list", "--json").json()["logins"][0]["disabled"] is True
    cli.fails("login", "disable", "bob@acme.example", match="no login")
