"""User data header (3GPP TS 23.040 section 9.2.3.24): build and parse.

Information elements handled: concatenation with an 8-bit reference (IEI
0x00) or a 16-bit reference (IEI 0x08), national language single shift (IEI
0x24) and locking shift (IEI 0x25). Other elements are kept raw and
otherwise skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from gateway.model.errors import DecodeError

IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08
IEI_SINGLE_SHIFT = 0x24
IEI_LOCKING_SHIFT = 0x25


class Concat(NamedTuple):
    """A concatenation element: (reference, total, sequence)."""

    reference: int
    total: int
    sequence: int


class InformationElement(NamedTuple):
    iei: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Udh:
    """A parsed header. ``length`` counts every octet, the length octet included,
    so ``user_data[udh.length:]`` is what follows the header."""

    length: int
    elements: tuple[InformationElement, ...]
    concat: Concat | None = None
    concat_16bit: bool = False
    single_shift: int | None = None  # national language id (23.038 6.2.1.2.4)
    locking_shift: int | None = None

    @property
    def national(self) -> tuple[int | None, int | None] | None:
        """(locking shift id, single shift id) for decode_payload, or None."""
        if self.single_shift is None and self.locking_shift is None:
            return None
        return (self.locking_shift, self.single_shift)


def udh_build(
    *,
    concat: tuple[int, int, int] | None = None,
    concat_16bit: bool = False,
    single_shift: int | None = None,
    locking_shift: int | None = None,
    extra: Iterable[tuple[int, bytes]] = (),
) -> bytes:
    """A complete header (length octet first), or b"" when it has no element.

    ``concat`` is (reference, total, sequence); the reference takes 8 bits
    (IEI 0x00) or, with ``concat_16bit``, 16 bits (IEI 0x08).
    """
    body = bytearray()
    if concat is not None:
        body += _concat_element(concat, concat_16bit)
    if single_shift is not None:
        body += bytes((IEI_SINGLE_SHIFT, 1, single_shift))
    if locking_shift is not None:
        body += bytes((IEI_LOCKING_SHIFT, 1, locking_shift))
    for iei, data in extra:
        body += bytes((iei, len(data))) + data
    if not body:
        return b""
    if len(body) > 139:
        raise ValueError(f"header of {len(body)} octets does not fit in a message")
    return bytes((len(body),)) + bytes(body)


def _concat_element(concat: tuple[int, int, int], concat_16bit: bool) -> bytes:
    reference, total, sequence = concat
    if not 1 <= total <= 255 or not 1 <= sequence <= total:
        raise ValueError(f"bad concatenation total/sequence {total}/{sequence}")
    if concat_16bit:
        if not 0 <= reference <= 0xFFFF:
            raise ValueError(f"16-bit reference out of range: {reference}")
        return bytes((IEI_CONCAT_16, 4, reference >> 8, reference & 0xFF, total, sequence))
    if not 0 <= reference <= 0xFF:
        raise ValueError(f"8-bit reference out of range: {reference}")
    return bytes((IEI_CONCAT_8, 3, reference, total, sequence))


def parse_udh(user_data: bytes) -> Udh:
    """Parse the header at the start of ``user_data`` (its length octet first).

    Elements that 23.040 says to ignore (a concatenation whose total is 0 or
    whose sequence is 0 or above the total) are kept raw but not interpreted;
    when an element repeats, the last one wins. A header that runs past the
    data, or an element that runs past the header, raises DecodeError.
    """
    header = _header(user_data)
    udhl = len(header)
    elements: list[InformationElement] = []
    concat: Concat | None = None
    concat_16bit = False
    single: int | None = None
    locking: int | None = None
    pos = 0
    while pos < udhl:
        if pos + 2 > udhl:
            raise DecodeError(f"truncated information element at header octet {pos}")
        iei, length = header[pos], header[pos + 1]
        data = header[pos + 2 : pos + 2 + length]
        if len(data) != length:
            raise DecodeError(f"information element 0x{iei:02X} runs past the header")
        elements.append(InformationElement(iei, bytes(data)))
        pos += 2 + length
        if iei == IEI_CONCAT_8 and length == 3:
            found = Concat(data[0], data[1], data[2])
            if _valid(found):
                concat, concat_16bit = found, False
        elif iei == IEI_CONCAT_16 and length == 4:
            found = Concat((data[0] << 8) | data[1], data[2], data[3])
            if _valid(found):
                concat, concat_16bit = found, True
        elif iei == IEI_SINGLE_SHIFT and length == 1:
            single = data[0]
        elif iei == IEI_LOCKING_SHIFT and length == 1:
            locking = data[0]
    return Udh(
        length=udhl + 1,
        elements=tuple(elements),
        concat=concat,
        concat_16bit=concat_16bit,
        single_shift=single,
        locking_shift=locking,
    )


def _header(user_data: bytes) -> bytes:
    """The header's octets, after its length octet."""
    if not user_data:
        raise DecodeError("empty user data: no header length octet")
    udhl = user_data[0]
    if udhl + 1 > len(user_data):
        raise DecodeError(f"header length {udhl} runs past {len(user_data) - 1} octets of data")
    return user_data[1 : udhl + 1]


def _valid(concat: Concat) -> bool:
    return concat.total >= 1 and 1 <= concat.sequence <= concat.total
