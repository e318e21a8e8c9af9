"""MO reassembly: any order, duplicates, timeouts, bounded memory."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.codec import encode
from gateway.inbound.reassembly import Reassembler
from gateway.link.interface import Concat, InboundPart

UCS2 = 0x08


def parts_of(
    text: str, *, reference: int = 7, source: str = "+33612345678", at: float = 0.0
) -> list[InboundPart]:
    """Encode text as the handset would and turn the segments into MO parts."""
    segments = encode(text, concat="sar", reference=reference)
    out = []
    for seg in segments:
        concat = None
        if seg.sar is not None:
            ref, total, seq = seg.sar
            concat = Concat(reference=ref, total=total, sequence=seq)
        out.append(
            InboundPart(
                link="l1",
                source=source,
                destination="+33700000001",
                data_coding=seg.data_coding,
                payload=seg.payload,
                concat=concat,
                received_at=at,
            )
        )
    return out


LONG_GSM = "Bonjour {tout} le monde, ceci est un message long avec un euro €. " * 6
LONG_UCS2 = "Привет, это длинное сообщение 😀 " * 8


def test_single_part_is_returned_at_once() -> None:
    r = Reassembler(timeout=60)
    [part] = parts_of("short reply")
    msg = r.add(part, now=0)
    assert msg is not None
    assert msg.text == "short reply"
    assert msg.complete
    assert len(r) == 0


@pytest.mark.parametrize("text", [LONG_GSM, LONG_UCS2])
def test_every_order_gives_the_whole_text(text: str) -> None:
    parts = parts_of(text)
    assert len(parts) >= 3
    for order in itertools.islice(itertools.permutations(parts), 24):
        r = Reassembler(timeout=60)
        results = [r.add(p, now=i) for i, p in enumerate(order)]
        assert results[:-1] == [None] * (len(order) - 1)
        last = results[-1]
        assert last is not None
        assert last.text == text
        assert last.received == last.total == len(parts)
        assert len(r) == 0


def test_interleaved_messages_from_two_senders_stay_apart() -> None:
    a = parts_of(LONG_GSM, source="+33611111111")
    b = parts_of(LONG_UCS2, source="+33622222222")
    r = Reassembler(timeout=60)
    done = [
        m
        for p in itertools.chain(*itertools.zip_longest(a, b))
        if p
        if (m := r.add(p, now=0)) is not None
    ]
    assert sorted(m.text for m in done) == sorted([LONG_GSM, LONG_UCS2])


def test_duplicate_part_before_completion_is_ignored() -> None:
    parts = parts_of(LONG_GSM)
    r = Reassembler(timeout=60)
    assert r.add(parts[0], now=0) is None
    assert r.add(parts[0], now=1) is None
    msgs = [r.add(p, now=2) for p in parts[1:]]
    assert msgs[-1] is not None
    assert msgs[-1].text == LONG_GSM


def test_part_redelivered_after_completion_starts_nothing() -> None:
    parts = parts_of(LONG_GSM)
    r = Reassembler(timeout=60)
    for p in parts:
        r.add(p, now=0)
    assert r.add(parts[1], now=5) is None
    assert len(r) == 0
    assert r.expire(now=1000) == []


def test_missing_part_is_released_incomplete_after_timeout() -> None:
    parts = parts_of(LONG_GSM)
    r = Reassembler(timeout=30)
    for p in parts[:1] + parts[2:]:
        assert r.add(p, now=10) is None
    assert r.next_deadline() == 40
    assert r.expire(now=39.9) == []
    [msg] = r.expire(now=40)
    assert not msg.complete
    assert msg.missing == (2,)
    assert msg.received == len(parts) - 1
    assert msg.text.startswith(LONG_GSM[:100])
    assert r.next_deadline() is None


def test_late_part_extends_the_deadline() -> None:
    parts = parts_of(LONG_GSM)
    r = Reassembler(timeout=30)
    r.add(parts[0], now=0)
    r.add(parts[1], now=20)
    assert r.expire(now=35) == []
    assert r.next_deadline() == 50


def test_flood_of_incomplete_messages_is_bounded() -> None:
    r = Reassembler(timeout=60, max_pending=10)
    for ref in range(25):
        r.add(parts_of(LONG_GSM, reference=ref)[0], now=ref)
    assert len(r) == 10
    evicted = r.take_evicted()
    assert len(evicted) == 15
    assert all(not m.complete for m in evicted)
    assert r.take_evicted() == []


def test_escape_split_across_parts_by_another_sender_still_decodes() -> None:
    # a sender that cut between ESC and the euro code: join first, decode after
    first = InboundPart(
        link="l",
        source="+1",
        destination="+2",
        data_coding=0,
        payload=b"abc\x1b",
        concat=Concat(reference=1, total=2, sequence=1),
        received_at=0,
    )
    second = InboundPart(
        link="l",
        source="+1",
        destination="+2",
        data_coding=0,
        payload=b"\x65def",
        concat=Concat(reference=1, total=2, sequence=2),
        received_at=0,
    )
    r = Reassembler(timeout=60)
    assert r.add(second, now=0) is None
    msg = r.add(first, now=0)
    assert msg is not None
    assert msg.text == "abc€def"


def test_nonpositive_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        Reassembler(timeout=0)


# texts the codec accepts: no lone surrogates, no NUL (gateway.model.errors.InvalidText)
TEXTS = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=600,
)


@given(TEXTS, st.randoms(use_true_random=False))
def test_any_text_in_any_order_round_trips(text: str, rnd: object) -> None:
    import random

    assert isinstance(rnd, random.Random)
    parts = parts_of(text)
    rnd.shuffle(parts)
    r = Reassembler(timeout=60)
    results = [m for p in parts if (m := r.add(p, now=0)) is not None]
    assert [m.text for m in results] == [text]
