"""MQTT 3.1.1 control packets (OASIS standard, 2014, section 3) as values.

Each packet is a small frozen dataclass, in both directions (a test broker
decodes what the client encodes): :mod:`.encoding` turns one into bytes,
:mod:`.decoding` a frame (first byte, body; see :mod:`.framing`) into one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "Connack",
    "Connect",
    "Disconnect",
    "Packet",
    "PacketType",
    "Pingreq",
    "Pingresp",
    "Puback",
    "Pubcomp",
    "Publish",
    "Pubrec",
    "Pubrel",
    "Suback",
    "Subscribe",
    "Unsuback",
    "Unsubscribe",
    "Will",
]

PROTOCOL_NAME = b"\x00\x04MQTT"
PROTOCOL_LEVEL = 4  # 3.1.1 (3.1.2.2)
SUBACK_FAILURE = 0x80  # 3.9.3


class PacketType(enum.IntEnum):
    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


@dataclass(frozen=True, slots=True, kw_only=True)
class Will:
    topic: str
    message: bytes
    qos: int = 0
    retain: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Connect:
    client_id: str
    keepalive: int  # seconds, 0 = none
    clean_session: bool
    username: str | None = None
    password: bytes | None = field(default=None, repr=False)  # never in a log line
    will: Will | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Connack:
    session_present: bool
    return_code: int  # 0 accepted, 1-5 refused (errors.CONNACK_REASONS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int = 0  # QoS 1 and 2 only


@dataclass(frozen=True, slots=True, kw_only=True)
class Puback:
    packet_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Pubrec:
    packet_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Pubrel:
    packet_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Pubcomp:
    packet_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribe:
    packet_id: int
    filters: tuple[tuple[str, int], ...]  # (topic filter, requested QoS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Suback:
    packet_id: int
    return_codes: tuple[int, ...]  # granted QoS per filter, or SUBACK_FAILURE


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsubscribe:
    packet_id: int
    filters: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsuback:
    packet_id: int


@dataclass(frozen=True, slots=True)
class Pingreq:
    pass


@dataclass(frozen=True, slots=True)
class Pingresp:
    pass


@dataclass(frozen=True, slots=True)
class Disconnect:
    pass


Packet = (
    Connect
    | Connack
    | Publish
    | Puback
    | Pubrec
    | Pubrel
    | Pubcomp
    | Subscribe
    | Suback
    | Unsubscribe
    | Unsuback
    | Pingreq
    | Pingresp
    | Disconnect
)
