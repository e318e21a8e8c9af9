"""When a message whose send failed for now is tried again.

A transient outcome sends the message back to the queue with a back-off
(``retry_at``); a later claim routes it again, so a link that is down or
throttling is skipped while another can take the traffic. Throttling and a
lost link are the link's state, not the message's fault: such a message is
tried again soon (throttling), or backs off to at most ``link_cap`` (a link
down: queued messages are not rewritten every second, and a link coming back
makes them due at once, see ``Store.wake_waiting``); other transient errors
back off exponentially with the message's attempts, to at most ``cap``. Every
delay is jittered (half to the whole of it).
"""

from __future__ import annotations

import random

from gateway.model.outcomes import Retry

# retries that are the link's state: backed off to the link cap only
LINK_STATE_REASONS = frozenset({"link_down", "no_link_bound", "no_route"})
# retries a link coming back ends: the message waited for a link, not for itself
WAITING_FOR_A_LINK = ("link_down", "no_link_bound", "timeout")


class RetryPolicy:
    __slots__ = ("_base", "_link_max", "_max", "_rng")

    def __init__(self, *, base: float, cap: float, link_cap: float, rng: random.Random) -> None:
        self._base = base
        self._max = cap
        self._link_max = link_cap
        self._rng = rng

    def delay(self, attempts: int, outcome: Retry) -> float:
        """Seconds before a message with ``attempts`` that got ``outcome`` is tried again."""
        if outcome.throttled:
            return max(outcome.delay, self._base / 2) * self._jitter()
        if outcome.reason in LINK_STATE_REASONS:
            return max(outcome.delay, self.backoff(attempts, cap=self._link_max))
        return max(outcome.delay, self.backoff(attempts))

    def backoff(self, attempts: int, *, cap: float | None = None) -> float:
        limit = self._max if cap is None else cap
        return min(self._base * 2.0 ** min(attempts, 32), limit) * self._jitter()

    def _jitter(self) -> float:
        return 0.5 + self._rng.random() / 2
