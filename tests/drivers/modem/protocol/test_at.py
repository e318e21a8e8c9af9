"""The sans-IO AT channel: replies, prompts, echo, URCs anywhere, fragmented reads."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modem.protocol.at import (
    AtChannel,
    AtError,
    Command,
    Event,
    Prompt,
    Response,
    Stale,
    Timeout,
    Unsolicited,
)
from gateway.model.errors import LocalProtocolError


def drain(channel: AtChannel) -> list[Event]:
    events: list[Event] = []
    while (event := channel.next_event()) is not None:
        events.append(event)
    return events


def feed(channel: AtChannel, data: bytes) -> list[Event]:
    channel.receive_data(data)
    return drain(channel)


def test_ok_reply_with_information_lines() -> None:
    ch = AtChannel()
    cmd = Command(line="AT+CSQ", expect=("+CSQ",))
    assert ch.send(cmd, now=0.0) == b"AT+CSQ\r"
    events = feed(ch, b"\r\n+CSQ: 17,99\r\n\r\nOK\r\n")
    assert events == [Response(command=cmd, lines=("+CSQ: 17,99",))]
    assert not ch.busy


def test_echo_of_the_command_is_dropped() -> None:
    ch = AtChannel()
    cmd = Command(line="AT+CMGF=0")
    ch.send(cmd, now=0.0)
    assert feed(ch, b"AT+CMGF=0\r\r\nOK\r\n") == [Response(command=cmd, lines=())]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("ERROR", AtError(kind="ERROR")),
        ("+CME ERROR: 14", AtError(kind="CME", code=14, text="14")),
        ("+CMS ERROR: 500", AtError(kind="CMS", code=500, text="500")),
        ("+CME ERROR: SIM busy", AtError(kind="CME", code=None, text="SIM busy")),
    ],
)
def test_error_finals(line: str, error: AtError) -> None:
    ch = AtChannel()
    cmd = Command(line="AT+CPMS?")
    ch.send(cmd, now=0.0)
    (event,) = feed(ch, f"\r\n{line}\r\n".encode())
    assert isinstance(event, Response)
    assert event.error == error
    assert not event.ok


def test_error_names() -> None:
    assert AtError(kind="CMS", code=332).name == "CMS_332"
    assert AtError(kind="NO CARRIER").name == "NO_CARRIER"


def test_prompt_without_line_end_then_pdu_and_reference() -> None:
    ch = AtChannel()
    cmd = Command(line="AT+CMGS=23", expect=("+CMGS",), prompt=True)
    ch.send(cmd, now=0.0)
    assert feed(ch, b"\r\n> ") == [Prompt(command=cmd)]
    assert ch.send_data("0011", now=1.0, timeout=60.0) == b"0011\x1a"
    assert ch.get_timer() == 61.0
    events = feed(ch, b"\r\n+CMGS: 42\r\n\r\nOK\r\n")
    assert events == [Response(command=cmd, lines=("+CMGS: 42",))]


def test_prompt_with_echo_on_and_pdu_echoed() -> None:
    ch = AtChannel()
    cmd = Command(line="AT+CMGS=23", expect=("+CMGS",), prompt=True)
    ch.send(cmd, now=0.0)
    assert feed(ch, b"AT+CMGS=23\r\r\n> ") == [Prompt(command=cmd)]
    ch.send_data("0011AB", now=0.0, timeout=60.0)
    events = feed(ch, b"0011AB\x1a\r\n+CMGS: 7\r\n\r\nOK\r\n")
    assert events == [Response(command=cmd, lines=("+CMGS: 7",))]


def test_prompt_refused_with_error() -> None:
    ch = AtChannel()
    cmd = Command(line="AT+CMGS=23", expect=("+CMGS",), prompt=True)
    ch.send(cmd, now=0.0)
    (event,) = feed(ch, b"\r\n+CMS ERROR: 304\r\n")
    assert isinstance(event, Response)
    assert event.error == AtError(kind="CMS", code=304, text="304")


def test_greater_than_is_only_a_prompt_when_one_is_expected() -> None:
    ch = AtChannel()
    events = feed(ch, b"\r\n>weird vendor line\r\n")
    assert events == [Unsolicited(name=">weird vendor line", value="")]


def test_urc_inside_a_reply_is_routed_and_the_reply_still_completes() -> None:
    ch = AtChannel()
    cmd = Command(line="AT+CPMS?", expect=("+CPMS",))
    ch.send(cmd, now=0.0)
    events = feed(
        ch,
        b'\r\n+CPMS: "SM",1,30,"SM",1,30,"SM",1,30\r\n'
        b'\r\n+CMTI: "SM",2\r\n^RSSI: 18\r\n^MODE: 5,4\r\nRING\r\n\r\nOK\r\n',
    )
    assert events == [
        Unsolicited(name="+CMTI", value='"SM",2'),
        Unsolicited(name="^RSSI", value="18"),
        Unsolicited(name="^MODE", value="5,4"),
        Unsolicited(name="RING", value=""),
        Response(command=cmd, lines=('+CPMS: "SM",1,30,"SM",1,30,"SM",1,30',)),
    ]


def test_two_line_urcs_carry_their_pdu() -> None:
    ch = AtChannel()
    cmd = Command(line="AT+CSQ", expect=("+CSQ",))
    ch.send(cmd, now=0.0)
    events = feed(ch, b"\r\n+CDS: 25\r\n0006260B91\r\n+CSQ: 5,99\r\n+CMT: ,24\r\n07AB\r\nOK\r\n")
    assert events == [
        Unsolicited(name="+CDS", value="25", pdu="0006260B91"),
        Unsolicited(name="+CMT", value=",24", pdu="07AB"),
        Response(command=cmd, lines=("+CSQ: 5,99",)),
    ]


def test_creg_is_a_reply_to_creg_query_and_a_urc_otherwise() -> None:
    ch = AtChannel()
    query = Command(line="AT+CREG?", expect=("+CREG",))
    ch.send(query, now=0.0)
    assert feed(ch, b"\r\n+CREG: 0,1\r\n\r\nOK\r\n") == [
        Response(command=query, lines=("+CREG: 0,1",))
    ]
    other = Command(line="AT+CSQ", expect=("+CSQ",))
    ch.send(other, now=0.0)
    assert feed(ch, b"\r\n+CREG: 5\r\nOK\r\n") == [
        Unsolicited(name="+CREG", value="5"),
        Response(command=other, lines=()),
    ]


def test_cmgr_header_and_pdu_lines_are_the_reply() -> None:
    ch = AtChannel()
    cmd = Command(line="AT+CMGR=3", expect=("+CMGR",))
    ch.send(cmd, now=0.0)
    (event,) = feed(ch, b"\r\n+CMGR: 0,,24\r\n07917283\r\n\r\nOK\r\n")
    assert isinstance(event, Response)
    assert event.lines == ("+CMGR: 0,,24", "07917283")


def test_lines_without_a_command_are_unsolicited() -> None:
    ch = AtChannel()
    assert feed(ch, b"\r\nRING\r\n") == [Unsolicited(name="RING", value="")]
    assert feed(ch, b"\r\nNO CARRIER\r\n") == [Unsolicited(name="NO CARRIER", value="")]


def test_final_codes_without_a_command_are_stale_not_answers() -> None:
    ch = AtChannel()
    assert feed(ch, b"\r\nERROR\r\n\r\nOK\r\n") == [Stale(line="ERROR"), Stale(line="OK")]
    ch.send(Command(line="AT"), now=0.0)
    (event,) = feed(ch, b"\r\nOK\r\n")
    assert isinstance(event, Response)
    assert event.ok


def test_with_echo_on_a_final_code_before_the_echo_answers_an_earlier_line() -> None:
    ch = AtChannel()
    ch.send(Command(line="AT+CMEE=1"), now=0.0)
    assert feed(ch, b"AT+CMEE=1\r\r\nOK\r\n")[0].ok  # type: ignore[union-attr]
    ch.send(Command(line="AT"), now=0.0)
    # a late ERROR (for a line before ours) comes first, then our echo and our OK
    events = feed(ch, b"\r\nERROR\r\nAT\r\r\nOK\r\n")
    assert events[0] == Stale(line="ERROR")
    assert isinstance(events[1], Response)
    assert events[1].ok


@pytest.mark.parametrize("line", ["ATE0", "ATZ", "AT&F", "ATE1V1"])
def test_after_a_command_that_changes_echo_answers_without_echo_count(line: str) -> None:
    ch = AtChannel()
    ch.send(Command(line="AT"), now=0.0)
    feed(ch, b"AT\r\r\nOK\r\n")
    ch.send(Command(line=line), now=0.0)
    feed(ch, line.encode() + b"\r\r\nOK\r\n")
    ch.send(Command(line="AT+CMGF=0"), now=0.0)
    (event,) = feed(ch, b"\r\nOK\r\n")  # echo is now off: the OK is ours
    assert isinstance(event, Response)


def test_a_timeout_forgets_that_the_modem_echoes() -> None:
    ch = AtChannel()
    ch.send(Command(line="AT", timeout=1.0), now=0.0)
    feed(ch, b"AT\r\r\nOK\r\n")
    ch.send(Command(line="AT", timeout=1.0), now=0.0)
    ch.handle_timer(1.0)
    assert isinstance(drain(ch)[0], Timeout)
    ch.send(Command(line="AT"), now=2.0)
    (event,) = feed(ch, b"\r\nOK\r\n")  # reset while hung: echo off now
    assert isinstance(event, Response)


def test_timeout_fires_at_the_deadline_only() -> None:
    ch = AtChannel()
    cmd = Command(line="AT", timeout=2.0)
    ch.send(cmd, now=10.0)
    assert ch.get_timer() == 12.0
    ch.handle_timer(11.9)
    assert drain(ch) == []
    ch.handle_timer(12.0)
    assert drain(ch) == [Timeout(command=cmd, lines=(), prompted=False)]
    assert not ch.busy
    assert ch.get_timer() is None


def test_a_second_command_while_one_is_in_flight_is_refused() -> None:
    ch = AtChannel()
    ch.send(Command(line="AT"), now=0.0)
    with pytest.raises(LocalProtocolError, match="in flight"):
        ch.send(Command(line="ATI"), now=0.0)


def test_secret_command_is_hidden_in_errors() -> None:
    ch = AtChannel()
    ch.send(Command(line='AT+CPIN="1234"', secret=True), now=0.0)
    with pytest.raises(LocalProtocolError) as info:
        ch.send(Command(line="AT"), now=0.0)
    assert "1234" not in str(info.value)


def test_secret_command_repr_hides_the_pin() -> None:
    cmd = Command(line='AT+CPIN="1234"', secret=True)
    assert "1234" not in repr(cmd)
    assert "1234" not in repr(Response(command=cmd, lines=()))


def test_data_without_a_prompt_is_refused() -> None:
    ch = AtChannel()
    ch.send(Command(line="AT+CMGS=5", prompt=True), now=0.0)
    with pytest.raises(LocalProtocolError):
        ch.send_data("00", now=0.0, timeout=1.0)


def test_endless_noise_is_dropped_and_the_channel_recovers() -> None:
    ch = AtChannel()
    assert feed(ch, b"\xff" * 10_000) == []
    cmd = Command(line="AT")
    ch.send(cmd, now=0.0)
    assert feed(ch, b"\r\nOK\r\n") == [Response(command=cmd, lines=())]


def test_bare_cr_and_lf_line_ends_and_nuls() -> None:
    ch = AtChannel()
    cmd = Command(line="AT+CSQ", expect=("+CSQ",))
    ch.send(cmd, now=0.0)
    assert feed(ch, b"\n+CSQ: 9,9\r\x00\nOK\r") == [Response(command=cmd, lines=("+CSQ: 9,9",))]


STREAM = (
    b"AT+CMGS=23\r\r\n> "
    b'00AA\x1a\r\n+CMTI: "SM",1\r\n+CMGS: 9\r\n\r\n+CDS: 25\r\n0006AB\r\n\r\nOK\r\n'
)
EXPECTED_KINDS = ["Prompt", "Unsolicited", "Unsolicited", "Response"]


def run_stream(chunks: list[bytes]) -> list[Event]:
    ch = AtChannel()
    cmd = Command(line="AT+CMGS=23", expect=("+CMGS",), prompt=True)
    ch.send(cmd, now=0.0)
    events: list[Event] = []
    for chunk in chunks:
        for event in feed(ch, chunk):
            events.append(event)
            if isinstance(event, Prompt):
                ch.send_data("00AA", now=0.0, timeout=60.0)
    return events


def test_stream_read_byte_by_byte() -> None:
    events = run_stream([STREAM[i : i + 1] for i in range(len(STREAM))])
    assert [type(e).__name__ for e in events] == EXPECTED_KINDS
    response = events[-1]
    assert isinstance(response, Response)
    assert response.lines == ("+CMGS: 9",)


PROMPT_END = STREAM.index(b"> ") + 2  # the modem sends nothing more until the data comes


@settings(max_examples=200)
@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), unique=True))
def test_stream_split_anywhere_gives_the_same_events(cuts: list[int]) -> None:
    points = sorted({0, PROMPT_END, len(STREAM), *cuts})
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    whole = run_stream([STREAM[:PROMPT_END], STREAM[PROMPT_END:]])
    assert run_stream(chunks) == whole
    assert [type(e).__name__ for e in whole] == EXPECTED_KINDS
