"""``smsgw token create | list | revoke``: tokens shown once, listed without secrets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.store import open_store
from tests.gateway.cli.clirun import Cli


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path, capsys)
    c.ok("account", "create", "acme")
    c.ok("account", "create", "other")
    return c


def account_for(cli: Cli, token: str) -> str | None:
    async def look() -> str | None:
        store = await open_store(f"sqlite:///{cli.db}")
        try:
            return await store.account_for_token(token)
        finally:
            await store.close()

    return asyncio.run(look())


def test_tokens_are_listed_without_their_secrets_and_revoked_by_id(cli: Cli) -> None:
    first = cli.ok("token", "create", "acme", "--json").json()
    second = cli.ok("token", "create", "acme", "--json").json()
    theirs = cli.ok("token", "create", "other", "--json").json()
    listed = cli.ok("token", "list", "acme", "--json").json()["tokens"]
    assert [t["id"] for t in listed] == [first["id"], second["id"]]
    assert all(t["prefix"] == first["token"][:12] for t in listed[:1])
    everyone = cli.ok("token", "list", "--json").json()["tokens"]
    assert [t["account"] for t in everyone] == ["acme", "acme", "other"]
    shown = cli.ok("token", "list").out + cli.ok("token", "list", "--json").out
    for token in (first, second, theirs):
        assert token["token"] not in shown  # never the secret
    assert account_for(cli, first["token"]) == "acme"
    result = cli.ok("token", "revoke", str(first["id"]))
    assert result.out == f"revoked token {first['id']} ({first['token'][:12]}…) of acme\n"
    assert account_for(cli, first["token"]) is None
    assert account_for(cli, second["token"]) == "acme"
    assert [t["id"] for t in cli.ok("token", "list", "acme", "--json").json()["tokens"]] == [
        second["id"]
    ]


def test_revoke_with_an_account_only_takes_that_accounts_token(cli: Cli) -> None:
    theirs = cli.ok("token", "create", "other", "--json").json()
    cli.fails(
        "token",
        "revoke",
        "acme",
        str(theirs["id"]),
        match=f"no API token {theirs['id']} of account 'acme'",
    )
    assert account_for(cli, theirs["token"]) == "other"
    cli.ok("token", "revoke", "other", str(theirs["id"]), "--json")
    assert account_for(cli, theirs["token"]) is None


def test_token_errors_are_one_line(cli: Cli) -> None:
    cli.fails("token", "revoke", "999", match="no API token 999: `smsgw token list` shows them")
    cli.fails("token", "revoke", "x", match="bad token id 'x': a whole number expected")
    cli.fails("token", "revoke", "99999999999999999999", match="bad token id")
    cli.fails("token", "revoke", "a", "b", "c", match="an account and a token id")
    cli.fails("token", "list", "ghost", match="unknown account 'ghost'")
