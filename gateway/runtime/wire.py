"""The wire between the daemon and its worker processes: typed, versioned records.

Each worker talks to the daemon over one socket pair (its end passed as a file
descriptor), one JSON object per line. Every object names its ``kind``; its
other keys are the fields of that kind's record below, exactly (an unknown or
missing field, a value of the wrong type, an unknown kind or a kind that does
not go that way is refused with :class:`WireError`, one line saying what).
Batches inside them travel as named columns (gateway.runtime.wire_columns).

The first line each way carries the version: the worker sends :class:`Hello`
(``protocol``: :data:`WIRE_VERSION`, ``smsgw``: the package's version), the
daemon answers :class:`Welcome` with its own; a worker of another smsgw or
wire version (an upgrade installed under a running daemon, then a worker
restarted) is refused with one line, ``worker_refused``.

worker -> daemon  :class:`Hello`: serving (``port``: the API's, or null)
                  :class:`Events`: new outbox rows (relayed to worker 0)
                  :class:`Handoff`: messages stored leased to the daemon's
                  dispatcher: it sends them, no claim
                  :class:`Metric`: counted on the daemon's metrics (a method of
                  :data:`gateway.ops.metric_sinks.RELAYED`)
                  :class:`Ask`: the daemon's /metrics, /readyz, /links or /esme
                  :class:`Recorded`: worker 0's answer to a :class:`Record`
daemon -> worker  :class:`Welcome`, :class:`Answer` (to an Ask),
                  :class:`Events` (to worker 0), :class:`Accepting` (whether the
                  dispatcher takes handovers; while it does not, workers store
                  messages queued, claimed later), :class:`Record` (to worker 0:
                  write the dispatcher's outcomes and the links' receipts;
                  gateway.runtime.worker_pool says why)

So /metrics, /readyz, /links and /esme show the daemon's registry and links whichever
process a scrape reaches. A worker stops on SIGTERM or SIGINT (requests in
progress finish, events still queued wait in the store) and as soon as the
socket closes: it never outlives its daemon, even one killed with SIGKILL.
The daemon starts a worker again when one exits on its own.

The records are frozen dataclasses: one is built per line, not per message
(a line carries a batch), so their cost is not on the per-message path.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway import __version__
from gateway.link.interface import Receipt
from gateway.model.records import Message, OutcomeRecord, QueueChanges, StateChange
from gateway.ops.metric_sinks import RELAYED
from gateway.runtime.wire_columns import (
    BOOL,
    DROPPED,
    INT,
    KEPT,
    NUMBER,
    OPT_INT,
    OPT_STR,
    STR,
    Types,
    WireError,
    changes_columns,
    changes_from,
    messages_columns,
    messages_from,
    outcomes_columns,
    outcomes_from,
    pairs_columns,
    pairs_from,
    receipts_columns,
    receipts_from,
    unlike,
)

__all__ = [
    "LINE_LIMIT",
    "SMSGW_VERSION",
    "WIRE_VERSION",
    "Accepting",
    "Answer",
    "Ask",
    "Events",
    "FromDaemon",
    "FromWorker",
    "Handoff",
    "Hello",
    "Metric",
    "OncePerTurn",
    "Question",
    "Record",
    "Recorded",
    "Welcome",
    "WireError",
    "WireVersionError",
    "decode_from_daemon",
    "decode_from_worker",
    "encode",
    "read_hello",
    "read_welcome",
]

# the version of this wire: raised with any change a worker of the previous one
# would misread (a field added, removed or retyped, a kind's meaning changed)
WIRE_VERSION = 1
SMSGW_VERSION = __version__
# longest line either side accepts (a /metrics answer can be large)
LINE_LIMIT = 64 * 1024 * 1024

Scalar = str | int | float | bool | None


class WireVersionError(WireError):
    """The other end speaks another version of the wire, or is another smsgw."""


class Question(enum.Enum):
    """What a worker asks the daemon for (its /metrics, /readyz, /links, /esme)."""

    METRICS = "metrics"
    READY = "ready"
    LINKS = "links"
    ESME = "esme"


# --- the records ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """A worker's first line: it serves (``port``: its API's, None without [http])."""

    port: int | None
    protocol: int = WIRE_VERSION
    smsgw: str = SMSGW_VERSION


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome:
    """The daemon's first line to a worker it took."""

    protocol: int = WIRE_VERSION
    smsgw: str = SMSGW_VERSION


