"""The SMSC-side server session as a peer pair with the ESME session: no sockets, time as data."""

from __future__ import annotations

import pytest

from drivers.smpp.protocol import status as st
from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.decode import decode
from drivers.smpp.protocol.events import Bound, DeliverReceived, Event, SubmitAnswered
from drivers.smpp.protocol.events import Closed as EsmeClosed
from drivers.smpp.protocol.events import CloseReason as EsmeCloseReason
from drivers.smpp.protocol.pdu import (
    HEADER,
    Bare,
    CancelSm,
    CommandId,
    DataSm,
    MessageResp,
    QueryResp,
    QuerySm,
    encode,
    encode_bare,
    encode_submit_sm,
)
from drivers.smpp.protocol.server import MAX_UNBOUND_PDU, ServerSession
from drivers.smpp.protocol.server_events import (
    BindRequested,
    CancelReceived,
    Closed,
    CloseReason,
    DeliverAnswered,
    DeliverExpired,
    PeerError,
    QueryReceived,
    ServerEvent,
    SubmitReceived,
    WindowFull,
)
from drivers.smpp.protocol.server_states import ServerState
from drivers.smpp.protocol.session import EsmeSession
from drivers.smpp.protocol.states import BindMode
from gateway.model.errors import LocalProtocolError


class Pair:
    def __init__(self, *, bind: BindMode = BindMode.TRANSCEIVER, window: int = 4) -> None:
        self.now = 1000.0
        self.esme = EsmeSession(
            system_id="acme", password="secret", bind=bind, window=8, enquire_link=1000.0
        )
        self.server = ServerSession(window=window, inactivity_timeout=60.0, enquire_link=20.0)
        self.server.connection_made(self.now)

    def to_server(self) -> list[ServerEvent]:
        return self.server.receive_data(self.esme.data_to_send(), self.now)

    def to_esme(self) -> list[Event]:
        data = self.server.data_to_send()
        return self.esme.receive_data(data, self.now) if data else []

    def bind(self) -> None:
        self.esme.connection_made(self.now)
        events = self.to_server()
        assert len(events) == 1
        request = events[0]
        assert isinstance(request, BindRequested)
        self.server.accept_bind(self.now, request.sequence)
        assert self.to_esme() == [Bound(system_id="smsgw")]


def test_bind_is_decided_by_the_caller_and_hides_the_password() -> None:
    pair = Pair()
    pair.esme.connection_made(pair.now)
    [request] = pair.to_server()
    assert isinstance(request, BindRequested)
    assert (request.system_id, request.password, request.mode) == (
        "acme",
        "secret",
        BindMode.TRANSCEIVER,
    )
    assert "secret" not in repr(request)
    assert pair.server.state.value == "binding"
    assert pair.to_esme() == []  # nothing answered until decided
    pair.server.accept_bind(pair.now, request.sequence)
    assert pair.to_esme() == [Bound(system_id="smsgw")]
    assert pair.server.state is ServerState.BOUND


def test_refused_bind_closes_with_the_status() -> None:
    pair = Pair()
    pair.esme.connection_made(pair.now)
    [request] = pair.to_server()
    assert isinstance(request, BindRequested)
    closed = pair.server.refuse_bind(request.sequence, st.ESME_RINVPASWD)
    assert closed.reason is CloseReason.BIND_REFUSED
    [event] = pair.to_esme()
    assert isinstance(event, EsmeClosed)
    assert event.status == st.ESME_RINVPASWD


def test_submits_are_answered_out_of_order() -> None:
    pair = Pair()
    pair.bind()
    first = pair.esme.submit(pair.now, destination_addr="33612345678", short_message=b"one")
    second = pair.esme.submit(pair.now, destination_addr="33612345679", short_message=b"two")
    events = pair.to_server()
    assert [type(e) for e in events] == [SubmitReceived, SubmitReceived]
    assert isinstance(events[1], SubmitReceived)
    assert events[1].pdu.destination_addr == "33612345679"
    pair.server.answer_submit(second, st.ESME_ROK, "m2")
    pair.server.answer_submit(first, st.ESME_RINVDSTADR, "ignored")
    assert pair.to_esme() == [
        SubmitAnswered(sequence=second, status=0, message_id="m2"),
        SubmitAnswered(sequence=first, status=st.ESME_RINVDSTADR, message_id=""),
    ]
    with pytest.raises(LocalProtocolError):
        pair.server.answer_submit(first, st.ESME_ROK, "again")


