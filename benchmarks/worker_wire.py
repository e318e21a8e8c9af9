"""Encode + decode time of the worker wire's lines: the typed, versioned records of
gateway.runtime.wire against the positional JSON lists they replaced, in one run.

Baseline ("positional", ratio column /positional): the lists of the wire
before it had records, reproduced below as they were (``["handoff", [[...24
values in Message's order...], ...]]``, outcomes ``[id, index, link, "a",
smsc_id]``...), with their decoding (no type checks: a wrong line raised
IndexError or KeyError). Also measured, to show why batches travel as
columns: the same records with one JSON object per row ("rows").

Each case builds its line and reads it back into the model's records (what
the sender and the receiver each pay), best of --repeat timings of --loops
lines; the figure is microseconds per message (per line for the one-line
kinds). Times are this process's CPU time (time.process_time: a shared
machine's other processes do not count), the variants of a case timed in
turn within each repeat. Usage::

    python benchmarks/worker_wire.py [--loops 2000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.link.interface import Receipt
from gateway.model.message import MessageClass, MessageState, SenderKind
from gateway.model.outcomes import Accepted, ReceiptState, Rejected, Retry
from gateway.model.records import Message, OutcomeRecord, QueueChanges, StateChange
from gateway.runtime.wire import (
    Events,
    FromDaemon,
    FromWorker,
    Handoff,
    Metric,
    Record,
    Recorded,
    decode_from_daemon,
    decode_from_worker,
    encode,
)
from gateway.runtime.wire_columns import MESSAGE_SPEC, WireError

# --- the positional lists, as the wire had them --------------------------------------

_KINDS = {k.value: k for k in SenderKind}
_CLASSES = {c.value: c for c in MessageClass}
_STATES = {s.value: s for s in MessageState}
_RECEIPT_STATES = {s.value: s for s in ReceiptState}
_KIND_AT = Message._fields.index("sender_kind")
_CLASS_AT = Message._fields.index("msg_class")
_STATE_AT = Message._fields.index("state")


def old_encode(item: list[Any]) -> bytes:
    return json.dumps(item, separators=(",", ":")).encode() + b"\n"


def old_decode(line: bytes) -> list[Any] | None:
    try:
        item = json.loads(line)
    except ValueError:
        return None
    return item if isinstance(item, list) and item and isinstance(item[0], str) else None


def old_message_list(m: Message) -> list[Any]:
    values = list(m)
    values[_KIND_AT], values[_CLASS_AT], values[_STATE_AT] = (
        m.sender_kind.value,
        m.msg_class.value,
        m.state.value,
    )
    return values


def old_message_from(values: Sequence[Any]) -> Message:
    fields = list(values)
    fields[_KIND_AT] = _KINDS[fields[_KIND_AT]]
    fields[_CLASS_AT] = _CLASSES[fields[_CLASS_AT]]
    fields[_STATE_AT] = _STATES[fields[_STATE_AT]]
    return Message._make(fields)


def old_outcome_list(o: OutcomeRecord) -> list[Any]:
    head: list[Any] = [o.message_id, o.index, o.link]
    match o.outcome:
        case Accepted(smsc_id=smsc_id):
            return [*head, "a", smsc_id]
        case Rejected(reason=reason, status=status):
            return [*head, "r", reason, status]
        case Retry(reason=reason, status=status, delay=delay, throttled=throttled):
            return [*head, "t", reason, status, delay, throttled, o.retry_at]


def old_outcome_from(item: Sequence[Any]) -> OutcomeRecord:
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
    return OutcomeRecord(
        message_id=message_id,
        index=index,
        link=link,
        outcome=Retry(reason=item[4], status=item[5], delay=item[6], throttled=item[7]),
        retry_at=item[8],
    )


def old_receipt_list(r: Receipt) -> list[Any]:
    return [r.link, r.smsc_id, r.state.value, r.error, r.done_at, r.destination]


def old_receipt_from(item: Sequence[Any]) -> Receipt:
    return Receipt(
        link=item[0],
        smsc_id=item[1],
        state=_RECEIPT_STATES[item[2]],
        error=item[3],
        done_at=item[4],
        destination=item[5],
    )


def old_changes_list(changes: QueueChanges) -> list[Any]:
    final = [
        [c.message_id, c.account, c.old.value, c.new.value, c.at]
        for c in changes.changes
        if c.new.final
    ]
    return [final, [list(u) for u in changes.unmatched], [], []]


def old_changes_from(item: Sequence[Any]) -> QueueChanges:
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


# --- one object per row: the alternative not taken -------------------------------------

_TYPES = {name: tuple(types) for name, types in MESSAGE_SPEC.items()}


def rows_encode(messages: Sequence[Message]) -> bytes:
    rows = []
    for m in messages:
        row = m._asdict()
        row["sender_kind"], row["msg_class"], row["state"] = (
            m.sender_kind.value,
            m.msg_class.value,
            m.state.value,
        )
        rows.append(row)
    return old_encode({"kind": "handoff", "messages": rows})  # type: ignore[arg-type]


def rows_decode(line: bytes) -> list[Message]:
    out = []
    for row in json.loads(line)["messages"]:
        if row.keys() != _TYPES.keys():
            raise WireError("fields")
        values = [row[name] for name in Message._fields]
        for value, (name, types) in zip(values, _TYPES.items(), strict=True):
            if type(value) not in types:
                raise WireError(name)
        out.append(old_message_from(values))
    return out


# --- the cases ---------------------------------------------------------------------------


def message(i: int) -> Message:
    return Message(
        id=f"01JF{i:022d}",
        account="acme",
        sender="ACME",
        sender_kind=SenderKind.ALPHA,
        destination=f"+336123{i % 100_000:05d}",
        text="Your code is 123456",
        encoding="gsm7",
        segments=1,
        price=1,
        credits=1,
        msg_class=MessageClass.STANDARD,
        send_at=1_765_000_000.0 + i,
        validity=None,
        priority=0,
        client_ref=None,
        callback_url=None,
        state=MessageState.DISPATCHING,
        attempts=0,
        next_attempt_at=1_765_000_000.0,
        created_at=1_765_000_000.25,
        updated_at=1_765_000_000.25,
        lease_owner="gw-1",
        lease_until=1_765_000_300.25,
        error=None,
    )


def outcome(i: int) -> OutcomeRecord:
    if i % 20 == 19:
        return OutcomeRecord(
            message_id=f"01JF{i:022d}",
            index=0,
            link="op-a",
            outcome=Retry(reason="ESME_RTHROTTLED", status=0x58, delay=1.0, throttled=True),
            retry_at=1_765_000_001.0,
        )
    return OutcomeRecord(
        message_id=f"01JF{i:022d}", index=0, link="op-a", outcome=Accepted(smsc_id=f"{i:08x}")
    )


def receipt(i: int) -> Receipt:
    return Receipt(
        link="op-a",
        smsc_id=f"{i:08x}",
        state=ReceiptState.DELIVERED,
        done_at=1_765_000_002.0,
        destination=f"+336123{i % 100_000:05d}",
    )


def final(i: int) -> StateChange:
    return StateChange(
        message_id=f"01JF{i:022d}",
        account="acme",
        old=MessageState.SUBMITTED,
        new=MessageState.DELIVERED,
        at=1_765_000_002.0,
    )


Case = tuple[str, int, Callable[[], object], Callable[[], object], Callable[[], object] | None]


def old_read(line: bytes) -> list[Any]:
    item = old_decode(line)
    assert item is not None
    return item


def old_line(item: list[Any]) -> object:
    return old_read(old_encode(item))


def old_handoff(ms: list[Message]) -> object:
    item = old_read(old_encode(["handoff", [old_message_list(m) for m in ms]]))
    return [old_message_from(r) for r in item[1]]


def old_record(outs: list[OutcomeRecord], recs: list[Receipt]) -> object:
    line = old_encode(
        [
            "record",
            1,
            1_765_000_003.0,
            [old_outcome_list(o) for o in outs],
            [old_receipt_list(r) for r in recs],
        ]
    )
    item = old_read(line)
    return [old_outcome_from(o) for o in item[3]], [old_receipt_from(r) for r in item[4]]


def old_recorded(changes: QueueChanges) -> object:
    return old_changes_from(
        old_read(old_encode(["recorded", 1, old_changes_list(changes), None]))[2]
    )


def from_worker(message: FromWorker) -> object:
    return decode_from_worker(encode(message))


def from_daemon(message: FromDaemon) -> object:
    return decode_from_daemon(encode(message))


def rows(ms: list[Message]) -> object:
    return rows_decode(rows_encode(ms))


def cases() -> list[Case]:
    """(name, messages per line, positional, records, rows or None)."""
    out: list[Case] = []
    for n in (1, 10, 100):
        ms = [message(i) for i in range(n)]
        out.append(
            (
                f"handoff, {n} message(s)",
                n,
                partial(old_handoff, ms),
                partial(from_worker, Handoff(messages=tuple(ms))),
                partial(rows, ms),
            )
        )
    for n in (64, 512):
        outs, recs = [outcome(i) for i in range(n)], [receipt(i) for i in range(n)]
        record = Record(id=1, now=1_765_000_003.0, outcomes=tuple(outs), receipts=tuple(recs))
        out.append(
            (
                f"record, {n} outcomes + {n} receipts",
                n,
                partial(old_record, outs, recs),
                partial(from_daemon, record),
                None,
            )
        )
        changes = QueueChanges(changes=tuple(final(i) for i in range(n)))
        out.append(
            (
                f"recorded, {n} final changes",
                n,
                partial(old_recorded, changes),
                partial(from_worker, Recorded.of(1, changes)),
                None,
            )
        )
    values: dict[str, Any] = {"account": "acme", "channel": "http", "count": 1}
    out.append(
        (
            "metric (one per request)",
            1,
            partial(old_line, ["metric", "message_accepted", values]),
            partial(from_worker, Metric(name="message_accepted", values=values)),
            None,
        )
    )
    out.append(
        (
            "events",
            1,
            partial(old_line, ["events"]),
            partial(from_worker, Events()),
            None,
        )
    )
    return out


class MetricTuple(NamedTuple):
    """:class:`Metric` as a NamedTuple: what a record per line would save if it were one."""

    name: str
    values: dict[str, Any]


def construction(loops: int, repeat: int) -> tuple[float, float]:
    """us to build one Metric record: the frozen dataclass, and a NamedTuple instead."""
    values: dict[str, Any] = {"account": "acme", "channel": "http", "count": 1}
    dataclass_us = best(partial(Metric, name="message_accepted", values=values), loops, repeat)
    tuple_us = best(partial(MetricTuple, name="message_accepted", values=values), loops, repeat)
    return dataclass_us * 1e6, tuple_us * 1e6


def interleaved(fns: list[Callable[[], object]], loops: int, repeat: int) -> list[float]:
    """The best time of each, timed in turn in every repeat (a shared machine's load
    then weighs on all alike)."""
    times = [float("inf")] * len(fns)
    for _ in range(repeat):
        for at, fn in enumerate(fns):
            times[at] = min(times[at], best(fn, loops, 1))
    return times


def best(fn: Callable[[], object], loops: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(loops):
            fn()
        times.append(time.process_time() - start)
    return min(times) / loops


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print("| line | positional us/msg | records us/msg | /positional | rows us/msg | /positional |")
    print("|---|---|---|---|---|---|")
    for name, n, old, new, rows in cases():
        loops = max(20, args.loops // n)
        fns = [old, new] if rows is None else [old, new, rows]
        t_old, t_new, *t_rows = (t / n * 1e6 for t in interleaved(fns, loops, args.repeat))
        row = f"| {name} | {t_old:.2f} | {t_new:.2f} | {t_new / t_old:.2f} |"
        row += f" {t_rows[0]:.2f} | {t_rows[0] / t_old:.2f} |" if t_rows else " | |"
        print(row)
    dataclass_us, tuple_us = construction(args.loops * 10, args.repeat)
    print(
        f"one record per line: frozen dataclass {dataclass_us:.2f} us, NamedTuple {tuple_us:.2f} us"
    )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
