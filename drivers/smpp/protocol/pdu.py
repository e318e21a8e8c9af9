"""SMPP 3.4 PDUs: the classes and ``encode(pdu) -> bytes`` (reading is in decode.py).

Sans-IO and allocation-conscious: bodies are built with ``bytes`` joins, and
:func:`encode_submit_sm` is the hot path the link uses without building a PDU
object first.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

from drivers.smpp.protocol.tlv import Tlvs, encode_tlvs
from gateway.model.errors import LocalProtocolError

HEADER = struct.Struct(">IIII")
HEADER_LEN = 16
DEFAULT_MAX_PDU = 70_000  # message_payload may carry up to 64 KiB; nothing legitimate is larger
INTERFACE_VERSION = 0x34


class CommandId(enum.IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


RESPONSE_BIT = 0x80000000
BIND_COMMANDS = frozenset(
    {CommandId.BIND_RECEIVER, CommandId.BIND_TRANSMITTER, CommandId.BIND_TRANSCEIVER}
)
BARE_COMMANDS = frozenset(
    {
        CommandId.GENERIC_NACK,
        CommandId.UNBIND,
        CommandId.UNBIND_RESP,
        CommandId.ENQUIRE_LINK,
        CommandId.ENQUIRE_LINK_RESP,
        CommandId.CANCEL_SM_RESP,
    }
)
MESSAGE_RESPS = frozenset(
    {CommandId.SUBMIT_SM_RESP, CommandId.DELIVER_SM_RESP, CommandId.DATA_SM_RESP}
)
KNOWN_COMMANDS = frozenset(int(c) for c in CommandId)


# --- PDU classes ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Bind:
    command_id: CommandId  # BIND_TRANSMITTER | BIND_RECEIVER | BIND_TRANSCEIVER
    sequence: int
    system_id: str
    password: str = ""
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    status: int = 0

    def __repr__(self) -> str:  # the password never reaches a log line
        return (
            f"Bind(command_id={self.command_id.name}, sequence={self.sequence}, "
            f"system_id={self.system_id!r}, password=<hidden>)"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BindResp:
    command_id: CommandId
    sequence: int
    status: int = 0
    system_id: str = ""
    tlvs: Tlvs = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Bare:
    """Header-only PDUs: unbind(_resp), enquire_link(_resp), generic_nack."""

    command_id: CommandId
    sequence: int
    status: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageResp:
    """submit_sm_resp, deliver_sm_resp, data_sm_resp."""

    command_id: CommandId
    sequence: int
    status: int = 0
    message_id: str = ""
    tlvs: Tlvs = ()


class ShortMessage(NamedTuple):
    """submit_sm and deliver_sm (same body layout in SMPP 3.4).

    A NamedTuple rather than a frozen dataclass: every receipt is one of these,
    and building it positionally costs 0.4 us against 3.0 us for a frozen
    dataclass of 21 fields (measured on the target machine). Build it with
    keywords anyway outside the decoder.
    """

    command_id: CommandId  # SUBMIT_SM | DELIVER_SM
    sequence: int
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: Tlvs = ()
    status: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSm:
    sequence: int
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    tlvs: Tlvs = ()
    status: int = 0
    command_id: CommandId = CommandId.DATA_SM


@dataclass(frozen=True, slots=True, kw_only=True)
class QuerySm:
    sequence: int
    message_id: str
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    status: int = 0
    command_id: CommandId = CommandId.QUERY_SM


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryResp:
    sequence: int
    message_id: str = ""
    final_date: str = ""  # SMPP absolute time, or empty while not final
    message_state: int = 0  # SMPP 3.4 5.2.28
    error_code: int = 0
    status: int = 0
    command_id: CommandId = CommandId.QUERY_SM_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSm:
    sequence: int
    message_id: str
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    status: int = 0
    command_id: CommandId = CommandId.CANCEL_SM


Pdu = Bind | BindResp | Bare | MessageResp | ShortMessage | DataSm | QuerySm | QueryResp | CancelSm


# --- encoding --------------------------------------------------------------------


def _c(value: str, limit: int, field: str) -> bytes:
    """A C-octet string of at most ``limit`` octets including the NUL."""
    raw = value.encode("latin-1")
    if len(raw) >= limit:
        msg = f"{field} {value!r} is longer than {limit - 1} octets"
        raise LocalProtocolError(msg)
    return raw + b"\x00"


def _header(command_id: int, status: int, sequence: int, body: bytes) -> bytes:
    return HEADER.pack(HEADER_LEN + len(body), command_id, status, sequence) + body


def submit_sm_body(
    *,
    service_type: str = "",
    source_addr_ton: int = 0,
    source_addr_npi: int = 0,
    source_addr: str = "",
    dest_addr_ton: int = 0,
    dest_addr_npi: int = 0,
    destination_addr: str = "",
    esm_class: int = 0,
    protocol_id: int = 0,
    priority_flag: int = 0,
    schedule_delivery_time: str = "",
    validity_period: str = "",
    registered_delivery: int = 0,
    replace_if_present_flag: int = 0,
    data_coding: int = 0,
    sm_default_msg_id: int = 0,
    short_message: bytes = b"",
    tlvs: bytes = b"",
) -> bytes:
    """The body of a submit_sm/deliver_sm (no header); ``tlvs`` already encoded."""
    if len(short_message) > 254:
        msg = f"short_message is {len(short_message)} octets (max 254; use message_payload)"
        raise LocalProtocolError(msg)
    return b"".join(
        (
            _c(service_type, 6, "service_type"),
            bytes((source_addr_ton, source_addr_npi)),
            _c(source_addr, 21, "source_addr"),
            bytes((dest_addr_ton, dest_addr_npi)),
            _c(destination_addr, 21, "destination_addr"),
            bytes((esm_class, protocol_id, priority_flag)),
            _c(schedule_delivery_time, 17, "schedule_delivery_time"),
            _c(validity_period, 17, "validity_period"),
            bytes(
                (
                    registered_delivery,
                    replace_if_present_flag,
                    data_coding,
                    sm_default_msg_id,
                    len(short_message),
                )
            ),
            short_message,
            tlvs,
        )
    )


def encode_submit_sm(
    sequence: int, *, command_id: int = CommandId.SUBMIT_SM, status: int = 0, **fields: Any
) -> bytes:
    """submit_sm (or deliver_sm) bytes; ``fields`` as :func:`submit_sm_body` takes them."""
    body = submit_sm_body(**fields)
    return HEADER.pack(HEADER_LEN + len(body), command_id, status, sequence) + body


def encode_message_resp(command_id: int, sequence: int, status: int, message_id: str) -> bytes:
    """submit_sm_resp / deliver_sm_resp / data_sm_resp bytes (hot path of both peers)."""
    body = message_id.encode("latin-1") + b"\x00"
    return HEADER.pack(HEADER_LEN + len(body), command_id, status, sequence) + body


def encode_bare(command_id: int, sequence: int, status: int = 0) -> bytes:
    return HEADER.pack(HEADER_LEN, command_id, status, sequence)


def encode(pdu: Pdu) -> bytes:
    """The wire bytes of one PDU."""
    if isinstance(pdu, ShortMessage):
        return encode_submit_sm(
            pdu.sequence,
            command_id=pdu.command_id,
            service_type=pdu.service_type,
            source_addr_ton=pdu.source_addr_ton,
            source_addr_npi=pdu.source_addr_npi,
            source_addr=pdu.source_addr,
            dest_addr_ton=pdu.dest_addr_ton,
            dest_addr_npi=pdu.dest_addr_npi,
            destination_addr=pdu.destination_addr,
            esm_class=pdu.esm_class,
            protocol_id=pdu.protocol_id,
            priority_flag=pdu.priority_flag,
            schedule_delivery_time=pdu.schedule_delivery_time,
            validity_period=pdu.validity_period,
            registered_delivery=pdu.registered_delivery,
            replace_if_present_flag=pdu.replace_if_present_flag,
            data_coding=pdu.data_coding,
            sm_default_msg_id=pdu.sm_default_msg_id,
            short_message=pdu.short_message,
            tlvs=encode_tlvs(pdu.tlvs),
            status=pdu.status,
        )
    if isinstance(pdu, MessageResp):
        if pdu.tlvs:
            body = pdu.message_id.encode("latin-1") + b"\x00" + encode_tlvs(pdu.tlvs)
            return _header(pdu.command_id, pdu.status, pdu.sequence, body)
        return encode_message_resp(pdu.command_id, pdu.sequence, pdu.status, pdu.message_id)
    if isinstance(pdu, Bare):
        return encode_bare(pdu.command_id, pdu.sequence, pdu.status)
    if isinstance(pdu, Bind):
        body = b"".join(
            (
                _c(pdu.system_id, 16, "system_id"),
                _c(pdu.password, 9, "password"),
                _c(pdu.system_type, 13, "system_type"),
                bytes((pdu.interface_version, pdu.addr_ton, pdu.addr_npi)),
                _c(pdu.address_range, 41, "address_range"),
            )
        )
        return _header(pdu.command_id, pdu.status, pdu.sequence, body)
    if isinstance(pdu, BindResp):
        if pdu.status and not pdu.system_id and not pdu.tlvs:
            return encode_bare(pdu.command_id, pdu.sequence, pdu.status)
        body = _c(pdu.system_id, 16, "system_id") + encode_tlvs(pdu.tlvs)
        return _header(pdu.command_id, pdu.status, pdu.sequence, body)
    if isinstance(pdu, QuerySm | QueryResp | CancelSm):
        return _encode_query(pdu)
    # DataSm
    body = b"".join(
        (
            _c(pdu.service_type, 6, "service_type"),
            bytes((pdu.source_addr_ton, pdu.source_addr_npi)),
            _c(pdu.source_addr, 65, "source_addr"),
            bytes((pdu.dest_addr_ton, pdu.dest_addr_npi)),
            _c(pdu.destination_addr, 65, "destination_addr"),
            bytes((pdu.esm_class, pdu.registered_delivery, pdu.data_coding)),
            encode_tlvs(pdu.tlvs),
        )
    )
    return _header(pdu.command_id, pdu.status, pdu.sequence, body)


def _encode_query(pdu: QuerySm | QueryResp | CancelSm) -> bytes:
    if isinstance(pdu, QuerySm):
        body = b"".join(
            (
                _c(pdu.message_id, 65, "message_id"),
                bytes((pdu.source_addr_ton, pdu.source_addr_npi)),
                _c(pdu.source_addr, 21, "source_addr"),
            )
        )
    elif isinstance(pdu, QueryResp):
        if pdu.status and not pdu.message_id:
            return encode_bare(pdu.command_id, pdu.sequence, pdu.status)
        body = b"".join(
            (
                _c(pdu.message_id, 65, "message_id"),
                _c(pdu.final_date, 17, "final_date"),
                bytes((pdu.message_state, pdu.error_code)),
            )
        )
    else:
        body = b"".join(
            (
                _c(pdu.service_type, 6, "service_type"),
                _c(pdu.message_id, 65, "message_id"),
                bytes((pdu.source_addr_ton, pdu.source_addr_npi)),
                _c(pdu.source_addr, 21, "source_addr"),
                bytes((pdu.dest_addr_ton, pdu.dest_addr_npi)),
                _c(pdu.destination_addr, 21, "destination_addr"),
            )
        )
    return _header(pdu.command_id, pdu.status, pdu.sequence, body)


def relative_time(seconds: int) -> str:
    """SMPP relative time 'YYMMDDhhmmss000R' for a validity period (capped at 99 days)."""
    seconds = max(0, min(int(seconds), 99 * 86400 + 86399))
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    return f"0000{days:02d}{hours:02d}{minutes:02d}{secs:02d}000R"