@dataclass(frozen=True, slots=True, kw_only=True)
class Events:
    """New outbox rows: worker 0 publishes them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Handoff:
    """Messages a worker stored leased to the daemon's dispatcher, as stored."""

    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    """A call of the daemon's metrics: ``name`` (in RELAYED) with keyword ``values``."""

    name: str
    values: Mapping[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ask:
    id: int
    what: Question


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """The daemon's answer to :class:`Ask` ``id``: a JSON value, or the error's name."""

    id: int
    value: Any = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepting:
    accepting: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """To worker 0: write these outcomes and receipts at ``now``, answer ``id``."""

    id: int
    now: float
    outcomes: tuple[OutcomeRecord, ...]
    receipts: tuple[Receipt, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Recorded:
    """Worker 0's answer to :class:`Record` ``id`` once committed, or its ``error``.

    What the daemon needs of the changes: the final states (its metrics) and
    the receipts kept for an acceptance still to come, matched late or
    dropped (events and refunds stay with the worker, which publishes them).
    """

    id: int
    final: tuple[StateChange, ...] = ()
    unmatched: tuple[tuple[str, str], ...] = ()
    matched_late: tuple[tuple[str, str], ...] = ()
    dropped: tuple[tuple[str, str], ...] = ()
    error: str | None = None

    @classmethod
    def of(cls, record_id: int, changes: QueueChanges) -> Recorded:
        return cls(
            id=record_id,
            final=tuple(c for c in changes.changes if c.new.final),
            unmatched=changes.unmatched,
            matched_late=changes.matched_late,
            dropped=changes.dropped,
        )

    def changes(self) -> QueueChanges:
        return QueueChanges(
            changes=self.final,
            unmatched=self.unmatched,
            matched_late=self.matched_late,
            dropped=self.dropped,
        )


FromWorker = Hello | Events | Handoff | Metric | Ask | Recorded
FromDaemon = Welcome | Events | Answer | Accepting | Record

# --- encoding --------------------------------------------------------------------------

# never circular: built here from records
_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _hello(m: Hello) -> dict[str, Any]:
    return {"kind": "hello", "protocol": m.protocol, "smsgw": m.smsgw, "port": m.port}


def _welcome(m: Welcome) -> dict[str, Any]:
    return {"kind": "welcome", "protocol": m.protocol, "smsgw": m.smsgw}


def _events(_m: Events) -> dict[str, Any]:
    return {"kind": "events"}


def _handoff(m: Handoff) -> dict[str, Any]:
    return {"kind": "handoff", "messages": messages_columns(m.messages)}


def _metric(m: Metric) -> dict[str, Any]:
    return {"kind": "metric", "name": m.name, "values": dict(m.values)}


def _ask(m: Ask) -> dict[str, Any]:
    return {"kind": "ask", "id": m.id, "what": m.what.value}


def _answer(m: Answer) -> dict[str, Any]:
    return {"kind": "answer", "id": m.id, "value": m.value, "error": m.error}


def _accepting(m: Accepting) -> dict[str, Any]:
    return {"kind": "accepting", "accepting": m.accepting}


def _record(m: Record) -> dict[str, Any]:
    return {
        "kind": "record",
        "id": m.id,
        "now": m.now,
        "outcomes": outcomes_columns(m.outcomes),
        "receipts": receipts_columns(m.receipts),
    }


def _recorded(m: Recorded) -> dict[str, Any]:
    return {
        "kind": "recorded",
        "id": m.id,
        "final": changes_columns(m.final),
        "unmatched": pairs_columns(m.unmatched, KEPT),
        "matched_late": pairs_columns(m.matched_late, KEPT),
        "dropped": pairs_columns(m.dropped, DROPPED),
        "error": m.error,
    }


_ENCODERS: dict[type, Callable[[Any], dict[str, Any]]] = {
    Hello: _hello,
    Welcome: _welcome,
    Events: _events,
    Handoff: _handoff,
    Metric: _metric,
    Ask: _ask,
    Answer: _answer,
    Accepting: _accepting,
    Record: _record,
    Recorded: _recorded,
}


def encode(message: FromWorker | FromDaemon) -> bytes:
    """The message's line (its kind by name, its fields by name)."""
    return _dumps(_ENCODERS[type(message)](message)).encode() + b"\n"


# --- decoding ----------------------------------------------------------------------

_R = TypeVar("_R")
_Decoder = Callable[[dict[str, Any]], _R]


def _parse(line: bytes) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise WireError(f"not JSON: {type(exc).__name__}") from None


class _Fields:
    """A kind's fields: exactly these (with ``kind``), each of its types."""

    def __init__(self, kind: str, spec: Mapping[str, Types]) -> None:
        self._kind = kind
        self._spec = dict(spec)
        self._keys = frozenset(spec) | {"kind"}
        self._checks = tuple((name, types) for name, types in spec.items() if types)

    def of(self, obj: dict[str, Any]) -> dict[str, Any]:
        if obj.keys() != self._keys:
            raise WireError(f"{self._kind}: {unlike(obj.keys() - {'kind'}, self._spec.keys())}")
        for name, types in self._checks:
            if type(obj[name]) not in types:
                raise WireError(f"{self._kind}.{name}: unexpected {type(obj[name]).__name__}")
        return obj


_ANY: Types = frozenset()  # any JSON value (an answer: the worker checks it per question)
_OBJECT: Types = frozenset({dict})


_HELLO = _Fields("hello", {"protocol": INT, "smsgw": STR, "port": OPT_INT})


def _d_hello(o: dict[str, Any]) -> Hello:
    f = _HELLO.of(o)
    return Hello(protocol=f["protocol"], smsgw=f["smsgw"], port=f["port"])


_WELCOME = _Fields("welcome", {"protocol": INT, "smsgw": STR})


def _d_welcome(o: dict[str, Any]) -> Welcome:
    f = _WELCOME.of(o)
    return Welcome(protocol=f["protocol"], smsgw=f["smsgw"])


_EVENTS = _Fields("events", {})


def _d_events(o: dict[str, Any]) -> Events:
    _EVENTS.of(o)
    return Events()


_HANDOFF = _Fields("handoff", {"messages": _OBJECT})


def _d_handoff(o: dict[str, Any]) -> Handoff:
    f = _HANDOFF.of(o)
    return Handoff(messages=messages_from(f["messages"], "handoff.messages"))


_SCALARS: Types = frozenset({str, int, float, bool, type(None)})


_METRIC = _Fields("metric", {"name": STR, "values": _OBJECT})


def _d_metric(o: dict[str, Any]) -> Metric:
    f = _METRIC.of(o)
    if f["name"] not in RELAYED:
        raise WireError(f"metric: unknown name {f['name'][:40]!r}")
    values: dict[str, Any] = f["values"]
    if not set(map(type, values.values())) <= _SCALARS:
        raise WireError("metric.values: only strings, numbers, booleans and null")
    return Metric(name=f["name"], values=values)


_ASK = _Fields("ask", {"id": INT, "what": STR})


def _d_ask(o: dict[str, Any]) -> Ask:
    f = _ASK.of(o)
    try:
        what = Question(f["what"])
    except ValueError:
        raise WireError(f"ask.what: unknown question {f['what'][:40]!r}") from None
    return Ask(id=f["id"], what=what)


_ANSWER = _Fields("answer", {"id": INT, "value": _ANY, "error": OPT_STR})


def _d_answer(o: dict[str, Any]) -> Answer:
    f = _ANSWER.of(o)
    return Answer(id=f["id"], value=f["value"], error=f["error"])


_ACCEPTING = _Fields("accepting", {"accepting": BOOL})


def _d_accepting(o: dict[str, Any]) -> Accepting:
    return Accepting(accepting=_ACCEPTING.of(o)["accepting"])


_RECORD = _Fields("record", {"id": INT, "now": NUMBER, "outcomes": _OBJECT, "receipts": _OBJECT})


def _d_record(o: dict[str, Any]) -> Record:
    f = _RECORD.of(o)
    return Record(
        id=f["id"],
        now=f["now"],
        outcomes=outcomes_from(f["outcomes"], "record.outcomes"),
        receipts=receipts_from(f["receipts"], "record.receipts"),
    )


_RECORDED = _Fields(
    "recorded",
    {
        "id": INT,
        "final": _OBJECT,
        "unmatched": _OBJECT,
        "matched_late": _OBJECT,
        "dropped": _OBJECT,
        "error": OPT_STR,
    },
)


def _d_recorded(o: dict[str, Any]) -> Recorded:
    f = _RECORDED.of(o)
    return Recorded(
        id=f["id"],
        final=changes_from(f["final"], "recorded.final"),
        unmatched=pairs_from(f["unmatched"], "recorded.unmatched", KEPT),
        matched_late=pairs_from(f["matched_late"], "recorded.matched_late", KEPT),
        dropped=pairs_from(f["dropped"], "recorded.dropped", DROPPED),
        error=f["error"],
    )


_FROM_WORKER: dict[str, _Decoder[FromWorker]] = {
    "hello": _d_hello,
    "events": _d_events,
    "handoff": _d_handoff,
    "metric": _d_metric,
    "ask": _d_ask,
    "recorded": _d_recorded,
}
_FROM_DAEMON: dict[str, _Decoder[FromDaemon]] = {
    "welcome": _d_welcome,
    "events": _d_events,
    "answer": _d_answer,
    "accepting": _d_accepting,
    "record": _d_record,
}


def _decode(line: bytes, kinds: Mapping[str, _Decoder[_R]], sender: str) -> _R:
    obj = _parse(line)
    if type(obj) is not dict:
        raise WireError(f"expected an object, got {type(obj).__name__}")
    kind = obj.get("kind")
    decoder = kinds.get(kind) if type(kind) is str else None
    if decoder is None:
        raise WireError(f"unknown kind {str(kind)[:40]!r} from the {sender}")
    return decoder(obj)


def decode_from_worker(line: bytes) -> FromWorker:
    """A worker's line as its record; :class:`WireError` if it is not one."""
    return _decode(line, _FROM_WORKER, "worker")


def decode_from_daemon(line: bytes) -> FromDaemon:
    """The daemon's line as its record; :class:`WireError` if it is not one."""
    return _decode(line, _FROM_DAEMON, "daemon")


def _check_version(obj: Any, kind: str, who: str) -> None:
    """Refuse another version before reading the rest (its fields may differ)."""
    if type(obj) is list and obj[:1] == ["started"]:
        raise WireVersionError(
            f"the {who} speaks the unversioned wire of an older smsgw, "
            f"this one smsgw {SMSGW_VERSION} (wire {WIRE_VERSION})"
        )
    if type(obj) is not dict or obj.get("kind") != kind:
        raise WireError(f"the {who}'s first line is not {kind}")
    protocol, smsgw = obj.get("protocol"), obj.get("smsgw")
    if protocol != WIRE_VERSION or smsgw != SMSGW_VERSION:
        raise WireVersionError(
            f"the {who} is smsgw {str(smsgw)[:40]} (wire {str(protocol)[:10]}), "
            f"this one smsgw {SMSGW_VERSION} (wire {WIRE_VERSION})"
        )


def read_hello(line: bytes) -> Hello:
    """A worker's first line: :class:`WireVersionError` if it is another version."""
    obj = _parse(line)
    _check_version(obj, "hello", "worker")
    return _d_hello(obj)


def read_welcome(line: bytes) -> Welcome:
    """The daemon's first line: :class:`WireVersionError` if it is another version."""
    obj = _parse(line)
    _check_version(obj, "welcome", "daemon")
    return _d_welcome(obj)


class OncePerTurn:
    """Calls ``fn`` once at the end of the event loop's turn, however often asked
    (the ``events`` lines)."""

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
