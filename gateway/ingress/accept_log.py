"""The info line of accepted messages: one per account and commit, with their ids.

Logging one line per message (or two per request, as smsgw once did) cost a
quarter of the daemon's CPU with one recipient per request. Sends the store
commits together (its group commit) finish in the same turn of the event
loop, so their messages are logged together: one ``messages_enqueued`` line
per account and loop turn, carrying the ids, at most :data:`MAX_IDS` of them
per line (more make more lines). Every message stays findable by its id at
info, and the line costs one render per commit instead of one per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from gateway.model.records import Message

MAX_IDS = 500  # ids per line: ~15 KB of JSON, well under journald's 48 KB line limit


class _Tally:
    __slots__ = ("credits", "ids", "segments")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.segments = 0
        self.credits = 0


class AcceptLog:
    def __init__(self, log: Any, *, max_ids: int = MAX_IDS) -> None:
        self._log = log
        self._max_ids = max_ids
        self._pending: dict[str, _Tally] = {}
        self._scheduled = False

    def add(self, account: str, messages: Sequence[Message]) -> None:
        """``messages`` of ``account`` were stored: logged at the end of this loop turn."""
        tally = self._pending.get(account)
        if tally is None:
            tally = self._pending[account] = _Tally()
        for m in messages:
            tally.ids.append(m.id)
            tally.segments += m.segments
            tally.credits += m.credits
            if len(tally.ids) >= self._max_ids:
                self._write(account, tally)
                tally = self._pending[account] = _Tally()
        if not tally.ids:
            del self._pending[account]
        if not self._scheduled and self._pending:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Log what was added and not logged yet."""
        self._scheduled = False
        pending, self._pending = self._pending, {}
        for account, tally in pending.items():
            self._write(account, tally)

    def _write(self, account: str, tally: _Tally) -> None:
        self._log.info(
            "messages_enqueued",
            account=account,
            count=len(tally.ids),
            segments=tally.segments,
            credits=tally.credits,
            ids=tally.ids,
        )