def test_requests_beyond_the_window_are_throttled() -> None:
    pair = Pair(window=2)
    pair.bind()
    seqs = [pair.esme.submit(pair.now, destination_addr="336", short_message=b"x") for _ in "abc"]
    events = pair.to_server()
    assert [type(e) for e in events] == [SubmitReceived, SubmitReceived, WindowFull]
    assert pair.to_esme() == [
        SubmitAnswered(sequence=seqs[2], status=st.ESME_RTHROTTLED, message_id="")
    ]


def test_receiver_may_not_submit_and_unbound_may_not_either() -> None:
    server = ServerSession()
    submit = encode_raw_submit(7)
    server.receive_data(submit, 0.0)
    resp = decode(server.data_to_send())
    assert isinstance(resp, MessageResp)
    assert resp.status == st.ESME_RINVBNDSTS
    pair = Pair(bind=BindMode.RECEIVER)
    pair.bind()
    pair.server.receive_data(encode_raw_submit(9), pair.now)
    resp = decode(pair.server.data_to_send())
    assert isinstance(resp, MessageResp)
    assert (resp.sequence, resp.status) == (9, st.ESME_RINVBNDSTS)


def encode_raw_submit(seq: int) -> bytes:
    return encode_submit_sm(seq, destination_addr="336", short_message=b"x")


def test_query_and_cancel_are_decoded_and_answered() -> None:
    pair = Pair()
    pair.bind()
    query = QuerySm(sequence=40, message_id="abc", source_addr="ACME")
    cancel = CancelSm(sequence=41, message_id="abd", destination_addr="336")
    events = pair.server.receive_data(encode(query) + encode(cancel), pair.now)
    assert events == [QueryReceived(pdu=query), CancelReceived(pdu=cancel)]
    pair.server.answer_cancel(41, st.ESME_RCANCELFAIL)
    pair.server.answer_query(
        40, st.ESME_ROK, QueryResp(sequence=0, message_id="abc", message_state=1)
    )
    out = pair.server.data_to_send()
    first_len = HEADER.unpack_from(out)[0]
    assert decode(out[:first_len]) == Bare(
        command_id=CommandId.CANCEL_SM_RESP, sequence=41, status=st.ESME_RCANCELFAIL
    )
    assert decode(out[first_len:]) == QueryResp(sequence=40, message_id="abc", message_state=1)


def test_unknown_command_and_bad_pdu_get_generic_nack() -> None:
    pair = Pair()
    pair.bind()
    unknown = HEADER.pack(16, 0x00000021, 0, 5)  # submit_multi: not taken
    broken = HEADER.pack(20, CommandId.SUBMIT_SM, 0, 6) + b"abcd"  # no NULs
    events = pair.server.receive_data(unknown + broken, pair.now)
    assert [type(e) for e in events] == [PeerError, PeerError]
    out = pair.server.data_to_send()
    assert decode(out[:16]) == Bare(
        command_id=CommandId.GENERIC_NACK, sequence=5, status=st.ESME_RINVCMDID
    )
    assert decode(out[16:]) == Bare(
        command_id=CommandId.GENERIC_NACK, sequence=6, status=st.ESME_RINVCMDLEN
    )
    assert pair.server.state is ServerState.BOUND


@pytest.mark.parametrize("length", [8, 1 << 20])
def test_command_length_out_of_bounds_closes(length: int) -> None:
    server = ServerSession()
    [event] = server.receive_data(length.to_bytes(4, "big") + b"\x00" * 12, 0.0)
    assert isinstance(event, Closed)
    assert event.reason is CloseReason.PROTOCOL
    assert decode(server.data_to_send()).status == st.ESME_RINVCMDLEN


def test_before_the_bind_only_short_pdus_are_taken() -> None:
    claim = (MAX_UNBOUND_PDU + 1).to_bytes(4, "big") + b"\x00\x00\x00\x04" + b"\x00" * 8
    server = ServerSession()
    [event] = server.receive_data(claim, 0.0)  # not waited for: refused at once
    assert isinstance(event, Closed)
    assert event.reason is CloseReason.PROTOCOL
    assert decode(server.data_to_send()).status == st.ESME_RINVCMDLEN
    pair = Pair()
    pair.bind()
    payload = tlv.encode_tlvs([(tlv.MESSAGE_PAYLOAD, b"x" * 20_000)])  # far above, once bound
    pair.esme.submit(pair.now, destination_addr="33612345678", tlvs=payload)
    [submit] = pair.to_server()
    assert isinstance(submit, SubmitReceived)


