"""The submit_sm of one ESME session awaiting their answer, each with its deadline.

Sans-IO, time as data. A submit past its deadline is set aside
(:meth:`InFlight.expire`), not reported at once: the session reports it when
the SMSC is heard from again (:meth:`InFlight.heard`), and if it never is,
the submit is lost with the connection (:meth:`InFlight.lost`) and goes out
again on another session. ``timeouts`` counts the submits unanswered in a
row; the session resets it when the SMSC answers a submit or delivers.
"""

from __future__ import annotations

from collections import deque


class InFlight:
    """Submits sent and not answered: sequence -> deadline, in the order sent."""

    __slots__ = ("_deadlines", "expired", "pending", "timeouts")

    def __init__(self) -> None:
        self.pending: dict[int, float] = {}  # sequence -> deadline
        self._deadlines: deque[tuple[float, int]] = deque()  # (deadline, sequence), as sent
        self.expired: list[int] = []  # past their deadline, reported once the SMSC is heard
        self.timeouts = 0  # submits unanswered in a row, no submit/deliver answer since

    def __len__(self) -> int:
        return len(self.pending)

    def add(self, seq: int, deadline: float) -> None:
        self.pending[seq] = deadline
        self._deadlines.append((deadline, seq))

    def next_deadline(self) -> float | None:
        """The earliest deadline of a submit still unanswered, or None."""
        deadlines, pending = self._deadlines, self.pending
        while deadlines and deadlines[0][1] not in pending:
            deadlines.popleft()  # answered meanwhile
        return deadlines[0][0] if deadlines else None

    def expire(self, now: float) -> bool:
        """Set aside every submit past its deadline at ``now``; True if there was one."""
        deadlines, pending = self._deadlines, self.pending
        expired = False
        while deadlines and deadlines[0][0] <= now:
            _, seq = deadlines.popleft()
            if pending.pop(seq, None) is not None:
                self.expired.append(seq)
                self.timeouts += 1
                expired = True
        return expired

    def heard(self) -> list[int]:
        """The SMSC is there: the submits set aside, to report now as unanswered."""
        expired, self.expired = self.expired, []
        return expired

    def lost(self) -> list[int]:
        """The connection is gone: every submit unanswered, set aside ones first."""
        lost = [*self.expired, *self.pending]
        self.expired = []
        self.pending.clear()
        self._deadlines.clear()
        return lost
