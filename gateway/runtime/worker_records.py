"""The ``record`` request of the worker protocol: outcomes and receipts as JSON lists.

With worker processes, the dispatcher's outcomes and the links' receipts are
written by worker 0 rather than by the daemon's own store writer: one process
then writes to SQLite (no two writers taking the write lock in turn), and the
writer's Python work no longer competes with the links and the dispatcher for
the daemon's interpreter lock, which stretched every transaction (and the
lock's hold) to several times its own CPU time. See gateway.runtime.worker_pool for the
lines and gateway.dispatch.outcomes for the writer that sends them.

Lists, not dicts: a round carries thousands.

- outcome ``[message_id, index, link, kind, ...]``: kind ``"a"`` (accepted)
  then ``smsc_id``; ``"r"`` (rejected) then ``reason, status``; ``"t"``
  (retry) then ``reason, status, delay, throttled, retry_at``;
- receipt ``[link, smsc_id, state, error, done_at, destination]``;
- message (a ``handoff``: stored leased, for the daemon's dispatcher): the
  fields of :class:`~gateway.model.records.Message` in its order, its enums
  as their values;
- changes (the answer): the final states the round reached,
  ``[[message_id, account, old, new, at], ...]``, then the receipts kept for
  an acceptance still to come, those matched late and those dropped, each
  ``[[link, state or why], ...]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.link.interface import Receipt
from gateway.model.message import MessageClass, MessageState, SenderKind
from gateway.model.outcomes import Accepted, ReceiptState, Rejected, Retry
from gateway.model.records import Message, OutcomeRecord, QueueChanges, StateChange

_RECEIPT_STATES = {s.value: s for s in ReceiptState}
_STATES = {s.value: s for s in MessageState}
_KINDS = {k.value: k for k in SenderKind}
_CLASSES = {c.value: c for c in MessageClass}
_KIND_AT = Message._fields.index("sender_kind")
_CLASS_AT = Message._fields.index("msg_class")
_STATE_AT = Message._fields.index("state")


def message_list(m: Message) -> list[Any]:
    values = list(m)
    values[_KIND_AT], values[_CLASS_AT], values[_STATE_AT] = (
        m.sender_kind.value,
        m.msg_class.value,
        m.state.value,
    )
    return values


def message_from(values: Sequence[Any]) -> Message:
    fields = list(values)
    fields[_KIND_AT] = _KINDS[fields[_KIND_AT]]
    fields[_CLASS_AT] = _CLASSES[fields[_CLASS_AT]]
    fields[_STATE_AT] = _STATES[fields[_STATE_AT]]
    return Message._make(fields)


def outcome_list(o: OutcomeRecord) -> list[Any]:
    head: list[Any] = [o.message_id, o.index, o.link]
    match o.outcome:
        case Accepted(smsc_id=smsc_id):
            return [*head, "a", smsc_id]
        case Rejected(reason=reason, status=status):
            return [*head, "r", reason, status]
        case Retry(reason=reason, status=status, delay=delay, throttled=throttled):
            return [*head, "t", reason, status, delay, throttled, o.retry_at]


def outcome_from(item: Sequence[Any]) -> OutcomeRecord:
    message_id, index, link, kind = item[0], item[1], item[2], item[3]
    if kind == "a":
        return OutcomeRecord(
            message_id=message_id, index=index, link=link, outcome=Accepted(smsc_id=item[4])
        )
    if kind == "r":
        return OutcomeRecord(
            message_id=message_id,
            index=index,
            link=link,
            outcome=Rejected(reason=item[4], status=item[5]),
        )
    if kind == "t":
        return OutcomeRecord(
            message_id=message_id,
            index=index,
            link=link,
            outcome=Retry(reason=item[4], status=item[5], delay=item[6], throttled=item[7]),
            retry_at=item[8],
        )
    msg = f"unknown outcome kind {kind!r}"
    raise ValueError(msg)


def receipt_list(r: Receipt) -> list[Any]:
    return [r.link, r.smsc_id, r.state.value, r.error, r.done_at, r.destination]


def receipt_from(item: Sequence[Any]) -> Receipt:
    return Receipt(
        link=item[0],
        smsc_id=item[1],
        state=_RECEIPT_STATES[item[2]],
        error=item[3],
        done_at=item[4],
        destination=item[5],
    )


def changes_list(changes: QueueChanges) -> list[Any]:
    """What the daemon needs of a round's changes: the final states (its metrics) and
    the unmatched receipts; events are published by the worker itself."""
    final = [
        [c.message_id, c.account, c.old.value, c.new.value, c.at]
        for c in changes.changes
        if c.new.final
    ]
    return [
        final,
        [list(u) for u in changes.unmatched],
        [list(m) for m in changes.matched_late],
        [list(d) for d in changes.dropped],
    ]


def changes_from(item: Sequence[Any]) -> QueueChanges:
    final, unmatched, late, dropped = item
    return QueueChanges(
        changes=tuple(
            StateChange(message_id=m, account=a, old=_STATES[old], new=_STATES[new], at=at)
            for m, a, old, new, at in final
        ),
        unmatched=tuple((str(link), str(state)) for link, state in unmatched),
        matched_late=tuple((str(link), str(state)) for link, state in late),
        dropped=tuple((str(link), str(why)) for link, why in dropped),
    )
