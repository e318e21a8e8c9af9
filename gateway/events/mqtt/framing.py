"""MQTT 3.1.1 framing: a byte stream cut into packets (section 2.2).

A packet is its first byte (type in the high four bits, flags in the low
four), the remaining length as one to four base-128 digits, least
significant first, each but the last with its high bit set (2.2.3), then
that many bytes. :class:`FrameReader` takes bytes as they come (a byte at a
time or many packets at once) and returns whole packets as ``(first byte,
body)``; it never holds more than one packet of ``max_packet`` bytes. A
PUBLISH longer than that is not buffered: its head (topic, packet id and the
start of its payload) comes out as :class:`Oversized` and the rest is
skipped, so that one huge message does not end the connection (it would
come back at every reconnect); any other packet that long is a protocol error.
"""

from __future__ import annotations

from gateway.events.mqtt.errors import MqttProtocolError, MqttUsageError

__all__ = [
    "HEAD",
    "MAX_REMAINING",
    "PAYLOAD_HEAD",
    "FrameReader",
    "Oversized",
    "encode_length",
]

MAX_REMAINING = 268_435_455  # four base-128 digits (2.2.3)
# bytes kept of a PUBLISH too long to buffer: a topic of any length (2 + 65,535),
# the packet id (2) and the first KiB of the payload
PAYLOAD_HEAD = 1024
HEAD = 2 + 0xFFFF + 2 + PAYLOAD_HEAD
_PUBLISH = 3


def encode_length(n: int) -> bytes:
    """The remaining length ``n`` as MQTT's variable-length digits (2.2.3)."""
    if n < 128:
        if n < 0:
            msg = f"MQTT remaining length {n}: negative"
            raise MqttUsageError(msg)
        return bytes((n,))
    if n > MAX_REMAINING:
        msg = f"MQTT packet of {n} bytes: over the protocol's limit of {MAX_REMAINING}"
        raise MqttUsageError(msg)
    out = bytearray()
    while n:
        digit, n = n & 0x7F, n >> 7
        out.append(digit | 0x80 if n else digit)
    return bytes(out)


class Oversized:
    """The head of a PUBLISH over ``max_packet`` bytes; the rest of it is skipped."""

    __slots__ = ("first", "head", "size")

    def __init__(self, first: int, size: int, head: bytes) -> None:
        self.first = first  # the fixed header's first byte (type and flags)
        self.size = size  # the remaining length the broker announced
        self.head = head  # the first bytes of the body (at most HEAD)

    def __repr__(self) -> str:
        return f"Oversized(first=0x{self.first:02x}, size={self.size}, head={len(self.head)} bytes)"


Frame = tuple[int, bytes]  # (first byte, body)


class FrameReader:
    """Cuts a byte stream into MQTT packets, holding at most one unfinished one."""

    def __init__(self, *, max_packet: int) -> None:
        if not 0 < max_packet <= MAX_REMAINING:
            msg = f"max_packet {max_packet}: between 1 and {MAX_REMAINING}"
            raise MqttUsageError(msg)
        self.max_packet = max_packet
        self._buf = bytearray()  # the start of the next packet
        self._need = 0  # bytes _buf must hold before it is worth parsing again
        self._skip = 0  # bytes still to drop of an oversized PUBLISH

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | Oversized]:
        """The packets completed by ``data``, in order; raises MqttProtocolError."""
        frames: list[Frame | Oversized] = []
        if self._skip or self._buf:
            data = self._resume(data)  # b"" (nothing to parse) while incomplete
        n = len(data)
        pos = 0
        need = 0
        while n - pos >= 2:  # the first byte and a length digit
            first = data[pos]
            length = data[pos + 1]
            p = pos + 2
            if length & 0x80:  # more digits: at most three more
                if p < n and not data[p] & 0x80:  # two (up to 16 KiB): the usual case
                    length = (length & 0x7F) | (data[p] << 7)
                    p += 1
                else:
                    length, p = _more_digits(data, p, length & 0x7F)
                    if length < 0:
                        need = p - pos + 1
                        break
            if length > self.max_packet:
                pos, need = self._oversized(data, pos, p, first, length, frames)
                if need:
                    break
                continue
            end = p + length
            if end > n:
                need = end - pos
                break
            frames.append((first, data[p:end]))
            pos = end
        if pos < n:
            self._buf += memoryview(data)[pos:]
            self._need = need or 2  # 0: the loop stopped at a lone first byte
        return frames

    def _resume(self, data: bytes) -> bytes:
        """What to parse now: ``data`` less the rest of an oversized PUBLISH still
        to skip, or the start of a packet kept from earlier followed by ``data``;
        b"" while the skip or that packet is not complete."""
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return b""
            data, self._skip = data[self._skip :], 0
            return data
        self._buf += data
        if len(self._buf) < self._need:
            return b""  # a long packet arriving in pieces: copied once, at the end
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def _oversized(  # noqa: PLR0917 - feed()'s parsing state, private
        self,
        data: bytes,
        pos: int,
        p: int,
        first: int,
        length: int,
        frames: list[Frame | Oversized],
    ) -> tuple[int, int]:
        """The PUBLISH at ``pos`` whose body (``length`` bytes from ``p``) is over
        ``max_packet``: its head into ``frames``, the rest skipped. Returns the next
        packet's position and the bytes needed from ``pos`` (0 unless its head is
        not complete)."""
        if first >> 4 != _PUBLISH:
            msg = (
                f"MQTT packet of type {first >> 4} with {length} bytes: over the "
                f"limit of {self.max_packet}"
            )
            raise MqttProtocolError(msg)
        n = len(data)
        head = min(length, HEAD)
        if n - p < head:
            return pos, p - pos + head
        frames.append(Oversized(first, length, data[p : p + head]))
        rest = length - head
        p += head
        if n - p < rest:
            self._skip = rest - (n - p)
            return n, 0
        return p + rest, 0


def _more_digits(data: bytes, p: int, length: int) -> tuple[int, int]:
    """The remaining length whose first digit, ``length``, said more follow from
    ``p``: ``(length, position after it)``, or ``(-1, p)`` when ``data`` ends at
    ``p`` before its last digit."""
    shift = 7
    while p < len(data):
        digit = data[p]
        p += 1
        length |= (digit & 0x7F) << shift
        if not digit & 0x80:
            return length, p
        if shift == 21:
            msg = "MQTT remaining length of more than four bytes (2.2.3)"
            raise MqttProtocolError(msg)
        shift += 7
    return -1, p
