"""How many submit_sm a link may send now: its window and its pace, sans-IO.

At most ``size`` submit_sm wait for their answers at once (the window), and
they go at the rate of a :class:`~drivers.smpp.protocol.pacing.SendPacer`
(the configured throughput, cut while the SMSC throttles, AIMD). Every
entry point takes ``now`` and the number of submit_sm in flight (the link
keeps them, one per sequence number): no clock, no asyncio. The link asks
:meth:`SendWindow.room` before sending, :meth:`SendWindow.ready_at` to know
what to wait for, and reports each send and each answer.
"""

from __future__ import annotations

import enum

from drivers.smpp.protocol.pacing import SendPacer

__all__ = ["Answer", "RateChange", "SendWindow"]

UNLIMITED = 1 << 30


class Answer(enum.Enum):
    ACCEPTED = "accepted"
    THROTTLED = "throttled"  # ESME_RTHROTTLED, ESME_RMSGQFUL...: slow down
    OTHER = "other"  # refused, or a transient error that says nothing of the rate


class RateChange(enum.Enum):
    CUT = "cut"  # a throttling answer lowered the rate (``rate`` says to what)
    RESTORED = "restored"  # back to the configured rate


class SendWindow:
    """The window and the pace of one link; see the module's docstring."""

    __slots__ = ("pacer", "size")

    def __init__(self, size: int, *, throughput: float = 0.0, min_throughput: float = 1.0) -> None:
        if size < 1:
            msg = f"a window holds one submit_sm at least, not {size}"
            raise ValueError(msg)
        self.size = size
        self.pacer = SendPacer(ceiling=throughput, floor=min_throughput)

    @property
    def throttled(self) -> bool:
        """Held below the configured rate after throttling answers."""
        return self.pacer.reduced

    @property
    def rate(self) -> float | None:
        """Submits per second allowed now; None: no limit."""
        return self.pacer.rate

    def room(self, now: float, in_flight: int) -> int:
        """How many submit_sm may go at ``now``, one after the other."""
        free = self.size - in_flight
        if free <= 0:
            return 0
        return min(free, self.pacer.allowance(now)) if self.pacer.interval else free

    def ready_at(self, now: float, in_flight: int) -> float | None:
        """When :meth:`room` is above 0: ``now``, a later moment (the pace), or None
        while the window is full (an answer must come first)."""
        if in_flight >= self.size:
            return None
        return self.pacer.next_send_time(now)

    def sent(self, now: float) -> None:
        """A submit_sm went at ``now``."""
        if self.pacer.interval:
            self.pacer.on_sent(now)

    def answered(self, now: float, answer: Answer) -> RateChange | None:
        """A submit_sm answered; what it changed of the rate, if anything."""
        if answer is Answer.ACCEPTED:
            return RateChange.RESTORED if self.pacer.on_accepted(now) else None
        if answer is Answer.THROTTLED:
            return RateChange.CUT if self.pacer.on_throttled(now) else None
        return None
