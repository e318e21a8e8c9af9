"""The line protocol between the daemon and its worker processes (gateway.runtime.worker_pool,
gateway.runtime.worker).

Each worker talks to the daemon over one socket pair (its end passed as a
file descriptor), newline-delimited JSON arrays:

worker -> daemon  ``["started", port]``: serving (port: the API's, or null)
                  ``["events"]``: new outbox rows (relayed to worker 0)
                  ``["handoff", [message, ...]]``: messages stored leased to
                  the daemon's dispatcher (each the list of its columns, as
                  the store gives them): it sends them, no claim
                  ``["metric", name, {kwargs}]``: counted on the daemon's
                  metrics (a method of :data:`gateway.ops.metric_sinks.RELAYED`)
                  ``["ask", id, what]``: what is "metrics", "ready" or "links"
daemon -> worker  ``["answer", id, value]``
                  ``["events"]``: new outbox rows (to worker 0)
                  ``["accepting", bool]``: whether the dispatcher takes handovers;
                  while it does not, workers store messages queued (claimed later)
                  ``["record", id, now, outcomes, receipts]`` (to worker 0): write
                  the dispatcher's outcomes and the links' receipts
                  (gateway.runtime.worker_records), answered ``["recorded", id, changes,
                  null]`` once committed, or ``["recorded", id, null, error]``

So /metrics, /readyz and /links show the daemon's registry and links whichever
process a scrape reaches. A worker stops on SIGTERM or SIGINT (requests in
progress finish, events still queued wait in the store) and as soon as the
socket closes: it never outlives its daemon, even one killed with SIGKILL.
The daemon starts a worker again when one exits on its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

__all__ = ["LINE_LIMIT", "OncePerTurn", "decode", "encode"]

# longest line either side accepts (a /metrics answer can be large)
LINE_LIMIT = 64 * 1024 * 1024


def encode(item: list[Any]) -> bytes:
    return json.dumps(item, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> list[Any] | None:
    """The line's array, or None when it is not one (its first item names it)."""
    try:
        item = json.loads(line)
    except ValueError:
        return None
    return item if isinstance(item, list) and item and isinstance(item[0], str) else None


class OncePerTurn:
    """Calls ``fn`` once at the end of the event loop's turn, however often asked."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self._fn = fn
        self._due = False

    def __call__(self) -> None:
        if not self._due:
            self._due = True
            asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        self._due = False
        self._fn()
