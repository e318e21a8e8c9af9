"""Reassembly of concatenated MO (reply) messages, shared by every link.

Sans-IO: parts and ``now`` in, whole messages out. Parts may arrive in any
order, twice (a peer redelivering), or never: a message whose parts stop
coming is released incomplete after ``timeout`` seconds of silence, with the
numbers of the missing parts, rather than held forever or dropped.

Payloads are joined as bytes before decoding, so an escape sequence or a
surrogate pair that another sender split across two parts still decodes.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from gateway.codec import decode_payload
from gateway.link.interface import InboundPart

_Key = tuple[str, str, int, int]  # source, destination, reference, total


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """A whole reply, or what arrived of it before the timeout."""

    link: str
    source: str
    destination: str
    text: str
    total: int  # parts announced
    received: int  # parts that arrived
    missing: tuple[int, ...] = ()  # 1-based sequence numbers that never came
    received_at: float  # arrival of the first part
    smsc_timestamp: float | None = None

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass(slots=True, kw_only=True)
class _Pending:
    first: InboundPart
    parts: dict[int, InboundPart] = field(default_factory=dict)
    deadline: float = 0.0


def join_parts(parts: list[InboundPart]) -> str:
    """Decode parts in order; consecutive parts with one data coding are joined first."""
    chunks: list[str] = []
    run: list[bytes] = []
    coding: int | None = None
    for part in parts:
        if coding is not None and part.data_coding != coding:
            chunks.append(decode_payload(b"".join(run), coding))
            run = []
        coding = part.data_coding
        run.append(part.payload)
    if coding is not None:
        chunks.append(decode_payload(b"".join(run), coding))
    return "".join(chunks)


class Reassembler:
    """Collects concatenated parts until each message is whole or times out."""

    def __init__(self, *, timeout: float = 300.0, max_pending: int = 10_000) -> None:
        if timeout <= 0:
            msg = "timeout must be positive"
            raise ValueError(msg)
        self._timeout = timeout
        self._max_pending = max_pending
        self._pending: dict[_Key, _Pending] = {}
        self._deadlines: list[tuple[float, _Key]] = []  # heap; stale entries skipped
        self._evicted: list[InboundMessage] = []
        # payloads of recently completed messages, so that a part the peer
        # redelivers after completion is recognised instead of starting a
        # new message that would later be released as a bogus fragment
        self._done: dict[_Key, tuple[float, dict[int, bytes]]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, part: InboundPart, now: float) -> InboundMessage | None:
        """Take one part; return the message when it is complete."""
        concat = part.concat
        if concat is None or concat.total <= 1:
            return _message([part], total=1, missing=())
        key = (part.source, part.destination, concat.reference, concat.total)
        pending = self._pending.get(key)
        if pending is None and self._is_redelivery(key, concat.sequence, part.payload, now):
            return None
        if pending is None:
            if len(self._pending) >= self._max_pending:
                self._evict_oldest()
            pending = self._pending[key] = _Pending(first=part)
        # a redelivered part replaces nothing: the first copy wins
        pending.parts.setdefault(concat.sequence, part)
        if len(pending.parts) >= concat.total and all(
            seq in pending.parts for seq in range(1, concat.total + 1)
        ):
            del self._pending[key]
            self._done[key] = (
                now + self._timeout,
                {seq: p.payload for seq, p in pending.parts.items()},
            )
            return _finish(pending, concat.total)
        pending.deadline = now + self._timeout
        heapq.heappush(self._deadlines, (pending.deadline, key))
        return None

    def _is_redelivery(self, key: _Key, sequence: int, payload: bytes, now: float) -> bool:
        done = self._done.get(key)
        if done is None:
            return False
        until, payloads = done
        if until <= now:
            del self._done[key]
            return False
        return payloads.get(sequence) == payload

    def next_deadline(self) -> float | None:
        """When :meth:`expire` next has something to release, or None."""
        self._drop_stale()
        return self._deadlines[0][0] if self._deadlines else None

    def expire(self, now: float) -> list[InboundMessage]:
        """Release, incomplete, every message silent for ``timeout`` seconds."""
        released: list[InboundMessage] = []
        if self._done:
            self._done = {k: v for k, v in self._done.items() if v[0] > now}
        while True:
            self._drop_stale()
            if not self._deadlines or self._deadlines[0][0] > now:
                return released
            _, key = heapq.heappop(self._deadlines)
            pending = self._pending.pop(key)
            released.append(_finish(pending, key[3]))

    def _drop_stale(self) -> None:
        heap = self._deadlines
        while heap:
            deadline, key = heap[0]
            pending = self._pending.get(key)
            if pending is not None and pending.deadline == deadline:
                return
            heapq.heappop(heap)

    def _evict_oldest(self) -> None:
        # bounded memory under a flood of parts that never complete: the
        # stalest message is released early, incomplete, not dropped
        self._drop_stale()
        if self._deadlines:
            _, key = heapq.heappop(self._deadlines)
            self._evicted.append(_finish(self._pending.pop(key), key[3]))

    def take_evicted(self) -> list[InboundMessage]:
        """Messages released early because too many were pending; call after :meth:`add`."""
        out, self._evicted = self._evicted, []
        return out


def _finish(pending: _Pending, total: int) -> InboundMessage:
    present = [pending.parts[seq] for seq in sorted(pending.parts)]
    missing = tuple(seq for seq in range(1, total + 1) if seq not in pending.parts)
    return _message(present, total=total, missing=missing, first=pending.first)


def _message(
    parts: list[InboundPart],
    *,
    total: int,
    missing: tuple[int, ...],
    first: InboundPart | None = None,
) -> InboundMessage:
    head = first or parts[0]
    return InboundMessage(
        link=head.link,
        source=head.source,
        destination=head.destination,
        text=join_parts(parts),
        total=total,
        received=len(parts),
        missing=missing,
        received_at=min(p.received_at for p in parts),
        smsc_timestamp=head.smsc_timestamp,
    )
