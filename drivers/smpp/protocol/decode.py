"""Reading SMPP 3.4 PDUs: ``decode(frame) -> pdu`` and a stream splitter with a length bound.

The header is one ``struct`` unpack; submit_sm/deliver_sm bodies (every
receipt) are read with as few calls as possible. :class:`FrameSplitter` cuts a
byte stream into PDUs and refuses a ``command_length`` beyond its bound before
allocating anything for it.
"""

from __future__ import annotations

from drivers.smpp.protocol import status as st
from drivers.smpp.protocol.pdu import (
    BARE_COMMANDS,
    BIND_COMMANDS,
    DEFAULT_MAX_PDU,
    HEADER,
    HEADER_LEN,
    KNOWN_COMMANDS,
    MESSAGE_RESPS,
    Bare,
    Bind,
    BindResp,
    CancelSm,
    CommandId,
    DataSm,
    MessageResp,
    Pdu,
    QueryResp,
    QuerySm,
    ShortMessage,
)
from drivers.smpp.protocol.tlv import Tlvs, decode_tlvs
from gateway.model.errors import RemoteProtocolError


class MalformedPdu(RemoteProtocolError):
    """A PDU the peer sent that cannot be read; answer ``status`` in a generic_nack."""

    def __init__(self, detail: str, *, command_id: int, sequence: int, status: int) -> None:
        self.command_id = command_id
        self.sequence = sequence
        self.status = status
        super().__init__(detail)


class CommandLengthError(RemoteProtocolError):
    """A header whose command_length is below 16 or beyond the bound."""

    def __init__(self, length: int, bound: int) -> None:
        self.length = length
        super().__init__(f"command_length {length} outside 16..{bound}")


class _Reader:
    """Reads fields of one PDU body; errors name the field and the PDU."""

    __slots__ = ("command_id", "data", "end", "pos", "sequence")

    def __init__(self, data: bytes, command_id: int, sequence: int) -> None:
        self.data = data
        self.pos = HEADER_LEN
        self.end = len(data)
        self.command_id = command_id
        self.sequence = sequence

    def fail(self, detail: str, status: int = st.ESME_RINVCMDLEN) -> MalformedPdu:
        return MalformedPdu(
            f"{detail} in PDU 0x{self.command_id:08X} seq {self.sequence}",
            command_id=self.command_id,
            sequence=self.sequence,
            status=status,
        )

    def c(self, limit: int, field: str) -> str:
        data, pos = self.data, self.pos
        nul = data.find(b"\x00", pos, min(self.end, pos + limit))
        if nul < 0:
            raise self.fail(f"{field}: no NUL within {limit} octets")
        self.pos = nul + 1
        return data[pos:nul].decode("latin-1")

    def u8(self, field: str) -> int:
        if self.pos >= self.end:
            raise self.fail(f"{field}: body ends early")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def octets(self, length: int, field: str) -> bytes:
        if self.pos + length > self.end:
            raise self.fail(f"{field}: {length} octets claimed, {self.end - self.pos} left")
        value = self.data[self.pos : self.pos + length]
        self.pos += length
        return value

    def tlvs(self) -> Tlvs:
        try:
            return decode_tlvs(self.data, self.pos, self.end)
        except RemoteProtocolError as exc:
            raise self.fail(str(exc), st.ESME_RINVOPTPARSTREAM) from None


