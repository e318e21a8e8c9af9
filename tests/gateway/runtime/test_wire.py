"""The worker wire's records: every one survives its line unchanged, a line of another
version is refused before its fields are read, and whatever a line holds, decoding
either gives a record or raises WireError (never another exception)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import MutableMapping
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from gateway.link.interface import Receipt
from gateway.model.message import MessageClass, MessageState, SenderKind
from gateway.model.outcomes import Accepted, ReceiptState, Rejected, Retry
from gateway.model.records import Message, OutcomeRecord, QueueChanges, StateChange
from gateway.ops.metric_sinks import RELAYED
from gateway.runtime.daemon_link import DaemonLink
from gateway.runtime.wire import (
    SMSGW_VERSION,
    WIRE_VERSION,
    Accepting,
    Answer,
    Ask,
    Events,
    FromDaemon,
    FromWorker,
    Handoff,
    Hello,
    Metric,
    Question,
    Record,
    Recorded,
    Welcome,
    WireError,
    WireVersionError,
    decode_from_daemon,
    decode_from_worker,
    encode,
    read_hello,
    read_welcome,
)
from gateway.runtime.wire_columns import MESSAGE_SPEC
from tests.gateway.runtime.fake_worker import message

text = st.text(max_size=20)
opt_text = st.none() | text
ints = st.integers(min_value=-(2**63), max_value=2**63)
numbers = ints | st.floats(allow_nan=False)
opt_numbers = st.none() | numbers
json_values = st.recursive(
    st.none() | st.booleans() | ints | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)

messages = st.builds(
    Message,
    id=text,
    account=text,
    sender=text,
    sender_kind=st.sampled_from(SenderKind),
    destination=text,
    text=st.text(),
    encoding=text,
    segments=ints,
    price=ints,
    credits=ints,
    msg_class=st.sampled_from(MessageClass),
    send_at=numbers,
    validity=st.none() | ints,
    priority=ints,
    client_ref=opt_text,
    callback_url=opt_text,
    state=st.sampled_from(MessageState),
    attempts=ints,
    next_attempt_at=numbers,
    created_at=numbers,
    updated_at=numbers,
    lease_owner=opt_text,
    lease_until=opt_numbers,
    error=opt_text,
    raw=st.none() | st.binary(max_size=40),
)
outcomes = st.builds(
    OutcomeRecord,
    message_id=text,
    index=ints,
    link=text,
    outcome=st.builds(Accepted, smsc_id=text)
    | st.builds(Rejected, reason=text, status=st.none() | ints)
    | st.builds(
        Retry, reason=text, status=st.none() | ints, delay=numbers, throttled=st.booleans()
    ),
    retry_at=opt_numbers,
).filter(lambda o: isinstance(o.outcome, Retry) or o.retry_at is None)  # only a retry has one
receipts = st.builds(
    Receipt,
    link=text,
    smsc_id=text,
    state=st.sampled_from(ReceiptState),
    error=opt_text,
    done_at=opt_numbers,
    destination=opt_text,
)
changes = st.builds(
    StateChange,
    message_id=text,
    account=text,
    old=st.sampled_from(MessageState),
    new=st.sampled_from(MessageState),
    at=numbers,
)
pairs = st.lists(st.tuples(text, text), max_size=3).map(tuple)


def tuples(of: Any) -> Any:
    return st.lists(of, max_size=5).map(tuple)


from_worker: st.SearchStrategy[FromWorker] = st.one_of(
    st.builds(Hello, port=st.none() | ints, protocol=ints, smsgw=text),
    st.builds(Events),
    st.builds(Handoff, messages=tuples(messages)),
    st.builds(
        Metric,
        name=st.sampled_from(sorted(RELAYED)),
        values=st.dictionaries(text, st.none() | st.booleans() | numbers | text, max_size=4),
    ),
    st.builds(Ask, id=ints, what=st.sampled_from(Question)),
    st.builds(
        Recorded,
        id=ints,
        final=tuples(changes),
        unmatched=pairs,
        matched_late=pairs,
        dropped=pairs,
        error=opt_text,
    ),
)
from_daemon: st.SearchStrategy[FromDaemon] = st.one_of(
    st.builds(Welcome, protocol=ints, smsgw=text),
    st.builds(Events),
    st.builds(Answer, id=ints, value=json_values, error=opt_text),
    st.builds(Accepting, accepting=st.booleans()),
    st.builds(Record, id=ints, now=numbers, outcomes=tuples(outcomes), receipts=tuples(receipts)),
)


@given(from_worker)
def test_every_record_from_a_worker_survives_its_line(message: FromWorker) -> None:
    line = encode(message)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1  # one line, whatever the texts hold
    assert decode_from_worker(line) == message


@given(from_daemon)
def test_every_record_from_the_daemon_survives_its_line(message: FromDaemon) -> None:
    line = encode(message)
    assert line.count(b"\n") == 1
    assert decode_from_daemon(line) == message


def test_lines_name_their_kind_and_fields_and_no_row_is_positional() -> None:
    line = json.loads(encode(Handoff(messages=())))
    assert line == {"kind": "handoff", "messages": {name: [] for name in Message._fields}}


def test_a_segment_an_esme_cut_crosses_as_base64() -> None:
    raw = message("m1")._replace(raw=b"\x00\x00\x06\x05\x00\x03\x01\x02\x01hi")
    line = json.loads(encode(Handoff(messages=(raw, message("m2")))))
    assert line["messages"]["raw"] == ["AAAGBQADAQIBaGk=", None]
    assert decode_from_worker(encode(Handoff(messages=(raw,)))) == Handoff(messages=(raw,))
    assert set(MESSAGE_SPEC) == set(Message._fields)
    ask = json.loads(encode(Ask(id=3, what=Question.LINKS)))
    assert ask == {"kind": "ask", "id": 3, "what": "links"}


def test_recorded_keeps_what_the_daemon_needs_of_the_changes() -> None:
    delivered = StateChange(
        message_id="m1",
        account="acme",
        old=MessageState.SUBMITTED,
        new=MessageState.DELIVERED,
        at=1.0,
    )
    submitted = StateChange(
        message_id="m2",
        account="acme",
        old=MessageState.DISPATCHING,
        new=MessageState.SUBMITTED,
        at=1.0,
    )
    queue = QueueChanges(
        changes=(delivered, submitted),
        unmatched=(("op-a", "delivered"),),
        matched_late=(("op-a", "undeliverable"),),
        dropped=(("op-b", "overflow"),),
    )
    back = decode_from_worker(encode(Recorded.of(5, queue)))
    assert isinstance(back, Recorded)
    assert back.changes() == QueueChanges(
        changes=(delivered,),  # the final ones
        unmatched=queue.unmatched,
        matched_late=queue.matched_late,
        dropped=queue.dropped,
    )


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (encode(Hello(port=1, protocol=WIRE_VERSION + 1)), f"(wire {WIRE_VERSION + 1})"),
        (encode(Hello(port=1, smsgw="9.9.9")), "the worker is smsgw 9.9.9"),
        (b'["started", 8080]\n', "unversioned wire of an older smsgw"),
        # a hello of a later version with fields this one does not know: the version
        # is what is refused, not the fields
        (
            b'{"kind": "hello", "protocol": 2, "smsgw": "0.2.0", "port": 1, "pid": 5}\n',
            "the worker is smsgw 0.2.0 (wire 2)",
        ),
    ],
)
def test_a_hello_of_another_version_is_refused_saying_both(line: bytes, says: str) -> None:
    with pytest.raises(WireVersionError) as refused:
        read_hello(line)
    assert says in str(refused.value)
    assert f"this one smsgw {SMSGW_VERSION} (wire {WIRE_VERSION})" in str(refused.value)


def test_the_first_lines_of_this_version_are_read() -> None:
    assert read_hello(encode(Hello(port=8080))) == Hello(port=8080)
    assert read_welcome(encode(Welcome())) == Welcome()
    with pytest.raises(WireVersionError, match=r"the daemon is smsgw 0\.0\.1"):
        read_welcome(encode(Welcome(smsgw="0.0.1")))
    for first in (b"", b"garbage\n", encode(Events())):
        with pytest.raises(WireError):
            read_hello(first)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (encode(Accepting(accepting=True)), "unknown kind 'accepting' from the worker"),
        (b'{"kind": "events", "x": 1}', "events: unknown fields ['x']"),
        (b'{"kind": "ask", "what": "ready"}', "ask: missing fields ['id']"),
        (b'{"kind": "ask", "id": true, "what": "ready"}', "ask.id: unexpected bool"),
        (b'{"kind": 5}', "unknown kind '5' from the worker"),
        (b"{}", "unknown kind 'None' from the worker"),
    ],
)
def test_a_malformed_line_is_refused_saying_what_is_wrong(line: bytes, says: str) -> None:
    with pytest.raises(WireError) as refused:
        decode_from_worker(line)
    assert str(refused.value) == says


def _columns(message: Handoff) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(encode(message))
    columns: dict[str, Any] = obj["messages"]
    return columns


def test_a_batch_is_refused_on_a_bad_column() -> None:
    handoff = Handoff(messages=(message("m1"),))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"segments": ["1"]}, "handoff.messages.segments: unexpected str '1'"),
        ({"state": ["flying"]}, "handoff.messages.state: unknown value 'flying'"),
        ({"account": ["a", "b"]}, "handoff.messages.account: expected a list as long as the"),
        ({"text": "hi"}, "handoff.messages.text: expected a list as long as the other"),
        ({"priority": [True]}, "handoff.messages.priority: unexpected bool True"),
        ({"raw": ["not base64!"]}, "handoff.messages.raw: not base64"),
        ({"raw": [b"\x00".hex()]}, "handoff.messages.raw: not base64"),
    ]
    two = Handoff(messages=(message("m1"), message("m2")))
    bad = json.dumps({"kind": "handoff", "messages": _columns(two) | {"price": [1, 1.5]}})
    with pytest.raises(WireError, match=r"^handoff\.messages\.price: unexpected float 1\.5$"):
        decode_from_worker(bad.encode())
    for change, says in cases:
        columns = _columns(handoff) | change
        line = json.dumps({"kind": "handoff", "messages": columns}).encode()
        with pytest.raises(WireError) as refused:
            decode_from_worker(line)
        assert str(refused.value).startswith(says)


def _mutated(msg: FromWorker | FromDaemon, data: st.DataObject) -> bytes:
    """The message's line with one field (or one column of a batch) holding any JSON."""
    obj: dict[str, Any] = json.loads(encode(msg))
    fields = sorted(set(obj) - {"kind"})
    if fields:
        name = data.draw(st.sampled_from(fields))
        value = obj[name]
        if isinstance(value, dict) and value:  # a batch: one of its columns
            column = data.draw(st.sampled_from(sorted(value)))
            value[column] = data.draw(st.lists(json_values, max_size=3))
        else:
            obj[name] = data.draw(json_values)
    return json.dumps(obj).encode()


