"""``smsgw token create | list | revoke``: tokens shown once, listed without secrets."""

from __future__ import annotations

import asyncio
import json
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


def test_a_token_has_the_name_it_was_made_with(cli: Cli) -> None:
    named = cli.ok("token", "create", "acme", "--name", "Shop (prod)", "--json").json()
    assert set(named) == {"account", "id", "name", "token"}
    assert named["name"] == "Shop (prod)"
    text = cli.ok("token", "create", "acme", "--name", "crm").out.strip()  # the token alone
    assert text.startswith("smsgw_")
    assert "\n" not in text
    cli.ok("token", "create", "acme", "--name", "crm")  # names need not be unique
    unnamed = cli.ok("token", "create", "other", "--json").json()
    assert unnamed["name"] is None
    listed = cli.ok("token", "list", "--json").json()["tokens"]
    assert [(t["account"], t["name"]) for t in listed] == [
        ("acme", "Shop (prod)"),
        ("acme", "crm"),
        ("acme", "crm"),
        ("other", None),
    ]
    lines = cli.ok("token", "list", "acme").out.splitlines()
    assert lines[0].split() == ["ID", "ACCOUNT", "NAME", "PREFIX", "CREATED_AT"]
    assert "Shop (prod)" in lines[1]
    assert cli.ok("token", "list", "other").out.splitlines()[1].split()[2] == "-"  # no name
    result = cli.ok("token", "revoke", "acme", str(named["id"]))
    assert result.out == (
        f"revoked token {named['id']} 'Shop (prod)' ({named['token'][:12]}…) of acme\n"
    )
    revoked = cli.ok("token", "revoke", str(unnamed["id"]), "--json").json()
    assert (revoked["name"], revoked["revoked"]) == (None, True)


def test_a_bad_token_name_is_one_line_and_makes_no_token(cli: Cli) -> None:
    for name in ("", " padded", "x" * 65, "tab\there"):
        cli.fails(
            "token",
            "create",
            "acme",
            "--name",
            name,
            match=": 1-64 printable characters (letters, digits, punctuation, spaces)",
        )
    cli.fails(
        "token",
        "create",
        "--operator",
        "ops",
        "--name",
        "x",
        match="--operator NAME takes no --name",
    )
    assert cli.ok("token", "list", "--json").json()["tokens"] == []
    assert cli.ok("token", "list", "--operator", "--json").json()["tokens"] == []


def operator_for(cli: Cli, token: str) -> str | None:
    async def look() -> str | None:
        store = await open_store(f"sqlite:///{cli.db}")
        try:
            found = await store.operator_for_token(token)
        finally:
            await store.close()
        return None if found is None else found.name

    return asyncio.run(look())


def test_operator_tokens_are_shown_once_listed_apart_and_revoked(cli: Cli) -> None:
    made = cli.ok("token", "create", "--operator", "ops-alice", "--json").json()
    assert set(made) == {"operator", "id", "token"}
    assert made["operator"] == "ops-alice"
    assert made["token"].startswith("smsgwop_")
    text = cli.ok("token", "create", "--operator", "billing").out.strip()
    assert text.startswith("smsgwop_")
    assert "\n" not in text
    cli.ok("token", "create", "acme")
    assert operator_for(cli, made["token"]) == "ops-alice"
    assert operator_for(cli, text) == "billing"
    listed = cli.ok("token", "list", "--operator", "--json").json()["tokens"]
    assert [(t["operator"], t["prefix"], t["revoked_at"]) for t in listed] == [
        ("ops-alice", made["token"][:14], None),
        ("billing", text[:14], None),
    ]
    # the accounts' list shows no operator token, the operators' list no account's
    assert [t["account"] for t in cli.ok("token", "list", "--json").json()["tokens"]] == ["acme"]
    shown = cli.ok("token", "list", "--operator").out
    assert "ops-alice" in shown
    assert made["token"] not in shown + json.dumps(listed)
    assert text not in shown + json.dumps(listed)
    result = cli.ok("token", "revoke", "--operator", str(made["id"]))
    assert result.out == (
        f"revoked operator token {made['id']} ({made['token'][:14]}…) of ops-alice\n"
    )
    assert operator_for(cli, made["token"]) is None
    assert operator_for(cli, text) == "billing"
    listed = cli.ok("token", "list", "--operator", "--json").json()["tokens"]
    assert listed[0]["revoked_at"].endswith("Z")
    assert listed[1]["revoked_at"] is None
    revoked = cli.ok("token", "revoke", "--operator", str(listed[1]["id"]), "--json").json()
    assert (revoked["operator"], revoked["revoked"]) == ("billing", True)
    assert revoked["revoked_at"].endswith("Z")
    assert [t["account"] for t in cli.ok("token", "list", "--json").json()["tokens"]] == ["acme"]


def test_operator_token_errors_are_one_line(cli: Cli) -> None:
    made = cli.ok("token", "create", "--operator", "ops", "--json").json()
    cli.fails("token", "create", "--operator", "ops", match="'ops' is in force")
    cli.fails("token", "create", "--operator", "a b", match="bad operator token name 'a b'")
    cli.fails("token", "create", match="token create takes an account, or --operator NAME")
    cli.fails("token", "create", "acme", "--operator", "ops2", match="an account, or --operator")
    cli.fails("token", "list", "acme", "--operator", match="--operator takes no account")
    cli.fails("token", "revoke", "--operator", "x", match="bad token id 'x'")
    cli.fails("token", "revoke", "--operator", "acme", "1", match="an operator token's id")
    cli.fails("token", "revoke", "--operator", "999", match="no operator token 999")
    cli.ok("token", "revoke", "--operator", str(made["id"]))
    cli.fails(
        "token", "revoke", "--operator", str(made["id"]), match=f"token {made['id']} is already"
    )
    assert operator_for(cli, made["token"]) is None
    assert cli.ok("token", "list", "--operator", "--json").json()["tokens"][0]["revoked_at"]
