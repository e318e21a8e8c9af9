"""The SMSC side of one SMPP 3.4 connection, sans-IO: bytes and ``now`` in, events and bytes out.

The asyncio server (drivers/smpp/server/connection.py) feeds ``receive_data``
and answers the events: BindRequested with ``accept_bind`` / ``refuse_bind``,
SubmitReceived / QueryReceived / CancelReceived with ``answer_*`` in any
order; ``deliver`` sends a deliver_sm (DeliverAnswered / DeliverExpired
follow). The session decides nothing about credentials or messages: it checks
the protocol (bind state, window, PDU layout, command_length bounds) and hands
the rest up. States: :mod:`drivers.smpp.protocol.server_states`. Requests
beyond the window are answered ESME_RTHROTTLED at once; unknown commands and
unreadable PDUs get a generic_nack; a command_length outside 16..max_pdu
closes the session (the stream cannot be resynchronised), and so does one
above MAX_UNBOUND_PDU before the bind is accepted (a bind is at most ~100
octets: a stranger holds no 70 kB buffer, and bytes that are no PDU are
refused at once instead of being waited for until the bind timeout). Timers are data
(``get_timer`` / ``handle_timer``): the bind timeout, the inactivity timeout,
an enquire_link of our own after ``enquire_link`` seconds of silence, one
deadline per deliver_sm.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from drivers.smpp.protocol import status as st
from drivers.smpp.protocol.decode import CommandLengthError, FrameSplitter, MalformedPdu, decode
from drivers.smpp.protocol.inflight import InFlight
from drivers.smpp.protocol.pdu import (
    BIND_COMMANDS,
    DEFAULT_MAX_PDU,
    HEADER,
    HEADER_LEN,
    RESPONSE_BIT,
    Bind,
    BindResp,
    CancelSm,
    CommandId,
    DataSm,
    Pdu,
    QueryResp,
    QuerySm,
    ShortMessage,
    encode,
    encode_bare,
    encode_message_resp,
    submit_sm_body,
)
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
from drivers.smpp.protocol.session import next_sequence
from drivers.smpp.protocol.states import BindMode
from gateway.model.errors import LocalProtocolError

# the longest PDU taken before the bind is accepted: a bind_* is at most 98 octets
# (SMPP 3.4 4.1), enquire_link and unbind 16
MAX_UNBOUND_PDU = 1024
_MODES = {mode.command_id: mode for mode in BindMode}
# the answer each request the ESME may send gets
_ANSWERS = {
    CommandId.SUBMIT_SM: CommandId.SUBMIT_SM_RESP,
    CommandId.DATA_SM: CommandId.DATA_SM_RESP,
    CommandId.QUERY_SM: CommandId.QUERY_SM_RESP,
    CommandId.CANCEL_SM: CommandId.CANCEL_SM_RESP,
}


class ServerSession:
    """One ESME's connection as the SMSC (smsgw's SMPP server) sees it."""

    def __init__(
        self,
        *,
        window: int = 64,
        inactivity_timeout: float = 120.0,
        enquire_link: float = 30.0,
        bind_timeout: float = 30.0,
        response_timeout: float = 30.0,
        system_id: str = "smsgw",
        max_pdu: int = DEFAULT_MAX_PDU,
    ) -> None:
        self.window = window
        self.inactivity_timeout = inactivity_timeout
        self.enquire_link = enquire_link
        self.response_timeout = response_timeout
        self.system_id = system_id
        self.state = ServerState.OPEN
        self.mode: BindMode | None = None
        self._max_pdu = max_pdu
        self._frames = FrameSplitter(max_pdu=min(max_pdu, MAX_UNBOUND_PDU))
        self._out: list[bytes] = []
        self._seq = 0
        self._pending: dict[int, CommandId] = {}  # the ESME's requests awaiting our answer
        self._bind_seq: int | None = None
        self._delivers = InFlight()  # our deliver_sm awaiting their answer
        self._control_seq = 0  # our enquire_link / unbind awaiting its answer
        self._control_deadline: float | None = None
        self._bind_deadline: float | None = bind_timeout
        self._started: float | None = None
        self._last_rx: float | None = None
        self._unbind_seq: int | None = None  # the ESME's unbind, answered once _pending empties

    # --- queries -----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.state is ServerState.CLOSED

    @property
    def can_deliver(self) -> bool:
        return (
            self.state is ServerState.BOUND
            and self.mode is not None
            and self.mode is not BindMode.TRANSMITTER
            and len(self._delivers) < self.window
        )

    def data_to_send(self) -> bytes:
        out = self._out
        if not out:
            return b""
        data = b"".join(out)
        out.clear()
        return data

    # --- answers to what the ESME asked ------------------------------------------

    def accept_bind(self, now: float, sequence: int) -> None:
        self._answer_bind(sequence, st.ESME_ROK)
        self.state = self.state.check(ServerState.BOUND)
        self._frames.max_pdu = self._max_pdu
        self._last_rx = now

    def refuse_bind(self, sequence: int, status: int) -> Closed:
        """Refuse the bind; the session is over (the caller closes after sending)."""
        self._answer_bind(sequence, status or st.ESME_RBINDFAIL)
        return self._close(CloseReason.BIND_REFUSED, st.status_name(status))

    def _answer_bind(self, sequence: int, status: int) -> None:
        if self.state is not ServerState.BINDING or sequence != self._bind_seq or not self.mode:
            msg = f"no bind with sequence {sequence} awaits an answer"
            raise LocalProtocolError(msg)
        self._bind_seq = None
        resp = CommandId(self.mode.command_id | RESPONSE_BIT)
        system_id = self.system_id if status == st.ESME_ROK else ""
        self._out.append(
            encode(BindResp(command_id=resp, sequence=sequence, status=status, system_id=system_id))
        )

    # each answer returns Closed when it was the last one an unbind of the ESME waited for

    def answer_submit(self, sequence: int, status: int, message_id: str = "") -> Closed | None:
        """submit_sm_resp / data_sm_resp; a message_id only with ESME_ROK."""
        command = self._take(sequence, (CommandId.SUBMIT_SM, CommandId.DATA_SM))
        if command is None:
            return None
        ident = message_id if status == st.ESME_ROK else ""
        self._out.append(encode_message_resp(_ANSWERS[command], sequence, status, ident))
        return self._maybe_finish_unbind()

    def answer_query(
        self, sequence: int, status: int, found: QueryResp | None = None
    ) -> Closed | None:
        """query_sm_resp: ``found`` (its sequence is set here) with ESME_ROK."""
        if self._take(sequence, (CommandId.QUERY_SM,)) is None:
            return None
        if status == st.ESME_ROK and found is not None:
            self._out.append(encode(dataclasses.replace(found, sequence=sequence)))
        else:
            self._out.append(
                encode_bare(CommandId.QUERY_SM_RESP, sequence, status or st.ESME_RQUERYFAIL)
            )
        return self._maybe_finish_unbind()

    def answer_cancel(self, sequence: int, status: int) -> Closed | None:
        if self._take(sequence, (CommandId.CANCEL_SM,)) is None:
            return None
        self._out.append(encode_bare(CommandId.CANCEL_SM_RESP, sequence, status))
        return self._maybe_finish_unbind()

    def _take(self, sequence: int, commands: tuple[CommandId, ...]) -> CommandId | None:
        """The request ``sequence`` was, now answered; None once the session closed."""
        if self.state is ServerState.CLOSED:
            return None
        command = self._pending.get(sequence)
        if command not in commands:
            msg = f"no {'/'.join(c.name.lower() for c in commands)} with sequence {sequence}"
            raise LocalProtocolError(msg)
        del self._pending[sequence]
        return command

    # --- what the server starts ----------------------------------------------------

    def deliver(self, now: float, **fields: Any) -> int:
        """Queue one deliver_sm (fields as :func:`submit_sm_body` takes them); its sequence."""
        if not self.can_deliver:
            msg = f"deliver_sm while {self.state.value} as {self.mode} with {len(self._delivers)}"
            raise LocalProtocolError(msg)
        body = submit_sm_body(**fields)
        self._seq = seq = next_sequence(self._seq)
        self._out.append(HEADER.pack(HEADER_LEN + len(body), CommandId.DELIVER_SM, 0, seq) + body)
        self._delivers.add(seq, now + self.response_timeout)
        return seq

    def unbind(self, now: float) -> None:
        """Ask the ESME to unbind; :class:`Closed` ("unbound") follows its answer or a timeout."""
        if self.state is not ServerState.BOUND:
            if self.state is not ServerState.CLOSING:
                self.state = self.state.check(ServerState.CLOSED)
            return
        self.state = self.state.check(ServerState.UNBINDING)
        self._seq = seq = next_sequence(self._seq)
        self._out.append(encode_bare(CommandId.UNBIND, seq))
        self._control_seq = seq
        self._control_deadline = now + self.response_timeout

    def connection_lost(self) -> list[int]:
        """The connection is gone: the deliver_sm sequences left unanswered."""
        self.state = self.state.check(ServerState.CLOSED)
        self._out.clear()
        self._pending.clear()
        return self._delivers.lost()

    # --- timers --------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The next moment :meth:`handle_timer` has something to do, or None."""
        if self.state is ServerState.CLOSED or self._started is None:
            return None
        if self.state is ServerState.OPEN and self._bind_deadline is not None:
            return self._started + self._bind_deadline
        last = self._last_rx if self._last_rx is not None else self._started
        timers = [last + self.inactivity_timeout]
        if self._control_deadline is not None:
            timers.append(self._control_deadline)
        elif self.state is ServerState.BOUND:
            timers.append(last + self.enquire_link)
        deliver = self._delivers.next_deadline()
        if deliver is not None:
            timers.append(deliver)
        return min(timers)

    def handle_timer(self, now: float) -> list[ServerEvent]:
        events: list[ServerEvent] = []
        if self.state is ServerState.CLOSED or self._started is None:
            return events
        if self.state is ServerState.OPEN and self._bind_deadline is not None:
            if now >= self._started + self._bind_deadline:
                detail = f"no bind within {self._bind_deadline:g}s"
                events.append(self._close(CloseReason.BIND_TIMEOUT, detail))
            return events
        if self._delivers.expire(now):
            events.extend(DeliverExpired(sequence=seq) for seq in self._delivers.heard())
        last = self._last_rx if self._last_rx is not None else self._started
        if now >= last + self.inactivity_timeout:
            detail = f"nothing heard for {self.inactivity_timeout:g}s"
            events.append(self._close(CloseReason.INACTIVE, detail))
        elif self._control_deadline is not None and now >= self._control_deadline:
            self._control_deadline = None
            if self.state is ServerState.UNBINDING:
                events.append(self._close(CloseReason.UNBOUND, "unbind unanswered"))
        elif self.state is ServerState.BOUND and now >= last + self.enquire_link:
            self._seq = seq = next_sequence(self._seq)
            self._out.append(encode_bare(CommandId.ENQUIRE_LINK, seq))
            self._control_seq = seq
            self._control_deadline = now + self.response_timeout
        return events

    # --- input ---------------------------------------------------------------------

    def _close(self, reason: CloseReason, detail: str = "") -> Closed:
        self.state = self.state.check(ServerState.CLOSED)
        return Closed(reason=reason, detail=detail)

    def connection_made(self, now: float) -> None:
        self._started = now

    def receive_data(self, data: bytes, now: float) -> list[ServerEvent]:
        """Feed bytes from the ESME; returns what happened, in order."""
        events: list[ServerEvent] = []
        if self.state is ServerState.CLOSED:
            return events
        if self._started is None:
            self._started = now
        self._last_rx = now
        try:
            frames = self._frames.feed(data)
        except CommandLengthError as exc:
            self._out.append(encode_bare(CommandId.GENERIC_NACK, 0, st.ESME_RINVCMDLEN))
            events.append(self._close(CloseReason.PROTOCOL, str(exc)))
            return events
        for frame in frames:
            self._frame(frame, now, events)
            if self.closed:
                break
        return events

    def _frame(self, frame: bytes, now: float, events: list[ServerEvent]) -> None:
        _, command_id, status, seq = HEADER.unpack_from(frame)
        try:
            pdu = decode(frame)
        except MalformedPdu as exc:
            events.append(PeerError(detail=str(exc)))
            if not command_id & RESPONSE_BIT:
                self._out.append(encode_bare(CommandId.GENERIC_NACK, seq, exc.status))
            return
        cid = pdu.command_id
        if cid in _ANSWERS:
            self._request(pdu, cid, seq, events)
        elif cid in BIND_COMMANDS:
            assert isinstance(pdu, Bind)  # noqa: S101 - narrowed by command_id
            self._bind(pdu, events)
        elif cid is CommandId.ENQUIRE_LINK:
            self._out.append(encode_bare(CommandId.ENQUIRE_LINK_RESP, seq))
        elif cid is CommandId.UNBIND:
            self._peer_unbind(seq, events)
        elif cid & RESPONSE_BIT:
            self._response(cid, seq, status, events)
        else:  # a request an SMSC does not take from an ESME (deliver_sm...)
            self._out.append(encode_bare(CommandId.GENERIC_NACK, seq, st.ESME_RINVCMDID))
            events.append(PeerError(detail=f"unexpected {cid.name.lower()} from the ESME"))

    def _bind(self, pdu: Bind, events: list[ServerEvent]) -> None:
        if self.state is not ServerState.OPEN:
            status = st.ESME_RALYBND if self.state is ServerState.BOUND else st.ESME_RINVBNDSTS
            resp = CommandId(pdu.command_id | RESPONSE_BIT)
            self._out.append(encode_bare(resp, pdu.sequence, status))
            return
        self.state = self.state.check(ServerState.BINDING)
        self.mode = _MODES[pdu.command_id]
        self._bind_seq = pdu.sequence
        events.append(
            BindRequested(
                sequence=pdu.sequence,
                mode=self.mode,
                system_id=pdu.system_id,
                password=pdu.password,
                system_type=pdu.system_type,
                interface_version=pdu.interface_version,
            )
        )

    def _request(self, pdu: Pdu, cid: CommandId, seq: int, events: list[ServerEvent]) -> None:
        answer = _ANSWERS[cid]
        submits = cid is CommandId.SUBMIT_SM or cid is CommandId.DATA_SM
        if not self.state.takes_requests or (
            submits and self.mode is BindMode.RECEIVER
        ):  # not bound, or bound as a receiver
            self._out.append(encode_bare(answer, seq, st.ESME_RINVBNDSTS))
            return
        if seq in self._pending or len(self._pending) >= self.window:
            self._out.append(encode_bare(answer, seq, st.ESME_RTHROTTLED))
            events.append(WindowFull(sequence=seq))
            return
        self._pending[seq] = cid
        if isinstance(pdu, ShortMessage | DataSm):
            events.append(SubmitReceived(pdu=pdu))
        elif isinstance(pdu, QuerySm):
            events.append(QueryReceived(pdu=pdu))
        elif isinstance(pdu, CancelSm):
            events.append(CancelReceived(pdu=pdu))

    def _peer_unbind(self, seq: int, events: list[ServerEvent]) -> None:
        if self.state is ServerState.BOUND:
            self.state = self.state.check(ServerState.CLOSING)
            self._unbind_seq = seq
            closed = self._maybe_finish_unbind()
            if closed is not None:
                events.append(closed)
        elif self.state is ServerState.UNBINDING:  # both unbound at once
            self._out.append(encode_bare(CommandId.UNBIND_RESP, seq))
            events.append(self._close(CloseReason.UNBOUND, "unbound both ways"))
        else:
            self._out.append(encode_bare(CommandId.UNBIND_RESP, seq, st.ESME_RINVBNDSTS))
            events.append(self._close(CloseReason.UNBIND_REQUESTED, "unbind before a bind"))

    def _maybe_finish_unbind(self) -> Closed | None:
        """Answer the ESME's unbind once every request it sent before has its answer."""
        if self.state is not ServerState.CLOSING or self._pending or self._unbind_seq is None:
            return None
        self._out.append(encode_bare(CommandId.UNBIND_RESP, self._unbind_seq))
        self._unbind_seq = None
        return self._close(CloseReason.UNBIND_REQUESTED, "the ESME unbound")

    def _response(self, cid: CommandId, seq: int, status: int, events: list[ServerEvent]) -> None:
        delivers = cid is CommandId.DELIVER_SM_RESP or cid is CommandId.GENERIC_NACK
        if delivers and self._delivers.pending.pop(seq, None) is not None:
            answered = status or (st.ESME_RSYSERR if cid is CommandId.GENERIC_NACK else 0)
            events.append(DeliverAnswered(sequence=seq, status=answered))
            return
        if seq == self._control_seq and self._control_deadline is not None:
            self._control_deadline = None
            if self.state is ServerState.UNBINDING and cid in (
                CommandId.UNBIND_RESP,
                CommandId.GENERIC_NACK,
            ):
                events.append(self._close(CloseReason.UNBOUND, "unbind answered"))
            return
        if cid is CommandId.GENERIC_NACK:
            events.append(PeerError(detail=f"generic_nack {st.status_name(status)} seq {seq}"))
        # otherwise a late answer to something that already timed out
