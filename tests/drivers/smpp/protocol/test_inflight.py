"""InFlight: deadlines in the order sent, expiries set aside until the SMSC is heard."""

from __future__ import annotations

from drivers.smpp.protocol.inflight import InFlight


def test_the_next_deadline_skips_submits_answered_meanwhile() -> None:
    inflight = InFlight()
    inflight.add(1, 10.0)
    inflight.add(2, 11.0)
    assert inflight.next_deadline() == 10.0
    del inflight.pending[1]  # answered
    assert inflight.next_deadline() == 11.0
    del inflight.pending[2]
    assert inflight.next_deadline() is None


def test_expired_submits_are_set_aside_then_reported_once() -> None:
    inflight = InFlight()
    for seq, deadline in ((1, 10.0), (2, 11.0), (3, 20.0)):
        inflight.add(seq, deadline)
    assert not inflight.expire(9.0)
    assert inflight.expire(11.0)
    assert (len(inflight), inflight.timeouts) == (1, 2)
    assert inflight.heard() == [1, 2]
    assert inflight.heard() == []


def test_a_lost_connection_takes_every_unanswered_submit() -> None:
    inflight = InFlight()
    inflight.add(1, 10.0)
    inflight.add(2, 20.0)
    inflight.expire(15.0)
    assert inflight.lost() == [1, 2]  # set aside first, then the rest in the order sent
    assert (len(inflight), inflight.next_deadline(), inflight.heard()) == (0, None, [])
