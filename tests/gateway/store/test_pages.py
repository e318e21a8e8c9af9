"""The lists' cursors: what a page gives back is what the next page reads, and
anything else is one clear refusal."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.model.errors import InvalidField
from gateway.model.records import EntryKind, LedgerEntry
from gateway.store import admission
from gateway.store.pages import (
    journal_cursor,
    message_cursor,
    parse_inbound_cursor,
    parse_journal_cursor,
    parse_message_cursor,
)
from tests.gateway.store.support import new_message


def _raw(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


_IDS = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=63)


@given(st.floats(min_value=0, max_value=4e9), _IDS)
def test_a_message_cursor_gives_back_its_key(at: float, message_id: str) -> None:
    m = admission.new_message(new_message(), message_id, at, None)
    assert parse_message_cursor(message_cursor(m)) == (at, message_id)


@given(st.integers(min_value=1, max_value=2**62))
def test_a_journal_cursor_gives_back_its_id(entry_id: int) -> None:
    e = LedgerEntry(
        id=entry_id,
        account="acme",
        at=0.0,
        kind=EntryKind.TOPUP,
        amount=1,
        balance_after=1,
        reference="r",
        message_id=None,
        note=None,
    )
    assert parse_journal_cursor(journal_cursor(e)) == entry_id


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "x" * 401,
        "é",
        "%%%",
        _raw(["m", "NaN-free?", 1]),  # fields swapped
        _raw(["m", float("inf"), "01H"]),
        _raw(["m", True, "01H"]),
        _raw(["m", 1.0]),
        _raw(["j", 3]),  # the journal's
        _raw({"m": 1}),
        _raw([]),
        _raw("m"),
    ],
)
def test_anything_else_is_refused_naming_the_cursor(cursor: str) -> None:
    with pytest.raises(InvalidField, match="'cursor'"):
        parse_message_cursor(cursor)


def test_journal_and_reply_cursors_take_only_their_own() -> None:
    for bad in (_raw(["j", "3"]), _raw(["j", True]), _raw(["i", 3])):
        with pytest.raises(InvalidField):
            parse_journal_cursor(bad)
    assert parse_inbound_cursor(_raw(["i", "in-1"])) == "in-1"
    with pytest.raises(InvalidField):
        parse_inbound_cursor(_raw(["i", 1]))
