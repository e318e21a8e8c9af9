"""When a link's next submit_sm may go: the configured rate, adapted to what the SMSC takes.

Sans-IO: every entry point takes ``now``; no clock, no asyncio. The link asks
:meth:`SendPacer.next_send_time` before a submit, tells :meth:`SendPacer.on_sent`
when it went, and reports each answer: :meth:`SendPacer.on_accepted` or
:meth:`SendPacer.on_throttled` (ESME_RTHROTTLED, ESME_RMSGQFUL...).

The rate is AIMD (additive increase, multiplicative decrease):

- a throttling answer cuts the allowed rate to the rate the SMSC accepted
  over the last second, and by a tenth at least; then no further cut for a
  second (:data:`HOLD`), so that the next cut is measured at the new rate. A
  link sending 30 times its SMSC's capacity is at that capacity after one
  cut; an SMSC that refuses a share of everything at random is cut by that
  share only;
- each accepted submit_sm adds :data:`INCREASE` per second to the allowed
  rate (so it grows back in proportion to what gets through, the same time
  at any scale), until it reaches ``throughput`` or, with no throughput
  configured, twice what the link sends (the limit no longer holds anything
  back): then the link is no longer held back;
- the rate stays between ``floor`` and ``ceiling`` (the configured
  ``min_throughput`` and ``throughput``).

While cut, up to :data:`BURST` seconds' worth of submits may go at once (a
token bucket), so that a fast link is not held to one submit per event-loop
turn. Before the first throttling answer, and once recovered, nothing
changes: the link sends at ``throughput`` (one submit per interval), or as
fast as its window allows when none is configured.
"""

from __future__ import annotations

from collections import deque

HOLD = 1.0  # seconds after a cut before another throttling answer may cut again
BURST = 0.01  # seconds of the cut rate that may go at once
INCREASE = 0.4  # submit_sm per second added to the allowed rate per accepted submit_sm
LEAST_CUT = 0.9  # a cut keeps at most this share of the rate
UNUSED = 2.0  # no throughput: a limit this many times what is sent is lifted
MARK_EVERY = 0.1  # seconds between two samples of the answer counts
MARKS = 11  # samples kept: the accepted rate is measured over about a second
MIN_SPAN = 0.05  # seconds of answers needed before a measured rate is trusted


class SendPacer:
    """The send rate of one link; see the module's docstring."""

    __slots__ = (
        "_accepted",
        "_answered",
        "_burst",
        "_hold_until",
        "_marks",
        "_rate",
        "_tokens",
        "_tokens_at",
        "ceiling",
        "floor",
        "interval",
    )

    def __init__(self, *, ceiling: float = 0.0, floor: float = 1.0) -> None:
        """``ceiling``: the configured submit_sm per second (0 = no limit);
        ``floor``: the rate throttling never goes below (at most ``ceiling``)."""
        if floor <= 0:
            msg = f"the floor must be above 0, not {floor}"
            raise ValueError(msg)
        self.ceiling = ceiling
        self.floor = min(floor, ceiling) if ceiling else floor
        self.interval = 1.0 / ceiling if ceiling else 0.0  # seconds between submits; 0: none
        self._rate: float | None = None  # allowed rate while cut; None: not held back
        self._hold_until = 0.0
        # a token bucket: _tokens submits may go at _tokens_at, one more every interval
        self._burst = 1.0
        self._tokens = 1.0
        self._tokens_at = 0.0
        self._accepted = 0  # answers counted since start
        self._answered = 0
        self._marks: deque[tuple[float, int, int]] = deque(maxlen=MARKS)

    # --- queries -------------------------------------------------------------------

    @property
    def rate(self) -> float | None:
        """Submits per second allowed now; None: no limit at all."""
        if self._rate is not None:
            return self._rate
        return self.ceiling or None

    @property
    def reduced(self) -> bool:
        """Held below the configured rate after throttling answers."""
        return self._rate is not None

    def next_send_time(self, now: float) -> float:
        """When the next submit may go: ``now`` means at once."""
        if not self.interval:
            return now
        due = self._tokens_at + max(0.0, 1.0 - self._tokens) * self.interval
        return max(now, due)

    def allowance(self, now: float) -> int:
        """How many submits may go at ``now``, one after the other."""
        if not self.interval:
            return 1 << 30
        if now < self._tokens_at:
            return 0
        return int(min(self._burst, self._tokens + (now - self._tokens_at) / self.interval))

    # --- events --------------------------------------------------------------------

    def on_sent(self, now: float) -> None:
        """A submit went at ``now`` (or is booked for that moment, if later)."""
        if self.interval:
            self._refill(now)
            self._tokens -= 1.0

    def on_accepted(self, now: float) -> bool:
        """An accepted submit_sm; True when this ends a reduction (back to full rate)."""
        self._accepted += 1
        self._answered += 1
        marked = now >= self._next_mark()
        if marked:
            self._mark(now)
        rate = self._rate
        if rate is None:
            return False
        rate += INCREASE
        ceiling = self.ceiling
        if ceiling:
            if rate >= ceiling:
                return self._lift(now)
        elif marked:
            measured = self._measured(now)
            if measured is not None and rate >= UNUSED * measured[1]:
                return self._lift(now)
        self._rate = rate
        self.interval = 1.0 / rate
        self._burst = max(1.0, rate * BURST)
        return False

    def on_throttled(self, now: float) -> bool:
        """A throttling answer; True when it cut the rate (``rate`` says to what)."""
        self._answered += 1
        if now >= self._next_mark():
            self._mark(now)
        if now < self._hold_until:
            return False
        measured = self._measured(now)
        if measured is None:
            return False  # too little seen yet to know what the SMSC takes
        accepted, answered = measured
        current = min(self._rate or self.ceiling or answered, answered)
        if current <= self.floor:  # at the floor already: hold it
            self._hold_until = now + HOLD
            return False
        self._set(now, max(self.floor, min(accepted, current * LEAST_CUT)))
        self._hold_until = now + HOLD
        return True

    # --- internals -----------------------------------------------------------------

    def _set(self, now: float, rate: float) -> None:
        if self.interval:
            self._refill(now)
        else:  # held back from now on
            self._tokens, self._tokens_at = 1.0, now
        self._rate = rate
        self.interval = 1.0 / rate
        self._burst = max(1.0, rate * BURST)

    def _lift(self, now: float) -> bool:
        """No longer held back: the configured rate (or none) again."""
        if self.interval:
            self._refill(now)
        self._rate = None
        self.interval = 1.0 / self.ceiling if self.ceiling else 0.0
        self._burst = 1.0
        self._tokens = min(self._tokens, 1.0)
        return True

    def _refill(self, now: float) -> None:
        """The bucket as of ``now`` (never back in time: bookings ahead stay)."""
        if now > self._tokens_at:
            self._tokens = min(self._burst, self._tokens + (now - self._tokens_at) / self.interval)
            self._tokens_at = now

    def _next_mark(self) -> float:
        marks = self._marks
        return marks[-1][0] + MARK_EVERY if marks else 0.0

    def _mark(self, now: float) -> None:
        self._marks.append((now, self._accepted, self._answered))

    def _measured(self, now: float) -> tuple[float, float] | None:
        """(accepted, answered) per second over the last second or so, once trusted."""
        if not self._marks:
            return None
        since, accepted, answered = self._marks[0]
        span = now - since
        if span < MIN_SPAN:
            return None
        return (self._accepted - accepted) / span, (self._answered - answered) / span
