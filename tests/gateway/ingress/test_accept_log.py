"""Accepted messages are logged by commit: one line per account and loop turn, with ids."""

from __future__ import annotations

import asyncio

import structlog
from structlog.testing import capture_logs

from gateway.ingress.accept_log import AcceptLog
from gateway.model.message import MessageClass, MessageState, SenderKind
from gateway.model.records import Message


def message(n: int, *, segments: int = 1) -> Message:
    return Message(
        id=f"m{n:04d}",
        account="acme",
        sender="ACME",
        sender_kind=SenderKind.ALPHA,
        destination="+33612345678",
        text="hi",
        encoding="gsm7",
        segments=segments,
        price=2,
        credits=2 * segments,
        msg_class=MessageClass.STANDARD,
        send_at=0.0,
        validity=None,
        priority=0,
        client_ref=None,
        callback_url=None,
        state=MessageState.DISPATCHING,
        attempts=0,
        next_attempt_at=0.0,
        created_at=0.0,
        updated_at=0.0,
        lease_owner=None,
        lease_until=None,
        error=None,
    )


async def test_sends_finished_in_one_loop_turn_make_one_line_per_account() -> None:
    log = AcceptLog(structlog.get_logger())
    with capture_logs() as logs:
        log.add("acme", [message(1)])
        log.add("acme", [message(2, segments=3)])
        log.add("zeta", [message(3)])
        assert logs == []  # nothing before the turn ends
        await asyncio.sleep(0)  # one loop turn
    assert logs == [
        {
            "event": "messages_enqueued",
            "log_level": "info",
            "account": "acme",
            "count": 2,
            "segments": 4,
            "credits": 8,
            "ids": ["m0001", "m0002"],
        },
        {
            "event": "messages_enqueued",
            "log_level": "info",
            "account": "zeta",
            "count": 1,
            "segments": 1,
            "credits": 2,
            "ids": ["m0003"],
        },
    ]


async def test_a_line_holds_at_most_max_ids_and_the_rest_follows() -> None:
    log = AcceptLog(structlog.get_logger(), max_ids=3)
    with capture_logs() as logs:
        log.add("acme", [message(n) for n in range(7)])
        assert [e["count"] for e in logs] == [3, 3]  # full lines go at once
        log.flush()
    assert [e["ids"] for e in logs] == [
        ["m0000", "m0001", "m0002"],
        ["m0003", "m0004", "m0005"],
        ["m0006"],
    ]
    assert [e["credits"] for e in logs] == [6, 6, 2]


async def test_a_later_turn_makes_a_line_of_its_own() -> None:
    log = AcceptLog(structlog.get_logger())
    with capture_logs() as logs:
        log.add("acme", [message(1)])
        await asyncio.sleep(0)
        log.add("acme", [message(2)])
        await asyncio.sleep(0)
    assert [e["ids"] for e in logs] == [["m0001"], ["m0002"]]
