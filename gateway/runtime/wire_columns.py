"""The batches of the worker wire (gateway.runtime.wire) as named columns.

A batch (the messages of a ``handoff``, the outcomes and receipts of a
``record``, the changes of its answer) travels as one JSON object with one
list per field, named, all of the same length: ``{"id": [...], "account":
[...], ...}``. Every field is named (no row order of the store or of a
record's fields crosses the wire), and a batch pays for its field names
once: for a batch of 100 messages benchmarks/worker_wire.py measured one
object per row at 3.2x the encode + decode CPU time of the positional lists
they replace, columns at 1.2x, their checks included (a lone message: 2.6x,
which is why a worker hands over what one loop turn stored in one line).

Decoding checks the names (exactly these), the lengths (all equal) and the
type of every value, then builds the model's records; anything else raises
:class:`WireError` naming the field.
"""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from operator import attrgetter, contains, itemgetter
from typing import Any, TypeVar

from gateway.link.interface import Receipt
from gateway.model.message import MessageClass, MessageState, SenderKind
from gateway.model.outcomes import Accepted, ReceiptState, Rejected, Retry
from gateway.model.records import Message, OutcomeRecord, StateChange

__all__ = [
    "DROPPED",
    "KEPT",
    "Table",
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

_LISTS = {list}
_ONE = {1}
_FIRST = itemgetter(0)


class Table:
    """A batch's columns: their names and types (``spec``, in the order ``rows`` and
    :meth:`read` give their values)."""

    def __init__(self, spec: Mapping[str, Types]) -> None:
        self.spec = dict(spec)
        self.names = tuple(spec)
        # the columns of one set of types, checked in one pass
        groups: dict[Types, list[int]] = {}
        for at, types in enumerate(spec.values()):
            groups.setdefault(types, []).append(at)
        self._groups = tuple((tuple(ats), types) for types, ats in groups.items())
        self._types = tuple(spec.values())

    def write(self, rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
        """The rows (each a tuple in ``spec``'s order) as named columns."""
        columns: list[Any] = list(zip(*rows, strict=True)) or [() for _ in self.names]
        return dict(zip(self.names, columns, strict=True))

    def read(self, value: Any, where: str) -> list[list[Any]]:
        """The columns (in ``spec``'s order) out of ``value``, every value checked."""
        if type(value) is dict and value.keys() == self.spec.keys():
            columns = list(map(value.__getitem__, self.names))
            if set(map(type, columns)) <= _LISTS and self._typed(columns):
                return columns
        raise WireError(self._wrong(value, where))

    def _typed(self, columns: list[list[Any]]) -> bool:
        """Lists of one length, each value of its column's types (C loops, not Python's)."""
        lengths = set(map(len, columns))
        if lengths == _ONE:  # one row (a single message): one pass over its values
            return all(map(contains, self._types, map(type, map(_FIRST, columns))))
        return len(lengths) <= 1 and all(
            set(map(type, chain.from_iterable([columns[at] for at in ats]))) <= types
            for ats, types in self._groups
        )

    def _wrong(self, value: Any, where: str) -> str:
        """What is wrong with ``value`` (it is wrong: :meth:`read` found it so)."""
        if type(value) is not dict:
            return f"{where}: expected an object of columns, got {type(value).__name__}"
        if value.keys() != self.spec.keys():
            return f"{where}: {unlike(value.keys(), self.spec.keys())}"
        rows = len(value[self.names[0]]) if type(value[self.names[0]]) is list else -1
        for name, types in self.spec.items():
            column = value[name]
            if type(column) is not list or len(column) != rows:
                return f"{where}.{name}: expected a list as long as the other columns"
            bad = [v for v in column if type(v) not in types]
            if bad:
                return f"{where}.{name}: unexpected {type(bad[0]).__name__} {_short(bad[0])}"
        return f"{where}: unreadable"  # not reached: read() found something wrong


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
    "raw": OPT_STR,  # base64 of the stored raw segment (gateway.model.raw_body)
}
# in Message's order: columns are zipped into its tuples
MESSAGE_SPEC: dict[str, Types] = {name: _MESSAGE_TYPES[name] for name in Message._fields}
_ENUMS: dict[int, dict[Any, Any]] = {
    Message._fields.index("sender_kind"): _by_value(SenderKind),
    Message._fields.index("msg_class"): _by_value(MessageClass),
    Message._fields.index("state"): _by_value(MessageState),
}
_RAW = Message._fields.index("raw")


MESSAGES = Table(MESSAGE_SPEC)
_VALUE = attrgetter("value")


def messages_columns(messages: Sequence[Message]) -> dict[str, Any]:
    columns: list[Any] = list(zip(*messages, strict=True)) or [() for _ in Message._fields]
    for at in _ENUMS:
        columns[at] = list(map(_VALUE, columns[at]))
    raws = columns[_RAW]
    if raws.count(None) != len(raws):  # segments ESMEs cut: bytes, sent as base64
        columns[_RAW] = [None if r is None else b64encode(r).decode() for r in raws]
    return dict(zip(Message._fields, columns, strict=True))


def messages_from(value: Any, where: str = "messages") -> tuple[Message, ...]:
    columns = MESSAGES.read(value, where)
    for at, by_value in _ENUMS.items():
        columns[at] = enum_column(columns[at], by_value, f"{where}.{Message._fields[at]}")
    raws = columns[_RAW]
    if raws.count(None) != len(raws):
        columns[_RAW] = _raw_column(raws, f"{where}.raw")
    return tuple(map(Message._make, zip(*columns, strict=True)))


def _raw_column(column: list[str | None], where: str) -> list[bytes | None]:
    try:
        return [None if r is None else b64decode(r, validate=True) for r in column]
    except binascii.Error:
        raise WireError(f"{where}: not base64") from None


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
OUTCOMES = Table(OUTCOME_SPEC)


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
    return OUTCOMES.write(map(_outcome_row, outcomes))


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
    for row in zip(*OUTCOMES.read(value, where), strict=True):
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
RECEIPTS = Table(RECEIPT_SPEC)
_RECEIPT_STATES = _by_value(ReceiptState)


def receipts_columns(receipts: Sequence[Receipt]) -> dict[str, Any]:
    return RECEIPTS.write(
        ((r.link, r.smsc_id, r.state.value, r.error, r.done_at, r.destination) for r in receipts),
    )


def receipts_from(value: Any, where: str = "receipts") -> tuple[Receipt, ...]:
    link, smsc_id, state, error, done_at, destination = RECEIPTS.read(value, where)
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
CHANGES = Table(CHANGE_SPEC)
_STATES = _by_value(MessageState)


def changes_columns(changes: Sequence[StateChange]) -> dict[str, Any]:
    return CHANGES.write(
        ((c.message_id, c.account, c.old.value, c.new.value, c.at) for c in changes),
    )


def changes_from(value: Any, where: str = "final") -> tuple[StateChange, ...]:
    ids, accounts, old, new, at = CHANGES.read(value, where)
    olds = enum_column(old, _STATES, f"{where}.old")
    news = enum_column(new, _STATES, f"{where}.new")
    return tuple(
        StateChange(message_id=m, account=a, old=o, new=n, at=t)
        for m, a, o, n, t in zip(ids, accounts, olds, news, at, strict=True)
    )


# receipts kept, matched late or dropped: (link, state or why)
KEPT = Table({"link": STR, "state": STR})
DROPPED = Table({"link": STR, "why": STR})


def pairs_columns(pairs: Sequence[tuple[str, str]], table: Table) -> dict[str, Any]:
    return table.write(pairs)


def pairs_from(value: Any, where: str, table: Table) -> tuple[tuple[str, str], ...]:
    a, b = table.read(value, where)
    return tuple(zip(a, b, strict=True))
