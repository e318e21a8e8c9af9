"""The SMPP link's send rate (drivers/smpp/protocol/pacing.py), sans-IO with a fake clock."""

from __future__ import annotations

import pytest

from drivers.smpp.protocol.pacing import HOLD, INCREASE, LEAST_CUT, SendPacer


def run(
    pacer: SendPacer,
    *,
    seconds: float,
    offered: float,
    capacity: float | None = None,
    share: float = 0.0,
    start: float = 0.0,
) -> tuple[int, int]:
    """Submits offered at ``offered``/s for ``seconds`` (each as soon as the pacer lets
    it go), answered at once: throttled beyond ``capacity``/s or for ``share`` of them
    (every 1/share-th). Returns (accepted, throttled)."""
    now = start
    end = start + seconds
    step = 1.0 / offered
    accepted = throttled = 0
    window: list[float] = []
    n = 0
    while now < end:
        now = max(now, pacer.next_send_time(now))
        if now >= end:
            break
        pacer.on_sent(now)
        n += 1
        window = [t for t in window if t > now - 1.0]
        over = capacity is not None and len(window) >= capacity
        refused = share and n % round(1 / share) == 0
        if over or refused:
            pacer.on_throttled(now)
            throttled += 1
        else:
            window.append(now)
            pacer.on_accepted(now)
            accepted += 1
        now += step
    return accepted, throttled


def test_without_throttling_nothing_is_held_back() -> None:
    free = SendPacer()
    assert free.rate is None
    assert free.next_send_time(5.0) == 5.0
    assert not free.reduced
    limited = SendPacer(ceiling=100)
    limited.on_sent(0.0)
    assert limited.next_send_time(0.0) == pytest.approx(0.01)  # one submit per interval


def test_a_throttling_answer_cuts_to_what_the_smsc_accepted_and_holds() -> None:
    pacer = SendPacer(ceiling=1000)
    run(pacer, seconds=1.0, offered=1000, capacity=100)
    assert pacer.reduced
    assert pacer.rate is not None
    assert pacer.rate < 1000 * LEAST_CUT
    now = 1.0
    while not pacer.on_throttled(now):  # the next cut, once the last one's hold is over
        now += 0.05
    cut = pacer.rate
    # within HOLD of a cut another throttling answer cuts no further
    assert pacer.on_throttled(now + HOLD / 10) is False
    assert pacer.rate == cut


def test_the_rate_settles_near_the_smsc_capacity() -> None:
    pacer = SendPacer(ceiling=5000)
    accepted, _ = run(pacer, seconds=20.0, offered=5000, capacity=500)
    # 20 s at 500/s is 10,000: the link keeps probing above the capacity (additive
    # increase), and what it gets through stays near it
    assert accepted >= 0.85 * 10_000


def test_random_refusals_cost_their_share_only() -> None:
    pacer = SendPacer(ceiling=2000)
    accepted, _ = run(pacer, seconds=10.0, offered=2000, share=0.2)
    # the SMSC takes 80% of whatever comes: each cut (at most one per HOLD) costs
    # about that share and accepted answers win part of it back; a link-wide
    # pause per refusal (what this replaced) got through ~5 per second
    assert accepted >= 0.5 * 2000 * 10


def test_accepted_answers_restore_the_configured_rate() -> None:
    pacer = SendPacer(ceiling=100, floor=1)
    run(pacer, seconds=2.0, offered=100, capacity=20)
    assert pacer.reduced
    now = 10.0
    restored = False
    for _ in range(round(100 / INCREASE) + 10):
        now = max(now, pacer.next_send_time(now))
        pacer.on_sent(now)
        if pacer.on_accepted(now):
            restored = True
            break
    assert restored
    assert pacer.rate == 100  # the configured rate again, not a reduced one


def test_the_rate_never_goes_below_the_floor() -> None:
    pacer = SendPacer(ceiling=100, floor=10)
    run(pacer, seconds=10.0, offered=100, capacity=0.5)
    assert pacer.rate is not None
    assert pacer.rate >= 10


def test_a_floor_must_be_positive() -> None:
    with pytest.raises(ValueError, match="floor"):
        SendPacer(floor=0)
