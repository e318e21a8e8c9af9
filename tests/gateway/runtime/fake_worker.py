"""A worker process for tests/gateway/runtime/test_worker_pool.py: the daemon's
arguments, its socket, and one scripted behaviour instead of the front doors.

``python -m tests.gateway.runtime.fake_worker --as BEHAVIOUR`` then the
arguments WorkerPool adds (``--fd``, ``--index``...). Behaviours:

- ``other-version``: a hello of another wire version, then waits for the
  socket to close;
- ``unversioned``: the first line of an older smsgw (``["started", null]``);
- ``bad-then-good``: a hello, every malformed line of :data:`BAD_LINES`, then
  an ask; on its answer, a metric (``message_accepted``, account "bad");
- ``handoff-on-events``: a hello; on each ``events`` line from the daemon, a
  handoff of one message (id "m-after") and a metric (account "good").
"""

from __future__ import annotations

import argparse
import socket
import sys

from gateway.model.message import MessageClass, MessageState, SenderKind
from gateway.model.records import Message
from gateway.runtime.wire import (
    WIRE_VERSION,
    Answer,
    Ask,
    Events,
    Handoff,
    Hello,
    Metric,
    Question,
    decode_from_daemon,
    encode,
)

BAD_LINES: tuple[bytes, ...] = (
    b"not json at all",
    b'{"kind": "events", "truncated"',
    b'{"kind": "events\xc3\x28"}',  # invalid UTF-8
    b"[" * 100_000,  # deeper than the JSON parser's recursion
    b'["handoff", [["m1", "acme"]]]',  # the old positional form
    b'{"kind": "no-such-kind"}',
    b'{"kind": "record", "id": 1, "now": 0, "outcomes": {}, "receipts": {}}',  # daemon's only
    b'{"kind": "ask", "id": 1, "what": "metrics", "extra": 1}',
    b'{"kind": "ask", "id": "1", "what": "metrics"}',
    b'{"kind": "ask", "id": 1, "what": "secrets"}',
    b'{"kind": "metric", "name": "__init__", "values": {}}',
    b'{"kind": "metric", "name": "message_accepted", "values": {"account": ["x"]}}',
    b'{"kind": "handoff", "messages": {"id": ["m1"]}}',
    b'{"kind": "recorded", "id": 1}',
    b'{"kind": "handoff", "messages": ' + b'"' + b"x" * 2_000_000 + b'"}',
)


def message(message_id: str) -> Message:
    return Message(
        id=message_id,
        account="acme",
        sender="ACME",
        sender_kind=SenderKind.ALPHA,
        destination="+33612345678",
        text="hello",
        encoding="gsm7",
        segments=1,
        price=1,
        credits=1,
        msg_class=MessageClass.STANDARD,
        send_at=1.0,
        validity=None,
        priority=0,
        client_ref=None,
        callback_url=None,
        state=MessageState.DISPATCHING,
        attempts=0,
        next_attempt_at=1.0,
        created_at=1.0,
        updated_at=1.0,
        lease_owner="gw",
        lease_until=301.0,
        error=None,
    )


def accepted(account: str) -> Metric:
    return Metric(
        name="message_accepted", values={"account": account, "channel": "http", "count": 1}
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--as", dest="behaviour", required=True)
    parser.add_argument("--fd", type=int, required=True)
    args, _rest = parser.parse_known_args()
    sock = socket.socket(fileno=args.fd)
    lines = sock.makefile("rb")
    match args.behaviour:
        case "other-version":
            sock.sendall(encode(Hello(port=None, protocol=WIRE_VERSION + 1)))
        case "unversioned":
            sock.sendall(b'["started", null]\n')
        case "bad-then-good":
            sock.sendall(encode(Hello(port=None)))
            sock.sendall(b"".join(line + b"\n" for line in BAD_LINES))
            sock.sendall(encode(Ask(id=7, what=Question.READY)))
        case "handoff-on-events":
            sock.sendall(encode(Hello(port=None)))
    lines.readline()  # the welcome, or the end when refused
    for line in lines:
        match decode_from_daemon(line):
            case Answer(id=7):
                sock.sendall(encode(accepted("bad")))
            case Events():
                sock.sendall(encode(Handoff(messages=(message("m-after"),))))
                sock.sendall(encode(accepted("good")))
            case _:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
