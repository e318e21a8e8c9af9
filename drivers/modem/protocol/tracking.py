"""Sans-IO bookkeeping of a modem link: the send rate and the receipts to match.

Both take ``now`` (seconds on any monotonic scale) from the caller, so tests
drive them without waiting.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from drivers.modem.protocol.tpdu import StatusReport


class TokenBucket:
    """At most ``per_minute`` sends a minute, with bursts of up to ``burst``."""

    def __init__(self, *, per_minute: float, burst: int = 1) -> None:
        self._interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._burst = max(1, burst)
        self._tokens = float(self._burst)
        self._last: float | None = None

    def _refill(self, now: float) -> None:
        if self._last is not None and self._interval:
            self._tokens = min(self._burst, self._tokens + (now - self._last) / self._interval)
        self._last = now

    def delay(self, now: float) -> float:
        """Seconds until a send is allowed (0 when one is allowed now)."""
        if not self._interval:
            return 0.0
        self._refill(now)
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) * self._interval

    def take(self, now: float) -> None:
        """Spend one send (call when :meth:`delay` returned 0)."""
        if not self._interval:
            return
        self._refill(now)
        self._tokens -= 1.0


def _digits_tail(number: str, size: int = 8) -> str:
    return "".join(c for c in number if c.isdigit())[-size:]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Sent:
    reference: int
    destination: str
    smsc_id: str
    at: float


class ReceiptMatcher:
    """Matches status reports to sent segments by (TP-MR, recipient) within a window.

    TP-MR is one octet and wraps after 256 sends, so a reference alone is
    ambiguous; with the recipient and a window it is not, in practice. When
    several sends still match, the most recent one wins. A final report
    forgets its send; a "still trying" report keeps it for the final one.

    A report can overtake the +CMGS answer it belongs to (both arrive in one
    read): :meth:`hold` keeps such a report for ``early_window`` seconds and
    :meth:`remember` hands it back when its send is recorded.
    """

    def __init__(self, *, window: float, limit: int = 100_000, early_window: float = 120.0) -> None:
        self._window = window
        self._limit = limit
        self._early_window = early_window
        self._sent: OrderedDict[str, _Sent] = OrderedDict()
        self._early: list[tuple[float, StatusReport]] = []

    def __len__(self) -> int:
        return len(self._sent)

    def remember(
        self, *, reference: int, destination: str, smsc_id: str, now: float
    ) -> list[StatusReport]:
        """Record a send; returns the reports on it that arrived before it (usually none)."""
        self._sent[smsc_id] = _Sent(
            reference=reference, destination=destination, smsc_id=smsc_id, at=now
        )
        while len(self._sent) > self._limit:
            self._sent.popitem(last=False)
        self._early = [(at, r) for at, r in self._early if now - at <= self._early_window]
        tail = _digits_tail(destination)
        early = [
            r
            for _, r in self._early
            if r.reference == reference and _digits_tail(r.recipient) == tail
        ]
        if early:
            self._early = [(at, r) for at, r in self._early if r not in early]
        return early

    def hold(self, report: StatusReport, *, now: float) -> None:
        """Keep a report that matched nothing, in case its send is being recorded."""
        self._early.append((now, report))
        del self._early[: max(0, len(self._early) - 1000)]

    def match(self, *, reference: int, recipient: str, now: float, final: bool) -> str | None:
        """The smsc_id a report on (reference, recipient) is about, or None."""
        self.expire(now)
        tail = _digits_tail(recipient)
        for sent in reversed(self._sent.values()):
            if sent.reference == reference and _digits_tail(sent.destination) == tail:
                if final:
                    del self._sent[sent.smsc_id]
                return sent.smsc_id
        return None

    def expire(self, now: float) -> None:
        while self._sent:
            oldest = next(iter(self._sent.values()))
            if now - oldest.at <= self._window:
                break
            self._sent.popitem(last=False)
