"""The ESME session as a peer pair with the simulator's SMSC session: no sockets, time as data."""

from __future__ import annotations

import itertools
import random

import pytest

from drivers.smpp.protocol import status as st
from drivers.smpp.protocol.decode import decode
from drivers.smpp.protocol.events import (
    Bound,
    Closed,
    CloseReason,
    DeliverReceived,
    Event,
    PeerError,
    SubmitAnswered,
    SubmitExpired,
    SubmitMisanswered,
)
from drivers.smpp.protocol.pdu import (
    HEADER,
    CommandId,
    ShortMessage,
    encode_bare,
    encode_message_resp,
)
from drivers.smpp.protocol.session import EsmeSession, next_sequence
from drivers.smpp.protocol.states import BindMode, SessionState
from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.session import SmscSession
from gateway.model.errors import LocalProtocolError


class Pair:
    """An EsmeSession wired to an SmscSession by hand."""

    def __init__(self, sim: SimConfig | None = None, **esme: object) -> None:
        settings: dict[str, object] = {
            "system_id": "gw",
            "password": "pw",
            "window": 4,
            "response_timeout": 5.0,
            "enquire_link": 30.0,
        }
        settings.update(esme)
        self.esme = EsmeSession(**settings)  # type: ignore[arg-type]
        self.smsc = SmscSession(
            config=sim or SimConfig(), ids=itertools.count(1), rng=random.Random(1)
        )
        self.now = 1000.0

    def to_smsc(self) -> None:
        data = self.esme.data_to_send()
        if data:
            self.smsc.receive_data(data, self.now)

    def to_esme(self) -> list[Event]:
        return self.esme.receive_data(self.smsc.data_to_send(), self.now)

    def exchange(self) -> list[Event]:
        self.to_smsc()
        return self.to_esme()

    def bind(self) -> list[Event]:
        self.esme.connection_made(self.now)
        return self.exchange()


def submit(pair: Pair, text: bytes = b"hi") -> int:
    return pair.esme.submit(
        pair.now, destination_addr="33612345678", short_message=text, registered_delivery=1
    )


def test_bind_succeeds_and_names_the_peer() -> None:
    pair = Pair()
    events = pair.bind()
    assert events == [Bound(system_id="smsc-sim")]
    assert pair.esme.state is SessionState.BOUND
    assert pair.smsc.bound_as is CommandId.BIND_TRANSCEIVER


def test_bind_with_wrong_password_closes_with_its_status() -> None:
    pair = Pair(sim=SimConfig(password="right"))
    events = pair.bind()
    assert len(events) == 1
    assert isinstance(events[0], Closed)
    assert events[0].reason is CloseReason.BIND_FAILED
    assert events[0].status == st.ESME_RINVPASWD


def test_bind_unanswered_times_out() -> None:
    pair = Pair(bind_timeout=2.0)
    pair.esme.connection_made(pair.now)
    assert pair.esme.get_timer() == pair.now + 2.0
    events = pair.esme.handle_timer(pair.now + 2.0)
    assert [type(e) for e in events] == [Closed]
    assert isinstance(events[0], Closed)
    assert events[0].reason is CloseReason.BIND_FAILED


def test_submit_is_answered_with_a_message_id() -> None:
    pair = Pair()
    pair.bind()
    seq = submit(pair)
    assert pair.esme.in_flight == 1
    events = pair.exchange()
    assert events == [SubmitAnswered(sequence=seq, status=0, message_id="1")]
    assert pair.esme.in_flight == 0


def test_window_full_refuses_another_submit() -> None:
    pair = Pair(window=2)
    pair.bind()
    submit(pair)
    submit(pair)
    assert not pair.esme.can_submit
    with pytest.raises(LocalProtocolError, match="window"):
        submit(pair)
    pair.exchange()
    assert pair.esme.can_submit


def test_submit_before_bind_is_a_local_error() -> None:
    pair = Pair()
    with pytest.raises(LocalProtocolError, match="idle"):
        submit(pair)


def test_receiver_cannot_submit() -> None:
    pair = Pair(bind=BindMode.RECEIVER)
    pair.bind()
    assert pair.esme.bound
    assert not pair.esme.can_submit
    assert pair.smsc.bound_as is CommandId.BIND_RECEIVER


def test_unanswered_submit_expires_and_a_late_answer_is_ignored() -> None:
    pair = Pair(sim=SimConfig(delay=10.0), response_timeout=5.0)
    pair.bind()
    seq = submit(pair)
    pair.to_smsc()
    assert pair.esme.get_timer() == pair.now + 5.0
    assert pair.esme.handle_timer(pair.now + 4.9) == []
    pair.now += 5.0
    assert pair.esme.handle_timer(pair.now) == []  # reported once the SMSC is heard
    assert pair.esme.in_flight == 0
    assert pair.exchange() == [SubmitExpired(sequence=seq)]  # it answers the enquire_link
    pair.smsc.handle_timer(pair.now + 5.0)  # the SMSC answers at last
    assert pair.to_esme() == []


