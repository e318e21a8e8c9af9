"""``smsgw message show | list | cancel`` and ``smsgw inbound list``."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from gateway.model.records import Enqueued, InboundMessage
from gateway.store import open_store
from tests.gateway.cli.clirun import Cli
from tests.gateway.store.support import new_message


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path, capsys)
    c.ready_account(credit=100)
    return c


def test_a_stored_send_at_out_of_the_date_range_does_not_break_list_or_show(cli: Cli) -> None:
    # stored before ingress bounded send_at (or by another tool): shown clamped
    far = dt.datetime.fromisoformat("9999-12-31T23:59:59-23:00").timestamp()

    async def store_one() -> str:
        store = await open_store(f"sqlite:///{cli.db}")
        try:
            [stored] = (await store.enqueue([new_message(send_at=far)])).results
            assert isinstance(stored, Enqueued)
            return stored.message.id
        finally:
            await store.close()

    message_id = asyncio.run(store_one())
    [listed] = cli.ok("message", "list", "--json").json()["messages"]
    assert (listed["id"], listed["send_at"]) == (message_id, "9999-12-31T23:59:59Z")
    assert (
        cli.ok("message", "show", message_id, "--json").json()["send_at"] == "9999-12-31T23:59:59Z"
    )
    assert message_id in cli.ok("message", "list").out


def test_show_list_and_cancel_with_refund(cli: Cli) -> None:
    ids = cli.ok(
        "send",
        "--account",
        "acme",
        "--from",
        "ACME",
        "--to",
        "+33612345678",
        "--to",
        "+33612345679",
        "--text",
        "x" * 200,
    ).out.split()
    assert len(ids) == 2
    doc = cli.ok("message", "show", ids[0], "--json").json()
    assert (doc["state"], doc["segments"], doc["credits"]) == ("queued", 2, 2)
    assert [s["state"] for s in doc["segment_states"]] == ["pending", "pending"]
    assert "SEGMENT" in cli.ok("message", "show", ids[0]).out
    listed = cli.ok("message", "list", "--account", "acme", "--json").json()["messages"]
    assert {m["id"] for m in listed} == set(ids)
    assert len(cli.ok("message", "list").out.splitlines()) == 3
    assert "refunded 2 credits" in cli.ok("message", "cancel", ids[0]).out
    assert cli.ok("credit", "show", "acme", "--json").json()["balance"] == 98
    cancelled = cli.ok("message", "list", "--status", "cancelled", "--json").json()["messages"]
    assert [m["id"] for m in cancelled] == [ids[0]]
    recent = cli.ok("message", "list", "--since", "2000-01-01T00:00:00Z", "--json").json()
    assert len(recent["messages"]) == 2
    cli.fails("message", "cancel", ids[0], match="only a queued message can be cancelled")


def test_message_errors(cli: Cli) -> None:
    cli.fails("message", "show", "NOPE", match="no message 'NOPE'")
    cli.fails("message", "cancel", "NOPE", match="no message 'NOPE'")
    cli.fails("message", "list", "--since", "yesterday", match="bad --since")
    cli.fails("message", "list", "--since", "2026-01-01T00:00:00", match="give a time zone")
    cli.fails("message", "list", "--account", "ghost", match="unknown account")


def test_inbound_list(cli: Cli) -> None:
    async def add() -> None:
        store = await open_store(f"sqlite:///{cli.db}")
        await store.add_inbound(
            InboundMessage(
                id="01INBOUND",
                account="acme",
                link="op-a",
                source="+33612345678",
                destination="+33700000000",
                text="STOP",
                received_at=1_700_000_000.0,
            )
        )
        await store.close()

    asyncio.run(add())
    doc = cli.ok("inbound", "list", "--account", "acme", "--json").json()
    assert [(m["from"], m["text"]) for m in doc["inbound"]] == [("+33612345678", "STOP")]
    assert "STOP" in cli.ok("inbound", "list").out
    cli.fails("inbound", "list", "--account", "ghost", match="unknown account")
