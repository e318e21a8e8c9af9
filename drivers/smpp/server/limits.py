"""The SMPP server's limits, sans-IO (``now`` passed in): throughput per credential
and failed binds per peer address. Each holds a bounded amount of memory."""

from __future__ import annotations

MAX_TRACKED = 10_000  # credentials or addresses remembered at once


class Throughput:
    """A token bucket per system_id: ``rate`` submits a second, bursts of one second's worth."""

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # system_id -> (tokens, at)

    def take(self, system_id: str, rate: int | None, now: float) -> bool:
        """Whether one more submit fits now (it is counted when it does)."""
        if rate is None or rate <= 0:
            return True
        tokens, at = self._buckets.get(system_id, (float(rate), now))
        tokens = min(float(rate), tokens + (now - at) * rate)
        if tokens < 1.0:
            self._buckets[system_id] = (tokens, now)
            return False
        if len(self._buckets) >= MAX_TRACKED and system_id not in self._buckets:
            self._buckets.clear()  # forgetting gives a full bucket: never stricter
        self._buckets[system_id] = (tokens - 1.0, now)
        return True


class FailedBinds:
    """Binds refused per peer address: past ``limit`` within ``period`` seconds,
    that address's binds are refused without asking the gateway until the
    period has passed since its last failure. The server checks one bind at a
    time per address (``SmppServer.bind_turn``), each failure counted before
    the next is looked at, so that however many binds an address sends at once
    at most ``limit`` of them cost a password check."""

    __slots__ = ("_failures", "_reported", "limit", "period")

    def __init__(self, *, limit: int = 5, period: float = 60.0) -> None:
        self.limit = limit
        self.period = period
        self._failures: dict[str, tuple[int, float]] = {}  # peer -> (count, last at)
        self._reported: set[str] = set()  # blocked addresses already logged as such

    def blocked(self, peer: str, now: float) -> bool:
        entry = self._failures.get(peer)
        if entry is None:
            return False
        count, last = entry
        if now - last >= self.period:
            del self._failures[peer]
            self._reported.discard(peer)
            return False
        return count >= self.limit

    def first_refusal(self, peer: str) -> bool:
        """Whether this is the first bind refused because ``peer`` is blocked (since
        it last was not): the one to log at info, the others at debug."""
        if peer in self._reported:
            return False
        self._reported.add(peer)
        return True

    def failed(self, peer: str, now: float) -> None:
        count, last = self._failures.get(peer, (0, now))
        if now - last >= self.period:
            count = 0
        if len(self._failures) >= MAX_TRACKED and peer not in self._failures:
            self._prune(now)
        self._failures[peer] = (count + 1, now)

    def succeeded(self, peer: str) -> None:
        self._failures.pop(peer, None)
        self._reported.discard(peer)

    def _prune(self, now: float) -> None:
        old = [p for p, (_, last) in self._failures.items() if now - last >= self.period]
        for peer in old:
            del self._failures[peer]
        if len(self._failures) >= MAX_TRACKED:
            self._failures.clear()
        self._reported &= self._failures.keys()