def _sent_commands(pair: Pair) -> list[int]:
    data, ids = pair.esme.data_to_send(), []
    while data:
        length, command_id = HEADER.unpack_from(data)[:2]
        ids.append(command_id)
        data = data[length:]
    return ids


def test_an_unanswered_submit_sends_an_enquire_link_at_once() -> None:
    pair = Pair(response_timeout=5.0, enquire_link=30.0)
    pair.bind()
    submit(pair)
    pair.esme.data_to_send()  # lost on the way
    pair.now += 5.0
    assert pair.esme.handle_timer(pair.now) == []
    assert _sent_commands(pair) == [CommandId.ENQUIRE_LINK]
    assert pair.esme.get_timer() == pair.now + 5.0  # its answer's deadline, not 30 s idle


def test_a_silent_smsc_is_dead_and_its_unanswered_submits_are_never_reported() -> None:
    # a silent SMSC: the submit is not reported expired (it would be sent again on
    # this session); the session dies and connection_lost answers it
    pair = Pair(sim=SimConfig(silent_after=1), response_timeout=5.0)
    pair.bind()
    seq = submit(pair)
    assert pair.exchange() == []
    pair.now += 5.0
    assert pair.esme.handle_timer(pair.now) == []
    assert pair.exchange() == []  # the enquire_link goes unanswered too
    pair.now += 5.0
    events = pair.esme.handle_timer(pair.now)
    assert [(type(e), getattr(e, "reason", "")) for e in events] == [(Closed, CloseReason.DEAD)]
    assert pair.esme.connection_lost() == [seq]


def test_submits_unanswered_in_a_row_end_the_session() -> None:
    pair = Pair(sim=SimConfig(silent_after=1), response_timeout=5.0, dead_after_timeouts=3)
    pair.bind()
    start = pair.now
    seqs = []
    for i in range(4):  # one a second
        pair.now = start + i
        seqs.append(submit(pair))
    assert pair.exchange() == []
    assert pair.esme.handle_timer(start + 5.0) == []
    assert pair.esme.handle_timer(start + 6.0) == []
    [closed] = pair.esme.handle_timer(start + 7.0)  # long before the enquire_link's deadline
    assert isinstance(closed, Closed)
    assert (closed.reason, closed.detail) == (
        CloseReason.DEAD,
        "3 submit_sm unanswered in a row, after 5s each",
    )
    assert pair.esme.state is SessionState.CLOSED
    assert sorted(pair.esme.connection_lost()) == seqs


def test_an_answer_to_a_submit_between_timeouts_starts_the_count_again() -> None:
    pair = Pair(response_timeout=5.0, dead_after_timeouts=2)
    pair.bind()
    first, second = submit(pair), submit(pair)
    pair.esme.data_to_send()
    pair.now += 5.0
    pair.esme.receive_data(
        encode_message_resp(CommandId.SUBMIT_SM_RESP, second, 0, "7"), pair.now - 1
    )
    assert pair.esme.handle_timer(pair.now) == []  # one in a row: not dead
    probe = HEADER.unpack_from(pair.esme.data_to_send())[3]
    events = pair.esme.receive_data(encode_bare(CommandId.ENQUIRE_LINK_RESP, probe), pair.now)
    assert events == [SubmitExpired(sequence=first)]
    third = submit(pair)
    pair.esme.data_to_send()
    pair.now += 5.0
    pair.esme.receive_data(encode_message_resp(CommandId.SUBMIT_SM_RESP, 99, 0, "8"), pair.now)
    assert pair.esme.handle_timer(pair.now) == []  # a (late) answer in between: count restarted
    assert pair.esme.bound
    assert third in pair.esme.connection_lost()


def test_an_enquire_link_answer_does_not_restart_the_count() -> None:
    # the session answers enquire_link but no submit_sm: still dead after two in a row
    pair = Pair(response_timeout=5.0, dead_after_timeouts=2)
    pair.bind()
    first = submit(pair)
    pair.esme.data_to_send()
    pair.now += 5.0
    assert pair.esme.handle_timer(pair.now) == []
    probe = HEADER.unpack_from(pair.esme.data_to_send())[3]
    events = pair.esme.receive_data(encode_bare(CommandId.ENQUIRE_LINK_RESP, probe), pair.now)
    assert events == [SubmitExpired(sequence=first)]
    submit(pair)
    pair.now += 5.0
    [closed] = pair.esme.handle_timer(pair.now)
    assert isinstance(closed, Closed)
    assert closed.reason is CloseReason.DEAD