@given(from_daemon, st.data())
def test_whatever_a_field_holds_decoding_gives_a_record_or_a_wire_error(
    message: FromDaemon, data: st.DataObject
) -> None:
    with contextlib.suppress(WireError):
        decode_from_daemon(_mutated(message, data))


@given(from_worker, st.data())
def test_whatever_a_workers_field_holds_decoding_gives_a_record_or_a_wire_error(
    message: FromWorker, data: st.DataObject
) -> None:
    with contextlib.suppress(WireError):
        decode_from_worker(_mutated(message, data))


@given(st.binary(max_size=200))
def test_whatever_bytes_a_line_holds_decoding_gives_a_record_or_a_wire_error(
    line: bytes,
) -> None:
    with contextlib.suppress(WireError):
        decode_from_worker(line)


async def _link_reading(lines: list[bytes]) -> tuple[DaemonLink, list[MutableMapping[str, Any]]]:
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=theirs)
    link = DaemonLink(reader, writer, logger=structlog.get_logger())
    with capture_logs() as logs:
        ours.sendall(b"".join(lines))
        ours.close()
        await link.read()
    writer.close()
    return link, logs


async def test_a_worker_refuses_a_daemon_of_another_version() -> None:
    link, logs = await _link_reading(
        [encode(Welcome(protocol=WIRE_VERSION + 1)), encode(Accepting(accepting=False))]
    )
    assert link.accepting  # nothing after the refused welcome was taken
    [refused] = [e for e in logs if e["event"] == "daemon_refused"]
    assert f"(wire {WIRE_VERSION + 1})" in refused["error"]


