"""``smsgw send``: recipients from flags, files and phonebooks; refusals; JSON."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.gateway.cli.clirun import Cli

SEND = ("send", "--account", "acme", "--from", "ACME")


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path, capsys)
    c.ready_account(credit=100)
    return c


def test_send_prints_one_id_per_message(cli: Cli) -> None:
    result = cli.ok(*SEND, "--to", "+33612345678", "--to", "+33 6 12 34 56 79", "--text", "hi")
    ids = result.out.split()
    assert len(ids) == 2
    assert all(len(i) == 26 for i in ids)
    assert "accepted 2 of 2 recipients" in result.err
    assert cli.ok("credit", "show", "acme", "--json").json()["balance"] == 98


def test_send_json_lists_id_segments_and_credits(cli: Cli) -> None:
    cli.ok("price", "set", "+33", "3")
    doc = cli.ok(*SEND, "--to", "+33612345678", "--text", "ж" * 80, "--json").json()
    [m] = doc["messages"]
    assert (m["to"], m["segments"], m["encoding"], m["credits"]) == ("+33612345678", 2, "ucs2", 6)
    assert doc["refused"] == []


def test_file_rows_invalid_are_reported_by_line_and_skipped(cli: Cli) -> None:
    listing = cli.dir / "list.csv"
    listing.write_text(
        "phone,name\n+33612345678,Ann\n0612345679,Bob\n+33612345678,dup\n+33612345680,Cid\n"
    )
    result = cli(*SEND, "--to-file", str(listing), "--text", "hello")
    assert result.code == 3  # part of the work: one row refused
    assert len(result.out.split()) == 2
    assert "list.csv line 3: '0612345679'" in result.err
    assert "accepted 2 of 2 recipients" in result.err
    assert "1 invalid rows skipped" in result.err


def test_send_to_phonebook_merges_with_to_once(cli: Cli) -> None:
    cli.ok("phonebook", "create", "acme", "clients")
    book = cli.dir / "book.csv"
    book.write_text("name,number\nAnn,+33612345678\nBob,+33612345679\n")
    cli.ok("phonebook", "import", "acme", "clients", str(book))
    doc = cli.ok(
        *SEND, "--phonebook", "clients", "--to", "+33612345678", "--text", "hi", "--json"
    ).json()
    assert sorted(m["to"] for m in doc["messages"]) == ["+33612345678", "+33612345679"]


def test_text_file_at_validity_priority_class_and_ref(cli: Cli) -> None:
    text = cli.dir / "text.txt"
    text.write_text("Promo ce soir\n")
    later = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=30)
    at = later.astimezone(dt.timezone(dt.timedelta(hours=1))).isoformat()
    args = (
        *SEND,
        "--to",
        "+33612345678",
        "--text-file",
        str(text),
        "--at",
        at,
        "--validity",
        "3600",
        "--priority",
        "2",
        "--class",
        "flash",
        "--ref",
        "campaign-7",
        "--json",
    )
    first = cli.ok(*args).json()["messages"][0]
    again = cli.ok(*args).json()["messages"][0]
    assert again["id"] == first["id"]
    assert again["duplicate"] is True
    shown = cli.ok("message", "show", first["id"], "--json").json()
    assert (
        shown["text"],
        shown["send_at"],
        shown["validity"],
        shown["priority"],
        shown["class"],
    ) == ("Promo ce soir", later.strftime("%Y-%m-%dT%H:%M:%SZ"), 3600, 2, "flash")
    assert cli.ok("credit", "show", "acme", "--json").json()["balance"] == 99


def test_a_repeated_ref_shows_the_stored_messages_and_no_new_charge(cli: Cli) -> None:
    args = (
        *SEND,
        "--to",
        "+33612345678",
        "--to",
        "+33612345679",
        "--text",
        "hi",
        "--ref",
        "order-9",
    )
    first = cli.ok(*args)
    assert "accepted 2 of 2 recipients (1 segment(s) each, 2 credits)" in first.err
    again = cli.ok(*args)
    assert again.out == first.out  # the same message ids
    assert again.err == (
        "smsgw: --ref order-9 was already accepted: 2 message(s) shown as "
        "stored then (charged 2 credits then, nothing now)\n"
    )
    doc = cli.ok(*args, "--json").json()
    assert (doc["charged"], [m["duplicate"] for m in doc["messages"]]) == (0, [True, True])
    assert cli.ok("credit", "show", "acme", "--json").json()["balance"] == 98


def test_insufficient_credit_names_balance_and_need(cli: Cli) -> None:
    cli.ok("price", "set", "+33", "60")
    result = cli(*SEND, "--to", "+33612345678", "--to", "+33612345679", "--text", "hi")
    assert result.code == 3  # part of the work (README: exit codes)
    assert len(result.out.split()) == 1  # the first was enqueued
    assert (
        "+33612345679 refused: insufficient credit on account 'acme': balance 40, needed 60"
    ) in result.err


def test_five_of_seven_accepted_exits_3_and_says_which(cli: Cli) -> None:
    cli.ok("price", "set", "+32", "1000")  # two Belgian numbers cannot be paid for
    to = [*(f"+3361234567{i}" for i in range(5)), "+32470123456", "+32470123457"]
    result = cli(*SEND, *(a for number in to for a in ("--to", number)), "--text", "hi", "--json")
    assert result.code == 3
    doc = result.json()
    assert sorted(m["to"] for m in doc["messages"]) == sorted(to[:5])
    assert [r["to"] for r in doc["refused"]] == to[5:]
    assert "accepted 5 of 7 recipients" in result.err


def test_many_refusals_are_summarised(cli: Cli) -> None:
    cli.ok("price", "set", "+33", "1000")
    to = [a for i in range(8) for a in ("--to", f"+3361234567{i}")]
    result = cli(*SEND, *to, "--text", "hi")
    assert result.code == 1
    assert "... and 3 more refused" in result.err
    assert "accepted 0 of 8" in result.err


def test_send_errors_are_one_line(cli: Cli) -> None:
    to = ("--to", "+33612345678")
    cli.fails(*SEND, "--to", "0612345678", "--text", "hi", match="--to 0612345678:")
    cli.fails(
        "send",
        "--account",
        "acme",
        "--from",
        "NOBODY",
        *to,
        "--text",
        "hi",
        match="not registered for account 'acme'",
    )
    cli.ok("sender", "add", "acme", "PENDING")
    cli.fails(
        "send",
        "--account",
        "acme",
        "--from",
        "PENDING",
        *to,
        "--text",
        "hi",
        match="waiting for approval",
    )
    cli.fails(
        "send",
        "--account",
        "ghost",
        "--from",
        "ACME",
        *to,
        "--text",
        "hi",
        match="unknown account 'ghost'",
    )
    cli.fails(*SEND, *to, "--text", "x" * 160 * 300, match="segments; the limit is 255")
    cli.fails(*SEND, *to, "--text", "hi", "--at", "2030-01-01 09:00", match="give a time zone")
    cli.fails(*SEND, *to, "--text", "hi", "--priority", "7", match="priority 7: 0 (default)")
    cli.fails(*SEND, "--phonebook", "nope", "--text", "hi", match="no phonebook 'nope'")
    cli.fails(*SEND, "--to-file", str(cli.dir / "missing.csv"), "--text", "hi", match="cannot read")
    cli.fails(*SEND, *to, "--text-file", str(cli.dir / "missing.txt"), match="cannot read")
    empty = cli.dir / "bad.csv"
    empty.write_text("number\n0612345678\n")
    result = cli(*SEND, "--to-file", str(empty), "--text", "hi")
    assert result.code == 1
    last = result.err.strip().splitlines()[-1]
    assert last == "smsgw: no valid recipient (1 invalid rows skipped)"


@pytest.mark.parametrize("text", ["", "  ", "\n", None])
def test_empty_or_blank_text_is_refused_and_not_charged(cli: Cli, text: str | None) -> None:
    if text is None:  # an empty --text-file
        empty = cli.dir / "empty.txt"
        empty.write_text("")
        given = ("--text-file", str(empty))
    else:
        given = ("--text", text)
    result = cli.fails(*SEND, "--to", "+33612345678", *given, match="the text is empty")
    assert result.err == "smsgw: the text is empty: give the message to send\n"
    assert cli.ok("credit", "show", "acme", "--json").json()["balance"] == 100
    assert cli.ok("message", "list", "--json").json()["messages"] == []


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--at", "9999-12-31T23:59:59-23:00", "send_at is more than 365 days ahead"),
        ("--at", "0001-01-01T00:00:00+01:00", "send_at is more than 7 days in the past"),
        ("--validity", "0", "validity 0 seconds: 1 to 38102400 (441 days)"),
        ("--validity", "99999999999999999999", "validity 99999999999999999999 seconds"),
        ("--priority", "9223372036854775808", "priority 9223372036854775808"),
        ("--ref", "r" * 101, "client_ref of 101 characters"),
    ],
)
def test_out_of_range_settings_are_refused_like_the_api_refuses_them(
    cli: Cli,
    flag: str,
    value: str,
    words: str,
) -> None:
    cli.fails(*SEND, "--to", "+33612345678", "--text", "hi", flag, value, match=words)
    assert cli.ok("credit", "show", "acme", "--json").json()["balance"] == 100


def test_send_without_price_says_how_to_set_one(cli: Cli) -> None:
    cli.config.write_text('[store]\nurl = "sqlite:var/other.db"\n')
    cli.ok("account", "create", "acme")
    cli.ok("sender", "add", "acme", "ACME")
    cli.ok("sender", "approve", "acme", "ACME")
    cli.ok("price", "set", "+33", "1")
    result = cli(*SEND, "--to", "+447911123456", "--text", "hi")
    assert result.code == 1
    assert "no price for +447911123456: set one with `smsgw price set PREFIX CREDITS`" in result.err


def test_dry_run_quotes_and_stores_nothing(cli: Cli) -> None:
    cli.ok("price", "set", "+33", "3")
    result = cli(
        *SEND, "--to", "+33612345678", "--to", "+4915112345678", "--text", "x" * 161, "--dry-run"
    )
    assert result.code == 0
    assert result.out == "+33612345678 6\n+4915112345678 2\n"  # +33 at 3, the default 1
    assert "2 segment(s) each (gsm7, 161 characters), 8 credits; nothing stored" in result.err
    doc = cli.ok(*SEND, "--to", "+33612345678", "--text", "hi", "--dry-run", "--json").json()
    assert (doc["credits"], doc["recipients"][0]["credits"], doc["refused"]) == (3, 3, [])
    assert cli.ok("credit", "show", "acme", "--json").json()["balance"] == 100
    assert cli.ok("message", "list", "--json").json()["messages"] == []
