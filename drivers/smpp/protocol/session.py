"""The ESME side of one SMPP 3.4 connection, sans-IO (bytes and ``now`` in, events and bytes out).

Usage, as the asyncio link does it::

    s = EsmeSession(system_id="gw", password="pw", bind=BindMode.TRANSCEIVER, window=64)
    s.connection_made(now)                 # queues bind_*
    transport.write(s.data_to_send())
    for event in s.receive_data(data, now): ...
    seq = s.submit(now, destination_addr="336...", short_message=b"...")
    deadline = s.get_timer(); events = s.handle_timer(now)

Timers are data: the bind timeout, one response deadline per request, the
enquire_link sent after ``enquire_link`` seconds without traffic and the
dead-link verdict when that goes unanswered.

A submit_sm left unanswered is a sign the SMSC may have gone silent while the
connection stays open. The session sends an enquire_link at once, and reports
the submit (:class:`SubmitExpired`) only when it hears from the SMSC again: if
it never does, the session closes ("dead") and the caller answers the submit
as the connection's loss, so it goes out again on another session, never on
the silent one. ``dead_after_timeouts`` submits unanswered in a row, with no
answer to a submit_sm nor a deliver_sm in between, close the session too. The
session answers the SMSC's
enquire_link and unbind itself; deliver_sm/data_sm are handed up as
:class:`DeliverReceived` and answered by :meth:`respond` once the caller has
stored what they carry.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Any

from drivers.smpp.protocol import status as st
from drivers.smpp.protocol.decode import CommandLengthError, FrameSplitter, MalformedPdu, decode
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
    DEFAULT_MAX_PDU,
    HEADER,
    HEADER_LEN,
    RESPONSE_BIT,
    Bind,
    CommandId,
    DataSm,
    ShortMessage,
    encode,
    encode_bare,
    encode_message_resp,
    submit_sm_body,
)
from gateway.model.errors import LocalProtocolError

__all__ = [
    "BindMode",
    "Bound",
    "CloseReason",
    "Closed",
    "DeliverReceived",
    "EsmeSession",
    "Event",
    "PeerError",
    "SessionState",
    "SubmitAnswered",
    "SubmitExpired",
    "SubmitMisanswered",
]

MAX_SEQUENCE = 0x7FFFFFFF
MAX_MESSAGE_ID = 64  # octets of a message_id, its NUL not counted (SMPP 3.4 section 4.4.2)
_SUBMIT_SM = int(CommandId.SUBMIT_SM)
_SUBMIT_SM_RESP = int(CommandId.SUBMIT_SM_RESP)
_GENERIC_NACK = int(CommandId.GENERIC_NACK)


class BindMode(enum.Enum):
    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"

    @property
    def command_id(self) -> CommandId:
        return _BIND_IDS[self]

    @property
    def can_submit(self) -> bool:
        return self is not BindMode.RECEIVER


_BIND_IDS = {
    BindMode.TRANSMITTER: CommandId.BIND_TRANSMITTER,
    BindMode.RECEIVER: CommandId.BIND_RECEIVER,
    BindMode.TRANSCEIVER: CommandId.BIND_TRANSCEIVER,
}


class SessionState(enum.Enum):
    IDLE = "idle"  # no connection yet
    BINDING = "binding"
    BOUND = "bound"
    UNBINDING = "unbinding"  # we sent unbind
    CLOSED = "closed"  # over: the caller closes the connection

    def check(self, target: SessionState) -> SessionState:
        if target not in _TRANSITIONS[self]:
            msg = f"SMPP session: illegal transition {self.value} -> {target.value}"
            raise LocalProtocolError(msg)
        return target


_S = SessionState
_TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    _S.IDLE: frozenset({_S.BINDING, _S.CLOSED}),
    _S.BINDING: frozenset({_S.BOUND, _S.CLOSED}),
    _S.BOUND: frozenset({_S.UNBINDING, _S.CLOSED}),
    _S.UNBINDING: frozenset({_S.CLOSED}),
    _S.CLOSED: frozenset({_S.CLOSED}),
}


class EsmeSession:
    """One connection's SMPP state machine on the ESME (client) side."""

    def __init__(
        self,
        *,
        system_id: str,
        password: str,
        bind: BindMode = BindMode.TRANSCEIVER,
        system_type: str = "",
        addr_ton: int = 0,
        addr_npi: int = 0,
        address_range: str = "",
        window: int = 64,
        response_timeout: float = 30.0,
        bind_timeout: float = 30.0,
        enquire_link: float = 30.0,
        dead_after_timeouts: int = 3,
        max_pdu: int = DEFAULT_MAX_PDU,
    ) -> None:
        self._bind_pdu = Bind(
            command_id=bind.command_id,
            sequence=0,
            system_id=system_id,
            password=password,
            system_type=system_type,
            addr_ton=addr_ton,
            addr_npi=addr_npi,
            address_range=address_range,
        )
        self.mode = bind
        self.window = window
        self.response_timeout = response_timeout
        self.bind_timeout = bind_timeout
        self.enquire_link = enquire_link
        self.dead_after_timeouts = dead_after_timeouts
        self.state = SessionState.IDLE
        self._frames = FrameSplitter(max_pdu=max_pdu)
        self._out: list[bytes] = []
        self._seq = 0
        self._pending: dict[int, float] = {}  # submit sequence -> deadline
        self._deadlines: deque[tuple[float, int]] = deque()
        self._control_seq = 0  # bind / enquire_link / unbind awaiting an answer
        self._control_deadline: float | None = None
        self._last_rx = 0.0
        self._timeouts = 0  # submits unanswered in a row, no submit/deliver answer since
        self._expired: list[int] = []  # unanswered submits, reported once the SMSC is heard
        self.peer_system_id = ""

    # --- queries -----------------------------------------------------------------

    @property
    def bound(self) -> bool:
        return self.state is SessionState.BOUND

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def can_submit(self) -> bool:
        return (
            self.state is SessionState.BOUND
            and self.mode.can_submit
            and len(self._pending) < self.window
        )

    def pending_sequences(self) -> list[int]:
        return list(self._pending)

    def data_to_send(self) -> bytes:
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    # --- actions -----------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq = 1 if self._seq >= MAX_SEQUENCE else self._seq + 1
        return self._seq

    def connection_made(self, now: float) -> None:
        self.state = self.state.check(SessionState.BINDING)
        seq = self._next_seq()
        b = self._bind_pdu
        self._out.append(
            encode(
                Bind(
                    command_id=b.command_id,
                    sequence=seq,
                    system_id=b.system_id,
                    password=b.password,
                    system_type=b.system_type,
                    addr_ton=b.addr_ton,
                    addr_npi=b.addr_npi,
                    address_range=b.address_range,
                )
            )
        )
        self._control_seq = seq
        self._control_deadline = now + self.bind_timeout
        self._last_rx = now

    def submit(self, now: float, **fields: Any) -> int:
        """Queue one submit_sm (fields as :func:`submit_sm_body` takes them); its sequence."""
        return self.submit_body(now, submit_sm_body(**fields))

    def submit_body(self, now: float, body: bytes) -> int:
        """Queue one submit_sm whose body is already encoded; its sequence."""
        if self.state is not SessionState.BOUND or not self.mode.can_submit:
            msg = f"submit_sm while {self.state.value} as {self.mode.value}"
            raise LocalProtocolError(msg)
        if len(self._pending) >= self.window:
            msg = f"submit_sm beyond the window of {self.window}"
            raise LocalProtocolError(msg)
        seq = self._next_seq()
        self._out.append(HEADER.pack(HEADER_LEN + len(body), _SUBMIT_SM, 0, seq) + body)
        deadline = now + self.response_timeout
        self._pending[seq] = deadline
        self._deadlines.append((deadline, seq))
        return seq

    def respond(self, pdu: ShortMessage | DataSm, status: int = st.ESME_ROK) -> None:
        """Answer a deliver_sm/data_sm handed up by :class:`DeliverReceived`."""
        if self.state is SessionState.CLOSED:
            return
        command = (
            CommandId.DATA_SM_RESP
            if pdu.command_id is CommandId.DATA_SM
            else CommandId.DELIVER_SM_RESP
        )
        self._out.append(encode_message_resp(command, pdu.sequence, status, ""))

    def unbind(self, now: float) -> None:
        """Start a clean unbind; :class:`Closed` ("unbound") follows its answer or timeout."""
        if self.state is not SessionState.BOUND:
            self.state = self.state.check(SessionState.CLOSED)
            return
        self.state = self.state.check(SessionState.UNBINDING)
        seq = self._next_seq()
        self._out.append(encode_bare(CommandId.UNBIND, seq))
        self._control_seq = seq
        self._control_deadline = now + self.response_timeout

    def connection_lost(self) -> list[int]:
        """The connection is gone; returns the submit sequences left unanswered
        (those past their deadline and not yet reported included)."""
        self.state = self.state.check(SessionState.CLOSED)
        lost = [*self._expired, *self._pending]
        self._expired.clear()
        self._pending.clear()
        self._deadlines.clear()
        self._out.clear()
        return lost

    # --- timers ------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The next moment :meth:`handle_timer` has something to do, or None."""
        if self.state is SessionState.CLOSED or self.state is SessionState.IDLE:
            return None
        deadlines, pending = self._deadlines, self._pending
        while deadlines and deadlines[0][1] not in pending:
            deadlines.popleft()
        timer = self._control_deadline
        if deadlines and (timer is None or deadlines[0][0] < timer):
            timer = deadlines[0][0]
        if self.state is SessionState.BOUND and self._control_deadline is None:
            idle = self._last_rx + self.enquire_link
            if timer is None or idle < timer:
                timer = idle
        return timer

    def handle_timer(self, now: float) -> list[Event]:
        events: list[Event] = []
        if self.state is SessionState.CLOSED:
            return events
        deadlines, pending = self._deadlines, self._pending
        expired = False
        while deadlines and deadlines[0][0] <= now:
            _, seq = deadlines.popleft()
            if pending.pop(seq, None) is not None:
                self._expired.append(seq)  # reported once the SMSC is heard from
                self._timeouts += 1
                expired = True
        if expired and self.state is SessionState.BOUND:
            if self._timeouts >= self.dead_after_timeouts:
                detail = (
                    f"{self._timeouts} submit_sm unanswered in a row, "
                    f"after {self.response_timeout:g}s each"
                )
                events.append(self._close(CloseReason.DEAD, detail))
                return events
            if self._control_deadline is None:  # is anyone there? ask now
                self._send_enquire_link(now)
        if self._control_deadline is not None and self._control_deadline <= now:
            self._control_deadline = None
            if self.state is SessionState.BINDING:
                detail = f"bind unanswered after {self.bind_timeout:g}s"
                events.append(self._close(CloseReason.BIND_FAILED, detail))
            elif self.state is SessionState.UNBINDING:
                detail = f"unbind unanswered after {self.response_timeout:g}s"
                events.append(self._close(CloseReason.UNBOUND, detail))
            else:
                detail = f"enquire_link unanswered after {self.response_timeout:g}s"
                events.append(self._close(CloseReason.DEAD, detail))
            return events
        if (
            self.state is SessionState.BOUND
            and self._control_deadline is None
            and now >= self._last_rx + self.enquire_link
        ):
            self._send_enquire_link(now)
        return events

    def _send_enquire_link(self, now: float) -> None:
        seq = self._next_seq()
        self._out.append(encode_bare(CommandId.ENQUIRE_LINK, seq))
        self._control_seq = seq
        self._control_deadline = now + self.response_timeout

    # --- input -------------------------------------------------------------------

    def _close(self, reason: CloseReason, detail: str = "", status: int | None = None) -> Closed:
        self.state = self.state.check(SessionState.CLOSED)
        return Closed(reason=reason, detail=detail, status=status)

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Feed bytes from the SMSC; returns what happened, in order."""
        events: list[Event] = []
        if self.state is SessionState.CLOSED:
            return events
        self._last_rx = now
        try:
            frames = self._frames.feed(data)
        except CommandLengthError as exc:
            frames = []
            broken: CommandLengthError | None = exc
        else:
            broken = None
        if self._expired and frames:  # the SMSC is there: its unanswered submits go up
            events.extend(SubmitExpired(sequence=seq) for seq in self._expired)
            self._expired.clear()
        pending = self._pending
        for frame in frames:
            # hot path: submit_sm_resp without building a PDU object
            _, command_id, status, seq = HEADER.unpack_from(frame)
            if command_id == _SUBMIT_SM_RESP:
                self._timeouts = 0
                if pending.pop(seq, None) is not None:
                    nul = frame.find(b"\x00", 16)
                    if 16 < nul <= 16 + MAX_MESSAGE_ID:
                        message_id = frame[16:nul].decode("latin-1")
                    elif status:
                        message_id = ""  # an error answer need not carry an id
                    else:
                        events.append(
                            SubmitMisanswered(sequence=seq, detail=_message_id_fault(frame, nul))
                        )
                        continue
                    events.append(
                        SubmitAnswered(sequence=seq, status=status, message_id=message_id)
                    )
                continue
            if self._handle_frame(frame, command_id, status, seq, events):
                return events
        if broken is not None:
            self._out.append(encode_bare(CommandId.GENERIC_NACK, 0, st.ESME_RINVCMDLEN))
            events.append(self._close(CloseReason.PROTOCOL, str(broken), st.ESME_RINVCMDLEN))
        return events

    def _handle_frame(
        self, frame: bytes, command_id: int, status: int, seq: int, events: list[Event]
    ) -> bool:
        """Handle one non-hot-path PDU; True when the session closed."""
        self._dispatch(frame, command_id, status, seq, events)
        return self.state is SessionState.CLOSED

    def _dispatch(
        self, frame: bytes, command_id: int, status: int, seq: int, events: list[Event]
    ) -> None:
        try:
            pdu = decode(frame)
        except MalformedPdu as exc:
            if command_id & 0x80000000:
                events.append(PeerError(detail=str(exc)))  # never nack a response
            else:
                self._out.append(encode_bare(CommandId.GENERIC_NACK, seq, exc.status))
                events.append(PeerError(detail=str(exc)))
            return
        cid = pdu.command_id
        if cid is CommandId.DELIVER_SM or cid is CommandId.DATA_SM:
            assert isinstance(pdu, ShortMessage | DataSm)  # noqa: S101 - narrowed by command_id
            self._timeouts = 0
            events.append(DeliverReceived(pdu=pdu))
        elif cid is CommandId.ENQUIRE_LINK:
            self._out.append(encode_bare(CommandId.ENQUIRE_LINK_RESP, seq))
        elif cid is CommandId.GENERIC_NACK:
            self._timeouts = 0
            self._on_nack(seq, status, events)
        elif seq == self._control_seq and self._control_deadline is not None:
            self._on_control_answer(pdu.command_id, status, pdu, events)
        elif cid is CommandId.UNBIND:
            self._out.append(encode_bare(CommandId.UNBIND_RESP, seq))
            events.append(self._close(CloseReason.UNBIND_REQUESTED, "the SMSC unbound"))
        elif cid is CommandId.ENQUIRE_LINK_RESP or cid in _RESPONSES:
            pass  # a late answer to something that already timed out
        else:  # a request an ESME does not take (submit_sm, bind...)
            self._out.append(encode_bare(CommandId.GENERIC_NACK, seq, st.ESME_RINVCMDID))
            events.append(PeerError(detail=f"unexpected {cid.name.lower()} from the SMSC"))

    def _on_nack(self, seq: int, status: int, events: list[Event]) -> None:
        if self._pending.pop(seq, None) is not None:
            events.append(
                SubmitAnswered(sequence=seq, status=status or st.ESME_RSYSERR, message_id="")
            )
        elif seq == self._control_seq and self._control_deadline is not None:
            if self.state is SessionState.BINDING:
                self._control_deadline = None
                events.append(
                    self._close(CloseReason.BIND_FAILED, "bind answered by generic_nack", status)
                )
            elif self.state is SessionState.UNBINDING:
                events.append(
                    self._close(CloseReason.UNBOUND, "unbind answered by generic_nack", status)
                )
            else:
                self._control_deadline = None  # the SMSC answered: it is alive
        else:
            events.append(PeerError(detail=f"generic_nack {st.status_name(status)} seq {seq}"))

    def _on_control_answer(
        self, cid: CommandId, status: int, pdu: object, events: list[Event]
    ) -> None:
        self._control_deadline = None
        if self.state is SessionState.BINDING and cid == self.mode.command_id | 0x80000000:
            if status != st.ESME_ROK:
                events.append(
                    self._close(
                        CloseReason.BIND_FAILED, f"bind refused: {st.status_name(status)}", status
                    )
                )
                return
            self.state = self.state.check(SessionState.BOUND)
            self.peer_system_id = getattr(pdu, "system_id", "")
            events.append(Bound(system_id=self.peer_system_id))
        elif self.state is SessionState.UNBINDING and cid is CommandId.UNBIND_RESP:
            events.append(self._close(CloseReason.UNBOUND, "unbind answered"))
        elif cid is CommandId.ENQUIRE_LINK_RESP:
            pass
        else:
            events.append(PeerError(detail=f"unexpected {cid.name.lower()}"))


_RESPONSES = frozenset(c for c in CommandId if c & RESPONSE_BIT)


def _message_id_fault(frame: bytes, nul: int) -> str:
    """What is wrong with the message_id of an ESME_ROK submit_sm_resp."""
    if nul == 16 or len(frame) == 16:
        return "submit_sm_resp ESME_ROK without a message_id"
    if nul < 0:
        return f"submit_sm_resp message_id of {len(frame) - 16} octets without its NUL"
    return f"submit_sm_resp message_id of {nul - 16} octets (SMPP 3.4 allows {MAX_MESSAGE_ID})"
