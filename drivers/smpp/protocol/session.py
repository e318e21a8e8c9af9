"""The ESME side of one SMPP 3.4 connection, sans-IO (bytes and ``now`` in, events and bytes out).

Usage, as the asyncio link does it::

    s = EsmeSession(system_id="gw", password="pw", bind=BindMode.TRANSCEIVER, window=64)
    s.connection_made(now)                 # queues bind_*
    transport.write(s.data_to_send())
    for event in s.receive_data(data, now): ...
    seq = s.submit(now, destination_addr="336...", short_message=b"...")
    deadline = s.get_timer(); events = s.handle_timer(now)

States: :mod:`drivers.smpp.protocol.states`; submits awaiting an answer: ``inflight``.
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
session answers the SMSC's enquire_link and unbind itself; deliver_sm/data_sm
are handed up as :class:`DeliverReceived` and answered by :meth:`respond` once
the caller has stored what they carry.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from drivers.smpp.protocol import status as st
from drivers.smpp.protocol.decode import (
    MAX_MESSAGE_ID,
    CommandLengthError,
    FrameSplitter,
    MalformedPdu,
    decode,
    message_id_fault,
)
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
from drivers.smpp.protocol.inflight import InFlight
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
from drivers.smpp.protocol.states import BindMode, SessionState
from gateway.model.errors import LocalProtocolError

MAX_SEQUENCE = 0x7FFFFFFF
_SUBMIT_SM = int(CommandId.SUBMIT_SM)
_SUBMIT_SM_RESP = int(CommandId.SUBMIT_SM_RESP)
_RESPONSES = frozenset(c for c in CommandId if c & RESPONSE_BIT)


def next_sequence(seq: int) -> int:
    """The sequence number after ``seq``: 1 after the highest, never the sign bit."""
    return 1 if seq >= MAX_SEQUENCE else seq + 1


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
        self._inflight = InFlight()  # submits awaiting their answer
        self._control_seq = 0  # bind / enquire_link / unbind awaiting an answer
        self._control_deadline: float | None = None
        self._last_rx = 0.0
        self.peer_system_id = ""

    # --- queries -----------------------------------------------------------------

    @property
    def bound(self) -> bool:
        return self.state is SessionState.BOUND

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    @property
    def can_submit(self) -> bool:
        return (
            self.state is SessionState.BOUND
            and self.mode.can_submit
            and len(self._inflight) < self.window
        )

    def data_to_send(self) -> bytes:
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    # --- actions -----------------------------------------------------------------

    def connection_made(self, now: float) -> None:
        self.state = self.state.check(SessionState.BINDING)
        self._seq = seq = next_sequence(self._seq)
        self._out.append(encode(dataclasses.replace(self._bind_pdu, sequence=seq)))
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
        if len(self._inflight) >= self.window:
            msg = f"submit_sm beyond the window of {self.window}"
            raise LocalProtocolError(msg)
        self._seq = seq = next_sequence(self._seq)
        self._out.append(HEADER.pack(HEADER_LEN + len(body), _SUBMIT_SM, 0, seq) + body)
        self._inflight.add(seq, now + self.response_timeout)
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
        self._seq = seq = next_sequence(self._seq)
        self._out.append(encode_bare(CommandId.UNBIND, seq))
        self._control_seq = seq
        self._control_deadline = now + self.response_timeout

    def connection_lost(self) -> list[int]:
        """The connection is gone; returns the submit sequences left unanswered
        (those past their deadline and not yet reported included)."""
        self.state = self.state.check(SessionState.CLOSED)
        self._out.clear()
        return self._inflight.lost()

    # --- timers ------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The next moment :meth:`handle_timer` has something to do, or None."""
        if self.state is SessionState.CLOSED or self.state is SessionState.IDLE:
            return None
        timer = self._control_deadline
        submit = self._inflight.next_deadline()
        if submit is not None and (timer is None or submit < timer):
            timer = submit
        if self.state is SessionState.BOUND and self._control_deadline is None:
            idle = self._last_rx + self.enquire_link
            if timer is None or idle < timer:
                timer = idle
        return timer

    def handle_timer(self, now: float) -> list[Event]:
        events: list[Event] = []
        if self.state is SessionState.CLOSED:
            return events
        if self._expire_submits(now, events):
            return events
        control = self._control_deadline
        if control is not None and control <= now:
            self._control_deadline = None
            events.append(self._control_unanswered())
            return events
        if (
            self.state is SessionState.BOUND
            and control is None
            and now >= self._last_rx + self.enquire_link
        ):
            self._send_enquire_link(now)
        return events

    def _expire_submits(self, now: float, events: list[Event]) -> bool:
        """Set aside the submits past their deadline, to report once the SMSC is heard
        from, and ask whether anyone is there; True when that many closed the session."""
        inflight = self._inflight
        if not inflight.expire(now) or self.state is not SessionState.BOUND:
            return False
        if inflight.timeouts >= self.dead_after_timeouts:
            detail = (
                f"{inflight.timeouts} submit_sm unanswered in a row, "
                f"after {self.response_timeout:g}s each"
            )
            events.append(self._close(CloseReason.DEAD, detail))
            return True
        if self._control_deadline is None:  # is anyone there? ask now
            self._send_enquire_link(now)
        return False

    def _control_unanswered(self) -> Closed:
        """The bind, unbind or enquire_link sent got no answer in time."""
        if self.state is SessionState.BINDING:
            detail = f"bind unanswered after {self.bind_timeout:g}s"
            return self._close(CloseReason.BIND_FAILED, detail)
        if self.state is SessionState.UNBINDING:
            detail = f"unbind unanswered after {self.response_timeout:g}s"
            return self._close(CloseReason.UNBOUND, detail)
        detail = f"enquire_link unanswered after {self.response_timeout:g}s"
        return self._close(CloseReason.DEAD, detail)

    def _send_enquire_link(self, now: float) -> None:
        self._seq = seq = next_sequence(self._seq)
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
            self._out.append(encode_bare(CommandId.GENERIC_NACK, 0, st.ESME_RINVCMDLEN))
            events.append(self._close(CloseReason.PROTOCOL, str(exc), st.ESME_RINVCMDLEN))
            return events
        inflight = self._inflight
        if inflight.expired and frames:  # the SMSC is there: its unanswered submits go up
            events.extend(SubmitExpired(sequence=seq) for seq in inflight.heard())
        pending = inflight.pending
        for frame in frames:
            # hot path: submit_sm_resp without building a PDU object
            _, command_id, status, seq = HEADER.unpack_from(frame)
            if command_id == _SUBMIT_SM_RESP:
                inflight.timeouts = 0
                if pending.pop(seq, None) is not None:
                    nul = frame.find(b"\x00", 16)
                    if 16 < nul <= 16 + MAX_MESSAGE_ID:
                        message_id = frame[16:nul].decode("latin-1")
                        events.append(
                            SubmitAnswered(sequence=seq, status=status, message_id=message_id)
                        )
                    else:
                        events.append(_without_message_id(frame, nul, seq, status))
            elif self._dispatch(frame, command_id, status, seq, events):
                return events
        return events

    def _dispatch(
        self, frame: bytes, command_id: int, status: int, seq: int, events: list[Event]
    ) -> bool:
        """Handle one PDU off the hot path; True when the session closed."""
        try:
            pdu = decode(frame)
        except MalformedPdu as exc:
            if command_id & 0x80000000:
                events.append(PeerError(detail=str(exc)))  # never nack a response
            else:
                self._out.append(encode_bare(CommandId.GENERIC_NACK, seq, exc.status))
                events.append(PeerError(detail=str(exc)))
            return False
        cid = pdu.command_id
        if cid is CommandId.DELIVER_SM or cid is CommandId.DATA_SM:
            assert isinstance(pdu, ShortMessage | DataSm)  # noqa: S101 - narrowed by command_id
            self._inflight.timeouts = 0
            events.append(DeliverReceived(pdu=pdu))
        elif cid is CommandId.ENQUIRE_LINK:
            self._out.append(encode_bare(CommandId.ENQUIRE_LINK_RESP, seq))
        elif cid is CommandId.GENERIC_NACK:
            self._inflight.timeouts = 0
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
        return self.state is SessionState.CLOSED

    def _on_nack(self, seq: int, status: int, events: list[Event]) -> None:
        if self._inflight.pending.pop(seq, None) is not None:
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
                detail = f"bind refused: {st.status_name(status)}"
                events.append(self._close(CloseReason.BIND_FAILED, detail, status))
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


def _without_message_id(frame: bytes, nul: int, seq: int, status: int) -> Event:
    """A submit_sm_resp whose message_id is not usable: fine for an error answer,
    which need not carry one; a broken ESME_ROK otherwise."""
    if status:
        return SubmitAnswered(sequence=seq, status=status, message_id="")
    return SubmitMisanswered(sequence=seq, detail=message_id_fault(frame, nul))