def test_enquire_link_both_ways_and_inactivity() -> None:
    pair = Pair()
    pair.bind()
    pair.server.receive_data(encode_bare(CommandId.ENQUIRE_LINK, 77), pair.now)
    assert decode(pair.server.data_to_send()) == Bare(
        command_id=CommandId.ENQUIRE_LINK_RESP, sequence=77
    )
    timer = pair.server.get_timer()
    assert timer == pair.now + 20.0
    pair.now = timer
    assert pair.server.handle_timer(pair.now) == []
    assert pair.to_esme() == []  # the ESME answered our enquire_link...
    assert pair.to_server() == []  # ...and the server took the answer
    pair.now += 60.0
    [event] = pair.server.handle_timer(pair.now)
    assert isinstance(event, Closed)
    assert event.reason is CloseReason.INACTIVE


def test_no_bind_in_time_closes() -> None:
    server = ServerSession(bind_timeout=5.0)
    server.connection_made(10.0)
    assert server.get_timer() == 15.0
    [event] = server.handle_timer(15.0)
    assert isinstance(event, Closed)
    assert event.reason is CloseReason.BIND_TIMEOUT


def test_deliver_sm_tracked_answered_and_expired() -> None:
    pair = Pair()
    pair.bind()
    seq = pair.server.deliver(pair.now, source_addr="33612345678", short_message=b"hi", tlvs=b"")
    [received] = pair.to_esme()
    assert isinstance(received, DeliverReceived)
    pair.esme.respond(received.pdu)
    assert pair.to_server() == [DeliverAnswered(sequence=seq, status=0)]
    late = pair.server.deliver(pair.now, source_addr="336", short_message=b"x")
    pair.now += 31.0
    assert DeliverExpired(sequence=late) in pair.server.handle_timer(pair.now)


def test_transmitter_gets_no_deliver_sm() -> None:
    pair = Pair(bind=BindMode.TRANSMITTER)
    pair.bind()
    assert not pair.server.can_deliver
    with pytest.raises(LocalProtocolError):
        pair.server.deliver(pair.now, source_addr="336", short_message=b"x")


def test_esme_unbind_waits_for_pending_answers() -> None:
    pair = Pair()
    pair.bind()
    seq = pair.esme.submit(pair.now, destination_addr="336", short_message=b"x")
    pair.to_server()
    pair.esme.unbind(pair.now)
    assert pair.to_server() == []
    assert pair.server.state is ServerState.CLOSING
    closed = pair.server.answer_submit(seq, st.ESME_ROK, "m1")
    assert closed is not None
    assert closed.reason is CloseReason.UNBIND_REQUESTED
    events = pair.to_esme()
    assert events[0] == SubmitAnswered(sequence=seq, status=0, message_id="m1")
    assert isinstance(events[1], EsmeClosed)
    assert events[1].reason is EsmeCloseReason.UNBOUND


def test_server_unbind_is_answered() -> None:
    pair = Pair()
    pair.bind()
    pair.server.unbind(pair.now)
    [event] = pair.to_esme()
    assert isinstance(event, EsmeClosed)
    assert event.reason is EsmeCloseReason.UNBIND_REQUESTED
    [closed] = pair.to_server()
    assert closed == Closed(reason=CloseReason.UNBOUND, detail="unbind answered")


def test_long_text_rides_in_message_payload() -> None:
    pair = Pair()
    pair.bind()
    text = b"x" * 600
    pair.esme.submit(
        pair.now, destination_addr="336", tlvs=tlv.encode_tlvs([(tlv.MESSAGE_PAYLOAD, text)])
    )
    [event] = pair.to_server()
    assert isinstance(event, SubmitReceived)
    assert tlv.find(event.pdu.tlvs, tlv.MESSAGE_PAYLOAD) == text


def test_data_sm_is_a_submit_answered_with_data_sm_resp() -> None:
    pair = Pair()
    pair.bind()
    pdu = DataSm(sequence=31, destination_addr="33612345678", dest_addr_ton=1)
    [event] = pair.server.receive_data(encode(pdu), pair.now)
    assert isinstance(event, SubmitReceived)
    pair.server.answer_submit(31, st.ESME_ROK, "d1")
    assert decode(pair.server.data_to_send()) == MessageResp(
        command_id=CommandId.DATA_SM_RESP, sequence=31, message_id="d1"
    )