def decode(frame: bytes) -> Pdu:
    """Parse one complete PDU (header included), as cut by :class:`FrameSplitter`."""
    if len(frame) < HEADER_LEN:
        raise CommandLengthError(len(frame), DEFAULT_MAX_PDU)
    length, command_id, status, sequence = HEADER.unpack_from(frame)
    if length != len(frame):
        msg = f"command_length {length} but {len(frame)} octets"
        raise MalformedPdu(msg, command_id=command_id, sequence=sequence, status=st.ESME_RINVCMDLEN)
    if command_id not in KNOWN_COMMANDS:
        msg = f"unknown command_id 0x{command_id:08X}"
        raise MalformedPdu(msg, command_id=command_id, sequence=sequence, status=st.ESME_RINVCMDID)
    cid = CommandId(command_id)
    r = _Reader(frame, command_id, sequence)
    if cid in MESSAGE_RESPS:
        # error responses may come without a body
        message_id = r.c(65, "message_id") if length > HEADER_LEN else ""
        tlvs = r.tlvs() if r.pos < r.end else ()
        return MessageResp(
            command_id=cid, sequence=sequence, status=status, message_id=message_id, tlvs=tlvs
        )
    if cid in BARE_COMMANDS:
        return Bare(command_id=cid, sequence=sequence, status=status)
    if cid is CommandId.SUBMIT_SM or cid is CommandId.DELIVER_SM:
        return _decode_short_message(frame, cid, status, sequence, r)
    if cid is CommandId.DATA_SM:
        service_type = r.c(6, "service_type")
        src_ton, src_npi = r.u8("source_addr_ton"), r.u8("source_addr_npi")
        src = r.c(65, "source_addr")
        dst_ton, dst_npi = r.u8("dest_addr_ton"), r.u8("dest_addr_npi")
        dst = r.c(65, "destination_addr")
        esm, reg, dcs = r.u8("esm_class"), r.u8("registered_delivery"), r.u8("data_coding")
        return DataSm(
            sequence=sequence,
            status=status,
            service_type=service_type,
            source_addr_ton=src_ton,
            source_addr_npi=src_npi,
            source_addr=src,
            dest_addr_ton=dst_ton,
            dest_addr_npi=dst_npi,
            destination_addr=dst,
            esm_class=esm,
            registered_delivery=reg,
            data_coding=dcs,
            tlvs=r.tlvs(),
        )
    if cid in _QUERIES:
        return _decode_query(cid, status, sequence, r)
    if cid in BIND_COMMANDS:
        system_id = r.c(16, "system_id")
        password = r.c(9, "password")
        system_type = r.c(13, "system_type")
        version, ton, npi = r.u8("interface_version"), r.u8("addr_ton"), r.u8("addr_npi")
        return Bind(
            command_id=cid,
            sequence=sequence,
            status=status,
            system_id=system_id,
            password=password,
            system_type=system_type,
            interface_version=version,
            addr_ton=ton,
            addr_npi=npi,
            address_range=r.c(41, "address_range"),
        )
    # bind responses: the body may be absent on errors
    system_id = r.c(16, "system_id") if length > HEADER_LEN else ""
    return BindResp(
        command_id=cid, sequence=sequence, status=status, system_id=system_id, tlvs=r.tlvs()
    )


_QUERIES = frozenset({CommandId.QUERY_SM, CommandId.QUERY_SM_RESP, CommandId.CANCEL_SM})


def _decode_query(cid: CommandId, status: int, sequence: int, r: _Reader) -> Pdu:
    """query_sm, query_sm_resp (its body may be absent on errors), cancel_sm."""
    if cid is CommandId.QUERY_SM:
        message_id = r.c(65, "message_id")
        ton, npi = r.u8("source_addr_ton"), r.u8("source_addr_npi")
        return QuerySm(
            sequence=sequence,
            status=status,
            message_id=message_id,
            source_addr_ton=ton,
            source_addr_npi=npi,
            source_addr=r.c(21, "source_addr"),
        )
    if cid is CommandId.QUERY_SM_RESP:
        if r.pos >= r.end:
            return QueryResp(sequence=sequence, status=status)
        message_id = r.c(65, "message_id")
        final_date = r.c(17, "final_date")
        return QueryResp(
            sequence=sequence,
            status=status,
            message_id=message_id,
            final_date=final_date,
            message_state=r.u8("message_state"),
            error_code=r.u8("error_code"),
        )
    service_type = r.c(6, "service_type")
    message_id = r.c(65, "message_id")
    src_ton, src_npi = r.u8("source_addr_ton"), r.u8("source_addr_npi")
    src = r.c(21, "source_addr")
    dst_ton, dst_npi = r.u8("dest_addr_ton"), r.u8("dest_addr_npi")
    return CancelSm(
        sequence=sequence,
        status=status,
        service_type=service_type,
        message_id=message_id,
        source_addr_ton=src_ton,
        source_addr_npi=src_npi,
        source_addr=src,
        dest_addr_ton=dst_ton,
        dest_addr_npi=dst_npi,
        destination_addr=r.c(21, "destination_addr"),
    )


# a submit_sm_resp's message_id: the ESME session reads it straight from the frame
MAX_MESSAGE_ID = 64  # octets of a message_id, its NUL not counted (SMPP 3.4 section 4.4.2)


