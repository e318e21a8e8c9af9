"""The reassembly rules every backend calls: where a part goes, how parts are joined,
what a silent key leaves (gateway.store.reassembly)."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.link.interface import Concat, InboundPart
from gateway.store.reassembly import (
    HeldPart,
    Step,
    assemble,
    held_from,
    join_parts,
    key_of,
    part_row,
    place,
    release,
    silent,
)
from tests.gateway.store.replies import LONG_GSM, parts_of


def hold(parts: list[InboundPart], *, done: bool = False) -> list[HeldPart]:
    return [HeldPart(p, "acme", done) for p in parts]


def test_a_part_of_one_piece_has_no_key() -> None:
    [part] = parts_of("short reply")
    with pytest.raises(ValueError, match="whole reply"):
        key_of(part)


def test_the_part_that_makes_the_key_whole_completes_it_in_order() -> None:
    parts = parts_of(LONG_GSM)
    assert len(parts) >= 3
    held = hold([parts[2], parts[0], *parts[3:]])
    assert place(held[:1], parts[1]).step is Step.HOLD
    placement = place(held, parts[1])
    assert placement.step is Step.COMPLETE
    assert not placement.forget
    assert placement.parts == tuple(parts)


def test_a_copy_of_a_held_part_is_a_redelivery_and_the_first_copy_wins() -> None:
    parts = parts_of(LONG_GSM)
    other = dataclasses.replace(parts[0], payload=b"other")
    assert place(hold(parts[:1]), parts[0]).step is Step.REDELIVERED
    assert place(hold(parts[:1]), other).step is Step.REDELIVERED


def test_a_copy_of_a_stored_replys_part_is_a_redelivery() -> None:
    parts = parts_of(LONG_GSM)
    assert place(hold(parts, done=True), parts[1]).step is Step.REDELIVERED


def test_another_part_under_a_stored_replys_key_starts_a_new_reply() -> None:
    # the 8-bit reference came round again: nothing of the old reply is reused
    parts = parts_of(LONG_GSM)
    new = dataclasses.replace(parts[0], payload=b"a new reply")
    placement = place(hold(parts, done=True), new)
    assert (placement.step, placement.forget) == (Step.HOLD, True)


def test_escape_split_across_parts_by_another_sender_still_decodes() -> None:
    # a sender that cut between ESC and the euro code: join first, decode after
    def part(seq: int, payload: bytes) -> InboundPart:
        return InboundPart(
            link="l",
            source="+1",
            destination="+2",
            data_coding=0,
            payload=payload,
            concat=Concat(reference=1, total=2, sequence=seq),
            received_at=0,
        )

    placement = place(hold([part(2, b"\x65def")]), part(1, b"abc\x1b"))
    assert placement.step is Step.COMPLETE
    assert join_parts(placement.parts) == "abc€def"


def test_a_silent_key_is_released_with_its_missing_parts() -> None:
    parts = parts_of(LONG_GSM, at=10)
    held = hold(parts[:1] + parts[2:])
    assert not silent(held, before=10)
    assert silent(held, before=10.5)
    reply = release(held, message_id="IN1")
    assert reply is not None
    assert reply.missing == (2,)
    assert not reply.complete
    assert reply.received == len(parts) - 1
    assert reply.message.text.startswith(LONG_GSM[:100])
    assert (reply.message.id, reply.message.account) == ("IN1", "acme")


def test_a_stored_replys_parts_are_forgotten_not_released() -> None:
    assert release(hold(parts_of(LONG_GSM), done=True), message_id="IN1") is None
    assert release([], message_id="IN1") is None


def test_a_row_reads_back_as_the_part_it_was() -> None:
    part = dataclasses.replace(parts_of(LONG_GSM, at=12)[1], smsc_timestamp=11.0)
    assert held_from(part_row(part, None, done=True)) == HeldPart(part, None, True)


def test_a_reply_of_one_piece_is_assembled_whole() -> None:
    [part] = parts_of("short reply", at=3)
    reply = assemble([part], total=1, message_id="IN1", account=None)
    assert (reply.message.text, reply.complete, reply.received) == ("short reply", True, 1)
    assert reply.message.received_at == 3


# texts the codec accepts: no lone surrogates, no NUL (gateway.model.errors.InvalidText)
TEXTS = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=600,
)


@given(TEXTS, st.randoms(use_true_random=False))
def test_any_text_in_any_order_round_trips(text: str, rnd: random.Random) -> None:
    parts = parts_of(text)
    if len(parts) == 1:
        assert assemble(parts, total=1, message_id="x", account=None).message.text == text
        return
    rnd.shuffle(parts)
    held: list[HeldPart] = []
    texts = []
    for part in parts:
        placement = place(held, part)
        if placement.step is Step.COMPLETE:
            texts.append(join_parts(placement.parts))
        held.append(HeldPart(part, None, False))
    assert texts == [text]


def test_a_reply_is_dated_and_linked_by_the_part_that_came_first() -> None:
    parts = parts_of(LONG_GSM, at=20)
    late_first = dataclasses.replace(parts[0], link="l2", received_at=30)
    early_last = dataclasses.replace(parts[-1], link="l3", received_at=10)
    reply = assemble(
        [late_first, *parts[1:-1], early_last], total=len(parts), message_id="x", account=None
    )
    assert (reply.message.link, reply.message.received_at) == ("l3", 10)
    assert reply.message.text == LONG_GSM
