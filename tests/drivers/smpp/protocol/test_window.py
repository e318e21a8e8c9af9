"""The send window of a link: answers outstanding and the pace, sans-IO."""

from __future__ import annotations

import pytest

from drivers.smpp.protocol.window import Answer, RateChange, SendWindow


def test_without_a_throughput_the_window_alone_limits() -> None:
    window = SendWindow(4)
    assert window.room(0.0, 0) == 4
    assert window.room(0.0, 3) == 1
    assert window.room(0.0, 4) == 0
    assert window.ready_at(0.0, 4) is None  # an answer must come first
    assert window.ready_at(5.0, 2) == 5.0
    assert window.rate is None
    assert not window.throttled


def test_a_throughput_paces_the_sends() -> None:
    window = SendWindow(64, throughput=10.0)
    assert window.room(0.0, 0) == 1
    window.sent(0.0)
    assert window.room(0.0, 1) == 0
    assert window.ready_at(0.0, 1) == pytest.approx(0.1)
    assert window.room(0.1, 1) == 1


def test_throttling_answers_cut_the_rate_and_accepted_ones_restore_it() -> None:
    window = SendWindow(64, throughput=100.0, min_throughput=1.0)
    now = 0.0
    for _ in range(20):  # half accepted, half throttled over a second
        now += 0.05
        window.sent(now)
        assert window.answered(now, Answer.ACCEPTED) is None
    change = window.answered(now + 0.01, Answer.THROTTLED)
    assert change is RateChange.CUT
    assert window.throttled
    assert window.rate is not None
    assert window.rate < 100.0
    assert window.answered(now + 0.02, Answer.OTHER) is None
    changes = {window.answered(now + 1 + i / 1000, Answer.ACCEPTED) for i in range(1000)}
    assert RateChange.RESTORED in changes
    assert (window.throttled, window.rate) == (False, 100.0)


def test_a_window_holds_one_submit_at_least() -> None:
    with pytest.raises(ValueError, match="one submit_sm at least"):
        SendWindow(0)