def message_id_fault(frame: bytes, nul: int) -> str:
    """What is wrong with the message_id of an ESME_ROK submit_sm_resp ``frame``
    whose first NUL after the header is at ``nul`` (-1: none)."""
    if nul == HEADER_LEN or len(frame) == HEADER_LEN:
        return "submit_sm_resp ESME_ROK without a message_id"
    if nul < 0:
        return f"submit_sm_resp message_id of {len(frame) - HEADER_LEN} octets without its NUL"
    return (
        f"submit_sm_resp message_id of {nul - HEADER_LEN} octets (SMPP 3.4 allows {MAX_MESSAGE_ID})"
    )


def _cstr(frame: bytes, pos: int, limit: int, field: str, r: _Reader) -> tuple[str, int]:
    nul = frame.find(b"\x00", pos, pos + limit)
    if nul < 0:
        raise r.fail(f"{field}: no NUL within {limit} octets")
    return frame[pos:nul].decode("latin-1"), nul + 1


def _decode_short_message(
    frame: bytes, cid: CommandId, status: int, sequence: int, r: _Reader
) -> ShortMessage:
    """submit_sm/deliver_sm body, read with as few calls as possible (the receipt path)."""
    end = len(frame)
    service_type, p = _cstr(frame, 16, 6, "service_type", r)
    if p + 2 > end:
        raise r.fail("source_addr_ton: body ends early")
    src_ton, src_npi = frame[p], frame[p + 1]
    src, p = _cstr(frame, p + 2, 21, "source_addr", r)
    if p + 2 > end:
        raise r.fail("dest_addr_ton: body ends early")
    dst_ton, dst_npi = frame[p], frame[p + 1]
    dst, p = _cstr(frame, p + 2, 21, "destination_addr", r)
    if p + 3 > end:
        raise r.fail("esm_class: body ends early")
    esm, pid, prio = frame[p], frame[p + 1], frame[p + 2]
    sched, p = _cstr(frame, p + 3, 17, "schedule_delivery_time", r)
    validity, p = _cstr(frame, p, 17, "validity_period", r)
    if p + 5 > end:
        raise r.fail("sm_length: body ends early")
    reg, rep, dcs, dflt, sm_length = frame[p : p + 5]
    p += 5
    if p + sm_length > end:
        raise r.fail(f"short_message: {sm_length} octets claimed, {end - p} left")
    short_message = frame[p : p + sm_length]
    p += sm_length
    if p < end:
        r.pos = p
        tlvs = r.tlvs()
    else:
        tlvs = ()
    # positional, in field order (see ShortMessage)
    return ShortMessage(
        cid,
        sequence,
        service_type,
        src_ton,
        src_npi,
        src,
        dst_ton,
        dst_npi,
        dst,
        esm,
        pid,
        prio,
        sched,
        validity,
        reg,
        rep,
        dcs,
        dflt,
        short_message,
        tlvs,
        status,
    )


class FrameSplitter:
    """Cuts a TCP byte stream into complete PDUs (``bytes`` each).

    A ``command_length`` below 16 or above ``max_pdu`` raises
    :class:`CommandLengthError` at once: nothing is allocated for the claim,
    and the stream cannot be resynchronised (the caller disconnects).
    """

    __slots__ = ("_buf", "max_pdu")

    def __init__(self, *, max_pdu: int = DEFAULT_MAX_PDU) -> None:
        self._buf = bytearray()
        self.max_pdu = max_pdu

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        if not buf and len(data) >= HEADER_LEN:
            # common case: the read holds whole PDUs; slice bytes directly
            return self._split_bytes(data)
        buf += data
        frames: list[bytes] = []
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            length = int.from_bytes(buf[pos : pos + 4], "big")
            if length < HEADER_LEN or length > self.max_pdu:
                raise CommandLengthError(length, self.max_pdu)
            if n - pos < length:
                break
            frames.append(bytes(buf[pos : pos + length]))
            pos += length
        del buf[:pos]
        return frames

    def _split_bytes(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        pos = 0
        n = len(data)
        max_pdu = self.max_pdu
        while n - pos >= 4:
            length = int.from_bytes(data[pos : pos + 4], "big")
            if length < HEADER_LEN or length > max_pdu:
                raise CommandLengthError(length, max_pdu)
            if n - pos < length:
                break
            frames.append(data[pos : pos + length])
            pos += length
        if pos < n:
            self._buf += data[pos:]
        return frames

    @property
    def buffered(self) -> int:
        return len(self._buf)
