"""``smsgw webhook list | retry``."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from gateway.store import open_store
from tests.gateway.cli.clirun import Cli
from tests.gateway.store.support import new_message


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path, capsys)
    c.ready_account()
    return c


def given_up_webhook(cli: Cli) -> tuple[str, int]:
    """A message with a callback URL; its first webhook given up. (message id, hook id)"""

    async def make() -> tuple[str, int]:
        store = await open_store(f"sqlite:///{cli.db}")
        try:
            nm = dataclasses.replace(new_message(), callback_url="https://app.example/hook")
            [accepted] = (await store.enqueue([nm])).results
            message_id = accepted.message.id  # type: ignore[union-attr]
            [hook] = await store.due_webhooks(now=10**10, limit=10)
            await store.webhook_failed(hook.id, error="HTTP 410 Gone")
            return message_id, hook.id
        finally:
            await store.close()

    return asyncio.run(make())


def test_webhook_list_shows_given_up_ones_and_retry_brings_them_back(cli: Cli) -> None:
    message_id, hook_id = given_up_webhook(cli)
    listing = cli.ok("webhook", "list").out.splitlines()
    assert listing[0].split()[:3] == ["ID", "CREATED_AT", "ACCOUNT"]
    assert "HTTP 410 Gone" in listing[1]
    doc = cli.ok("webhook", "list", "--state", "failed", "--json").json()
    [hook] = doc["webhooks"]
    assert (
        hook["id"],
        hook["message_id"],
        hook["event"],
        hook["state"],
        hook["attempts"],
        hook["next_at"],
    ) == (hook_id, message_id, "queued", "failed", 1, None)
    assert cli.ok("webhook", "list", "--state", "pending", "--json").json()["webhooks"] == []
    assert "1 webhook(s) will be tried again" in cli.ok("webhook", "retry", str(hook_id)).out
    [hook] = cli.ok("webhook", "list", "--json").json()["webhooks"]
    assert (hook["state"], hook["attempts"]) == ("pending", 0)
    assert cli.ok("webhook", "retry", "--all", "--json").json() == {"retried": 0}


def test_webhook_errors_are_one_line(cli: Cli) -> None:
    cli.fails("webhook", "retry", match="say which webhooks")
    cli.fails("webhook", "retry", "3", "--all", match="say which webhooks")
    cli.fails("webhook", "list", "--account", "ghost", match="unknown account 'ghost'")
    cli.fails("webhook", "retry", "--account", "ghost", match="unknown account 'ghost'")
    cli.fails("webhook", "list", "--limit", "0", match="--limit 0")
