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
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return frames
            data, self._skip = data[self._skip :], 0
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return frames  # a long packet arriving in pieces: copied once, at the end
            data = bytes(self._buf)
            self._buf.clear()
        n = len(data)
        pos = 0
        need = 0
        while pos < n:
            if n - pos < 2:
                need = 2
                break
            first = data[pos]
            length = data[pos + 1]
            p = pos + 2
            if length & 0x80:  # more digits: at most three more
                length &= 0x7F
                shift = 7
                while True:
                    if p >= n:
                        need = p - pos + 1
                        break
                    digit = data[p]
                    p += 1
                    length |= (digit & 0x7F) << shift
                    if not digit & 0x80:
                        break
                    if shift == 21:
                        msg = "MQTT remaining length of more than four bytes (2.2.3)"
                        raise MqttProtocolError(msg)
                    shift += 7
                if need:
                    break
            if length > self.max_packet:
                if first >> 4 != _PUBLISH:
                    msg = (
                        f"MQTT packet of type {first >> 4} with {length} bytes: over the "
                        f"limit of {self.max_packet}"
                    )
                    raise MqttProtocolError(msg)
                head = min(length, HEAD)
                if n - p < head:
                    need = p - pos + head
                    break
                frames.append(Oversized(first, length, data[p : p + head]))
                rest = length - head
                p += head
                if n - p < rest:
                    self._skip = rest - (n - p)
                    pos = n
                    break
                pos = p + rest
                continue
            end = p + length
            if end > n:
                need = end - pos
                break
            frames.append((first, data[p:end]))
            pos = end
        if pos < n:
            self._buf += memoryview(data)[pos:]
            self._need = need
        return frames