def test_idle_link_sends_enquire_link_and_survives_when_answered() -> None:
    pair = Pair(enquire_link=30.0, response_timeout=5.0)
    pair.bind()
    assert pair.esme.get_timer() == pair.now + 30.0
    pair.now += 30.0
    assert pair.esme.handle_timer(pair.now) == []
    sent = pair.esme.data_to_send()
    assert HEADER.unpack_from(sent)[1] == CommandId.ENQUIRE_LINK
    pair.smsc.receive_data(sent, pair.now)
    assert pair.to_esme() == []
    assert pair.esme.get_timer() == pair.now + 30.0  # idle timer restarted, no verdict pending


def test_unanswered_enquire_link_is_a_dead_link_verdict() -> None:
    pair = Pair(enquire_link=30.0, response_timeout=5.0)
    pair.bind()
    pair.esme.handle_timer(pair.now + 30.0)
    pair.esme.data_to_send()  # lost on the way
    events = pair.esme.handle_timer(pair.now + 35.0)
    assert len(events) == 1
    assert isinstance(events[0], Closed)
    assert events[0].reason is CloseReason.DEAD
    assert pair.esme.state is SessionState.CLOSED


def test_traffic_postpones_enquire_link() -> None:
    pair = Pair(enquire_link=30.0)
    pair.bind()
    pair.now += 20.0
    submit(pair)
    pair.exchange()
    assert pair.esme.get_timer() == pair.now + 30.0  # the answered submit left no deadline
    assert pair.esme.handle_timer(pair.now + 29.0) == []
    assert pair.esme.data_to_send() == b""


def test_smsc_enquire_link_is_answered() -> None:
    pair = Pair()
    pair.bind()
    events = pair.esme.receive_data(encode_bare(CommandId.ENQUIRE_LINK, 99), pair.now)
    assert events == []
    answer = pair.esme.data_to_send()
    assert HEADER.unpack(answer) == (16, CommandId.ENQUIRE_LINK_RESP, 0, 99)


def test_unbind_from_smsc_is_answered_and_closes() -> None:
    pair = Pair()
    pair.bind()
    pair.smsc.unbind()
    events = pair.to_esme()
    assert len(events) == 1
    assert isinstance(events[0], Closed)
    assert events[0].reason is CloseReason.UNBIND_REQUESTED
    pair.to_smsc()
    assert pair.smsc.close_requested  # the SMSC got its unbind_resp


def test_our_unbind_is_answered() -> None:
    pair = Pair()
    pair.bind()
    pair.esme.unbind(pair.now)
    assert pair.esme.state is SessionState.UNBINDING
    events = pair.exchange()
    assert len(events) == 1
    assert isinstance(events[0], Closed)
    assert events[0].reason is CloseReason.UNBOUND


def test_deliver_sm_is_handed_up_and_answered_when_the_caller_says() -> None:
    pair = Pair(sim=SimConfig(dlr=True))
    pair.bind()
    submit(pair)
    events = pair.exchange()
    answered = [e for e in events if isinstance(e, SubmitAnswered)]
    delivered = [e for e in events if isinstance(e, DeliverReceived)]
    assert len(answered) == 1
    assert len(delivered) == 1
    assert delivered[0].pdu.esm_class == 0x04
    assert pair.esme.data_to_send() == b""  # nothing answered yet: the caller decides
    pair.esme.respond(delivered[0].pdu)
    pair.to_smsc()
    assert pair.smsc.unanswered == 0  # the SMSC saw its deliver_sm_resp


def test_refused_deliver_sm_is_redelivered_by_the_smsc() -> None:
    pair = Pair(sim=SimConfig(dlr=True))
    pair.bind()
    submit(pair)
    first = next(e for e in pair.exchange() if isinstance(e, DeliverReceived))
    pair.esme.respond(first.pdu, st.ESME_RX_T_APPN)
    pair.to_smsc()
    pair.smsc.handle_timer(pair.now + 1.0)
    again = [e for e in pair.to_esme() if isinstance(e, DeliverReceived)]
    assert len(again) == 1
    assert isinstance(first.pdu, ShortMessage)
    assert again[0].pdu == first.pdu._replace(sequence=again[0].pdu.sequence)


def test_unreadable_request_gets_generic_nack_and_the_session_goes_on() -> None:
    pair = Pair()
    pair.bind()
    garbage = HEADER.pack(20, 0x0000FFFF, 0, 31) + b"\x00\x01\x02\x03"
    events = pair.esme.receive_data(garbage, pair.now)
    assert len(events) == 1
    assert isinstance(events[0], PeerError)
    nack = pair.esme.data_to_send()
    assert HEADER.unpack(nack) == (16, CommandId.GENERIC_NACK, st.ESME_RINVCMDID, 31)
    assert pair.esme.bound


