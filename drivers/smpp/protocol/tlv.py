"""SMPP 3.4 optional parameters (TLVs): tags, encoding and reading.

TLVs travel as a tuple of ``(tag, value bytes)`` pairs in the order received;
unknown tags are kept as raw bytes, so nothing a peer sends is lost.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from gateway.model.errors import RemoteProtocolError

Tlvs = tuple[tuple[int, bytes], ...]

DEST_ADDR_SUBUNIT = 0x0005
SOURCE_ADDR_SUBUNIT = 0x000D
PAYLOAD_TYPE = 0x0019
ADDITIONAL_STATUS_INFO_TEXT = 0x001D
RECEIPTED_MESSAGE_ID = 0x001E
USER_MESSAGE_REFERENCE = 0x0204
SOURCE_PORT = 0x020A
DESTINATION_PORT = 0x020B
SAR_MSG_REF_NUM = 0x020C
LANGUAGE_INDICATOR = 0x020D
SAR_TOTAL_SEGMENTS = 0x020E
SAR_SEGMENT_SEQNUM = 0x020F
SC_INTERFACE_VERSION = 0x0210
NETWORK_ERROR_CODE = 0x0423
MESSAGE_PAYLOAD = 0x0424
DELIVERY_FAILURE_REASON = 0x0425
MORE_MESSAGES_TO_SEND = 0x0426
MESSAGE_STATE = 0x0427

TLV_NAMES: dict[int, str] = {
    DEST_ADDR_SUBUNIT: "dest_addr_subunit",
    SOURCE_ADDR_SUBUNIT: "source_addr_subunit",
    PAYLOAD_TYPE: "payload_type",
    ADDITIONAL_STATUS_INFO_TEXT: "additional_status_info_text",
    RECEIPTED_MESSAGE_ID: "receipted_message_id",
    USER_MESSAGE_REFERENCE: "user_message_reference",
    SOURCE_PORT: "source_port",
    DESTINATION_PORT: "destination_port",
    SAR_MSG_REF_NUM: "sar_msg_ref_num",
    LANGUAGE_INDICATOR: "language_indicator",
    SAR_TOTAL_SEGMENTS: "sar_total_segments",
    SAR_SEGMENT_SEQNUM: "sar_segment_seqnum",
    SC_INTERFACE_VERSION: "sc_interface_version",
    NETWORK_ERROR_CODE: "network_error_code",
    MESSAGE_PAYLOAD: "message_payload",
    DELIVERY_FAILURE_REASON: "delivery_failure_reason",
    MORE_MESSAGES_TO_SEND: "more_messages_to_send",
    MESSAGE_STATE: "message_state",
}

_TL = struct.Struct(">HH")
_U16 = struct.Struct(">H")


def encode_tlvs(tlvs: Iterable[tuple[int, bytes]]) -> bytes:
    """Serialise ``(tag, value)`` pairs."""
    pack = _TL.pack
    return b"".join(pack(tag, len(value)) + value for tag, value in tlvs)


def decode_tlvs(data: bytes, start: int, end: int) -> Tlvs:
    """Read the TLVs in ``data[start:end]``; a truncated one is the peer's error."""
    out: list[tuple[int, bytes]] = []
    pos = start
    unpack = _TL.unpack_from
    while pos < end:
        if end - pos < 4:
            msg = f"truncated TLV header at offset {pos}"
            raise RemoteProtocolError(msg)
        tag, length = unpack(data, pos)
        pos += 4
        if pos + length > end:
            msg = f"TLV 0x{tag:04X} claims {length} octets, {end - pos} left"
            raise RemoteProtocolError(msg)
        out.append((tag, bytes(data[pos : pos + length])))
        pos += length
    return tuple(out)


def u8(tag: int, value: int) -> tuple[int, bytes]:
    return (tag, bytes((value,)))


def u16(tag: int, value: int) -> tuple[int, bytes]:
    return (tag, _U16.pack(value))


def cstring(tag: int, value: str) -> tuple[int, bytes]:
    """A C-octet string TLV (NUL included in the length, as SMPP 3.4 says)."""
    return (tag, value.encode("latin-1") + b"\x00")


def find(tlvs: Tlvs, tag: int) -> bytes | None:
    for t, value in tlvs:
        if t == tag:
            return value
    return None


def get_int(tlvs: Tlvs, tag: int) -> int | None:
    """An integer TLV (1, 2 or 4 octets, big-endian), or None when absent/empty."""
    value = find(tlvs, tag)
    if not value:
        return None
    return int.from_bytes(value, "big")


def get_str(tlvs: Tlvs, tag: int) -> str | None:
    """A C-octet string TLV without its NUL (tolerates a missing NUL)."""
    value = find(tlvs, tag)
    if value is None:
        return None
    end = value.find(b"\x00")
    if end >= 0:
        value = value[:end]
    return value.decode("latin-1")