async def test_a_worker_refuses_a_malformed_line_and_takes_the_next() -> None:
    link, logs = await _link_reading(
        [encode(Welcome()), b'{"kind": "accepting"}\n', encode(Accepting(accepting=False))]
    )
    assert not link.accepting
    [refused] = [e for e in logs if e["event"] == "daemon_line_refused"]
    assert refused["error"] == "accepting: missing fields ['accepting']"


async def test_what_a_turn_stores_is_handed_over_in_one_line() -> None:
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=theirs)
    daemon_reader, daemon_writer = await asyncio.open_connection(sock=ours)
    link = DaemonLink(reader, writer, logger=structlog.get_logger())
    queued = message("m3")._replace(state=MessageState.QUEUED)  # claimed later, not handed
    link.handoff([message("m1")])
    link.handoff([message("m2"), queued])
    first = decode_from_worker(await daemon_reader.readline())
    link.handoff([message("m4")])  # the next turn: a line of its own
    second = decode_from_worker(await daemon_reader.readline())
    writer.close()
    daemon_writer.close()
    assert first == Handoff(messages=(message("m1"), message("m2")))
    assert second == Handoff(messages=(message("m4"),))


async def test_what_a_turn_counts_goes_to_the_daemon_in_one_line_per_labels() -> None:
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=theirs)
    daemon_reader, daemon_writer = await asyncio.open_connection(sock=ours)
    link = DaemonLink(reader, writer, logger=structlog.get_logger())
    link.message_accepted(account="acme", channel="http")
    link.message_accepted(account="acme", channel="http", count=3)
    link.message_accepted(account="beta", channel="http")
    link.webhook_delivered(account="acme")  # not a count: a line of its own, at once
    lines = [decode_from_worker(await daemon_reader.readline()) for _ in range(3)]
    writer.close()
    daemon_writer.close()
    assert lines == [
        Metric(name="webhook_delivered", values={"account": "acme"}),
        Metric(name="message_accepted", values={"account": "acme", "channel": "http", "count": 4}),
        Metric(name="message_accepted", values={"account": "beta", "channel": "http", "count": 1}),
    ]
