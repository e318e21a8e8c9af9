"""The batches of the worker wire (gateway.runtime.wire) as named columns.

A batch (the messages of a ``handoff``, the outcomes and receipts of a
``record``, the changes of its answer) travels as one JSON object with one
list per field, named, all of the same length: ``{"id": [...], "account":
[...], ...}``. Every field is named (no row order of the store or of a
record's fields crosses the wire), and a batch of thousands pays for its
field names once: benchmarks/worker_wire.py measured per-row objects at 2.7x
the encode+decode time of the positional lists they replace, columns at
about the same time, their checks included.

Decoding checks the names (exactly these), the lengths (all equal) and the
type of every value, then builds the model's records; anything else raises
:class:`WireError` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from gateway.link.interface import Receipt
from gateway.model.message import MessageClass, MessageState, SenderKind
from gateway.model.outcomes import Accepted, ReceiptState, Rejected, Retry
from gateway.model.records import Message, OutcomeRecord, StateChange

__all__ = [
    "WireError",
    "changes_columns",
    "changes_from",
    "messages_columns",
    "messages_from",
    "outcomes_columns",
    "outcomes_from",
    "pairs_columns",
    "pairs_from",
    "receipts_columns",
    "receipts_from",
]


class WireError(ValueError):
    """A line that is not a message of this wire; its text says what is wrong."""


_E = TypeVar("_E")
Types = frozenset[type]
STR: Types = frozenset({str})
INT: Types = frozenset({int})
BOOL: Types = frozenset({bool})
NUMBER: Types = frozenset({int, float})
OPT_STR: Types = frozenset({str, type(None)})
OPT_INT: Types = frozenset({int, type(None)})
OPT_NUMBER: Types = frozenset({int, float, type(None)})
OPT_BOOL: Types = frozenset({bool, type(None)})

# --- generic: a table of named columns ---------------------------------------


def columns_from(value: Any, where: str, spec: Mapping[str, Types]) -> list[list[Any]]:
    """The columns of ``spec`` (in its order) out of ``value``, every one checked."""
    if type(value) is not dict:
        raise WireError(f"{where}: expected an object of columns, got {type(value).__name__}")
    if value.keys() != spec.keys():
        raise WireError(f"{where}: {unlike(value.keys(), spec.keys())}")
    columns = [value[name] for name in spec]
    rows = len(columns[0]) if type(columns[0]) is list else -1
    for (name, types), column in zip(spec.items(), columns, strict=True):
        if type(column) is not list or len(column) != rows:
            raise WireError(f"{where}.{name}: expected a list as long as the other columns")
        if not set(map(type, column)) <= types:
            bad = next(v for v in column if type(v) not in types)
            raise WireError(f"{where}.{name}: unexpected {type(bad).__name__} {_short(bad)}")
    return columns


def enum_column(column: list[Any], by_value: Mapping[Any, _E], where: str) -> list[_E]:
    try:
        return list(map(by_value.__getitem__, column))
    except KeyError as exc:
        raise WireError(f"{where}: unknown value {_short(exc.args[0])}") from None


def unlike(got: Any, wanted: Any) -> str:
    """What fields ``got`` has that ``wanted`` does not, and the reverse."""
    unknown, missing = sorted(set(got) - set(wanted)), sorted(set(wanted) - set(got))
    parts = [f"unknown fields {unknown}"] if unknown else []
    parts += [f"missing fields {missing}"] if missing else []
    return ", ".join(parts)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _by_value(enum: Any) -> dict[Any, Any]:
    return {member.value: member for member in enum}


# --- messages (handoff) --------------------------------------------------------

_MESSAGE_TYPES: dict[str, Types] = {
    "id": STR,
    "account": STR,
    "sender": STR,
    "sender_kind": STR,
    "destination": STR,
    "text": STR,
    "encoding": STR,
    "segments": INT,
    "price": INT,
    "credits": INT,
    "msg_class": STR,
    "send_at": NUMBER,
    "validity": OPT_INT,
    "priority": INT,
    "client_ref": OPT_STR,
    "callback_url": OPT_STR,
    "state": STR,
    "attempts": INT,
    "next_attempt_at": NUMBER,
    "created_at": NUMBER,
    "updated_at": NUMBER,
    "lease_owner": OPT_STR,
    "lease_until": OPT_NUMBER,
    "error": OPT_STR,
}
# in Message's order: columns are zipped into its tuples
MESSAGE_SPEC: dict[str, Types] = {name: _MESSAGE_TYPES[name] for name in Message._fields}
_ENUMS: dict[int, dict[Any, Any]] = {
    Message._fields.index("sender_kind"): _by_value(SenderKind),
    Message._fields.index("msg_class"): _by_value(MessageClass),
    Message._fields.index("state"): _by_value(MessageState),
}


def messages_columns(messages: Sequence[Message]) -> dict[str, Any]:
    columns: list[Any] = list(zip(*messages, strict=True)) or [() for _ in Message._fields]
    for at in _ENUMS:
        columns[at] = [member.value for member in columns[at]]
    return dict(zip(Message._fields, columns, strict=True))


def messages_from(value: Any, where: str = "messages") -> tuple[Message, ...]:
    columns = columns_from(value, where, MESSAGE_SPEC)
    for at, by_value in _ENUMS.items():
        columns[at] = enum_column(columns[at], by_value, f"{where}.{Message._fields[at]}")
    return tuple(map(Message._make, zip(*columns, strict=True)))


# --- outcomes (record) ---------------------------------------------------------

OUTCOME_SPEC: dict[str, Types] = {
    "message_id": STR,
    "index": INT,
    "link": STR,
    "outcome": STR,  # "accepted", "rejected" or "retry"; the columns below it uses
    "smsc_id": OPT_STR,  # accepted
    "reason": OPT_STR,  # rejected, retry
    "status": OPT_INT,  # rejected, retry
    "delay": OPT_NUMBER,  # retry
    "throttled": OPT_BOOL,  # retry
    "retry_at": OPT_NUMBER,  # retry
}


def _outcome_row(o: OutcomeRecord) -> tuple[Any, ...]:
    head = (o.message_id, o.index, o.link)
    match o.outcome:
        case Accepted(smsc_id=smsc_id):
            return (*head, "accepted", smsc_id, None, None, None, None, None)
        case Rejected(reason=reason, status=status):
            return (*head, "rejected", None, reason, status, None, None, None)
        case Retry(reason=reason, status=status, delay=delay, throttled=throttled):
            return (*head, "retry", None, reason, status, delay, throttled, o.retry_at)


def outcomes_columns(outcomes: Sequence[OutcomeRecord]) -> dict[str, Any]:
    return _table(OUTCOME_SPEC, map(_outcome_row, outcomes))


def _accepted(row: tuple[Any, ...]) -> OutcomeRecord:
    if row[4] is None:
        raise WireError("an accepted outcome without smsc_id")
    return OutcomeRecord(
        message_id=row[0], index=row[1], link=row[2], outcome=Accepted(smsc_id=row[4])
    )


def _rejected(row: tuple[Any, ...]) -> OutcomeRecord:
    if row[5] is None:
        raise WireError("a rejected outcome without reason")
    return OutcomeRecord(
        message_id=row[0],
        index=row[1],
        link=row[2],
        outcome=Rejected(reason=row[5], status=row[6]),
    )


def _retry(row: tuple[Any, ...]) -> OutcomeRecord:
    if row[5] is None or row[7] is None or row[8] is None:
        raise WireError("a retry outcome without reason, delay or throttled")
    return OutcomeRecord(
        message_id=row[0],
        index=row[1],
        link=row[2],
        outcome=Retry(reason=row[5], status=row[6], delay=row[7], throttled=row[8]),
        retry_at=row[9],
    )


_OUTCOMES: dict[str, Callable[[tuple[Any, ...]], OutcomeRecord]] = {
    "accepted": _accepted,
    "rejected": _rejected,
    "retry": _retry,
}


def outcomes_from(value: Any, where: str = "outcomes") -> tuple[OutcomeRecord, ...]:
    out = []
    for row in zip(*columns_from(value, where, OUTCOME_SPEC), strict=True):
        build = _OUTCOMES.get(row[3])
        if build is None:
            raise WireError(f"{where}.outcome: unknown value {_short(row[3])}")
        out.append(build(row))
    return tuple(out)


# --- receipts (record) ---------------------------------------------------------

RECEIPT_SPEC: dict[str, Types] = {
    "link": STR,
    "smsc_id": STR,
    "state": STR,
    "error": OPT_STR,
    "done_at": OPT_NUMBER,
    "destination": OPT_STR,
}
_RECEIPT_STATES = _by_value(ReceiptState)


def receipts_columns(receipts: Sequence[Receipt]) -> dict[str, Any]:
    return _table(
        RECEIPT_SPEC,
        ((r.link, r.smsc_id, r.state.value, r.error, r.done_at, r.destination) for r in receipts),
    )


def receipts_from(value: Any, where: str = "receipts") -> tuple[Receipt, ...]:
    link, smsc_id, state, error, done_at, destination = columns_from(value, where, RECEIPT_SPEC)
    states = enum_column(state, _RECEIPT_STATES, f"{where}.state")
    return tuple(
        Receipt(link=a, smsc_id=b, state=c, error=d, done_at=e, destination=f)
        for a, b, c, d, e, f in zip(link, smsc_id, states, error, done_at, destination, strict=True)
    )


# --- changes (the answer to record) --------------------------------------------

CHANGE_SPEC: dict[str, Types] = {
    "message_id": STR,
    "account": STR,
    "old": STR,
    "new": STR,
    "at": NUMBER,
}
_STATES = _by_value(MessageState)


def changes_columns(changes: Sequence[StateChange]) -> dict[str, Any]:
    return _table(
        CHANGE_SPEC,
        ((c.message_id, c.account, c.old.value, c.new.value, c.at) for c in changes),
    )


def changes_from(value: Any, where: str = "final") -> tuple[StateChange, ...]:
    ids, accounts, old, new, at = columns_from(value, where, CHANGE_SPEC)
    olds = enum_column(old, _STATES, f"{where}.old")
    news = enum_column(new, _STATES, f"{where}.new")
    return tuple(
        StateChange(message_id=m, account=a, old=o, new=n, at=t)
        for m, a, o, n, t in zip(ids, accounts, olds, news, at, strict=True)
    )


def pairs_columns(pairs: Sequence[tuple[str, str]], first: str, second: str) -> dict[str, Any]:
    """Receipts kept, matched late or dropped: (link, state or why) as two named columns."""
    return _table({first: STR, second: STR}, pairs)


def pairs_from(value: Any, where: str, first: str, second: str) -> tuple[tuple[str, str], ...]:
    a, b = columns_from(value, where, {first: STR, second: STR})
    return tuple(zip(a, b, strict=True))


def _table(spec: Mapping[str, Types], rows: Any) -> dict[str, Any]:
    columns: list[Any] = list(zip(*rows, strict=True)) or [() for _ in spec]
    return dict(zip(spec, columns, strict=True))