def test_huge_command_length_nacks_and_closes_without_allocating() -> None:
    pair = Pair()
    pair.bind()
    events = pair.esme.receive_data(HEADER.pack(0x7FFFFFFF, 4, 0, 1), pair.now)
    assert len(events) == 1
    assert isinstance(events[0], Closed)
    assert events[0].reason is CloseReason.PROTOCOL
    nack = pair.esme.data_to_send()
    assert HEADER.unpack(nack)[1:3] == (CommandId.GENERIC_NACK, st.ESME_RINVCMDLEN)


def test_generic_nack_for_a_submit_answers_it_with_that_status() -> None:
    pair = Pair()
    pair.bind()
    seq = submit(pair)
    pair.esme.data_to_send()
    events = pair.esme.receive_data(
        encode_bare(CommandId.GENERIC_NACK, seq, st.ESME_RINVCMDLEN), pair.now
    )
    assert events == [SubmitAnswered(sequence=seq, status=st.ESME_RINVCMDLEN, message_id="")]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "without a message_id"),
        (b"\x00", "without a message_id"),
        (b"A" * 65 + b"\x00", "message_id of 65 octets (SMPP 3.4 allows 64)"),
        (b"abc", "message_id of 3 octets without its NUL"),
    ],
    ids=["no-body", "empty", "65-octets", "unterminated"],
)
def test_an_ok_answer_without_a_usable_message_id_is_the_peers_error(
    body: bytes,
    detail: str,
) -> None:
    pair = Pair()
    pair.bind()
    seq = submit(pair)
    pair.to_smsc()
    pair.smsc.data_to_send()  # the simulator's own answer is replaced by this one
    resp = HEADER.pack(16 + len(body), CommandId.SUBMIT_SM_RESP, st.ESME_ROK, seq) + body
    [event] = pair.esme.receive_data(resp, pair.now)
    assert isinstance(event, SubmitMisanswered)
    assert event.sequence == seq
    assert detail in event.detail
    assert pair.esme.in_flight == 0  # answered: no timeout follows


def test_a_64_octet_message_id_and_an_error_without_one_are_answers() -> None:
    pair = Pair()
    pair.bind()
    ok, refused = submit(pair), submit(pair)
    pair.to_smsc()
    pair.smsc.data_to_send()
    events = pair.esme.receive_data(
        HEADER.pack(16 + 65, CommandId.SUBMIT_SM_RESP, st.ESME_ROK, ok)
        + b"7" * 64
        + b"\x00"
        + HEADER.pack(16, CommandId.SUBMIT_SM_RESP, st.ESME_RINVDSTADR, refused),
        pair.now,
    )
    assert events == [
        SubmitAnswered(sequence=ok, status=st.ESME_ROK, message_id="7" * 64),
        SubmitAnswered(sequence=refused, status=st.ESME_RINVDSTADR, message_id=""),
    ]


def test_simulator_answers_garbage_to_a_share_of_submits() -> None:
    pair = Pair(sim=SimConfig(garbage_share=1.0))
    pair.bind()
    submit(pair)
    events = pair.exchange()
    assert [type(e) for e in events] == [PeerError]
    assert pair.esme.in_flight == 1  # left to its response timeout


def test_connection_lost_returns_unanswered_sequences() -> None:
    pair = Pair()
    pair.bind()
    seqs = [submit(pair), submit(pair)]
    assert pair.esme.connection_lost() == seqs
    assert pair.esme.in_flight == 0
    assert pair.esme.get_timer() is None


def test_sequence_numbers_wrap_before_the_sign_bit() -> None:
    assert next_sequence(0x7FFFFFFE) == 0x7FFFFFFF
    assert next_sequence(0x7FFFFFFF) == 1  # never 0, never the sign bit
    pair = Pair()
    pair.bind()  # bind_transceiver took sequence 1
    assert (submit(pair), submit(pair)) == (next_sequence(1), next_sequence(2))


def test_deliver_sm_from_smsc_keeps_fields() -> None:
    pair = Pair()
    pair.bind()
    pdu = ShortMessage(
        command_id=CommandId.DELIVER_SM,
        sequence=0,
        source_addr="336",
        destination_addr="12345",
        short_message=b"hi",
    )
    pair.smsc.deliver(pair.now, pdu)
    events = pair.to_esme()
    assert len(events) == 1
    assert isinstance(events[0], DeliverReceived)
    got = events[0].pdu
    assert isinstance(got, ShortMessage)
    assert (got.source_addr, got.destination_addr, got.short_message) == ("336", "12345", b"hi")
    [sent] = pair.smsc.unacknowledged()  # the deliver_sm as the SMSC sent it
    assert decode(sent) == got
