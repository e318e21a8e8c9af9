"""Septet packing (3GPP TS 23.038 section 6.1.2.1.1) with fill bits after a UDH.

Packing works on one big integer instead of a loop per septet. The octets
are read little-endian, so septet ``i`` sits in lane ``i`` (8 bits wide, 7
used). Three rounds, each two or three C-level big-integer operations, close
the gaps inside every group of eight lanes: round ``k`` moves the lower half
of each ``16 << k``-bit lane up by ``1 << k`` bits (``v += (v & low) * (2**s - 1)``),
so that a 64-bit lane holds its eight septets in bits 7..62. One shift by 7
makes that bits 0..55, and deleting every eighth octet (one C-level
``del buffer[7::8]``) joins the groups. Up to 32 septets the rounds simply go
on (five in all) and one shift puts the first septet at bit 0 (fill bits
included). Unpacking runs pairwise rounds backwards.
"""

from __future__ import annotations

from functools import cache

from gateway.model.errors import DecodeError


def _repeat(pattern: int, period: int, count: int) -> int:
    """``pattern`` (``period`` bits) repeated ``count`` times."""
    if count <= 0:
        return 0
    return pattern * (((1 << (period * count)) - 1) // ((1 << period) - 1))


@cache
def _unpack_rounds(rounds: int) -> tuple[tuple[int, int, int], ...]:
    lanes = 1 << rounds
    steps = []
    for k in reversed(range(rounds)):
        width = 8 << k  # width of the lanes this round produces
        used = 7 << k
        pairs = lanes >> (k + 1)
        low = _repeat((1 << used) - 1, 2 * width, pairs)
        steps.append((low, low << used, 1 << k))
    return tuple(steps)


_CHUNK = 2048  # septets per big-integer pass (a multiple of 8: whole octets)
_LOW_BYTES = _repeat(0x00FF, 16, _CHUNK // 2)  # round 0: the lower 8-bit lane of each pair
_LOW_WORDS = _repeat(0xFFFF, 32, _CHUNK // 4)  # round 1: the lower 16-bit lane
_LOW_DWORDS = _repeat(0xFFFFFFFF, 64, _CHUNK // 8)  # round 2: the lower 32-bit lane
_LOW7 = bytes(b & 0x7F for b in range(256))
_SHORT = 32  # up to this many septets, rounds all the way beat the octet deletion
_from_bytes = int.from_bytes


def _short_plan(n: int) -> tuple[tuple[tuple[int, int], ...], int]:
    """(lower-lane mask, factor) per round, then the shift that brings the
    first septet to bit 0: n septets padded to 2**rounds lanes end at the top."""
    rounds = (n - 1).bit_length()
    lanes = 1 << rounds
    steps = tuple(
        (_repeat((1 << (8 << k)) - 1, 16 << k, lanes >> (k + 1)), (1 << (1 << k)) - 1)
        for k in range(rounds)
    )
    return steps, lanes - 1


_SHORT_PLANS = [((), 0)] + [_short_plan(n) for n in range(1, _SHORT + 1)]


def pack(septets: bytes, fill_bits: int) -> bytes:
    """:func:`pack_septets` without checks, for the encoder's hot path:
    ``septets`` must be 1 to 2048 values below 0x80, ``fill_bits`` 0-6."""
    n = len(septets)
    value = _from_bytes(septets, "little")
    if n <= _SHORT:
        steps, shift = _SHORT_PLANS[n]
        for low, factor in steps:
            value += (value & low) * factor
        shift -= fill_bits
        value = value >> shift if shift >= 0 else value << -shift
        return value.to_bytes((7 * n + fill_bits + 7) >> 3, "little")
    value += value & _LOW_BYTES
    value += (value & _LOW_WORDS) * 3
    value += (value & _LOW_DWORDS) * 15
    octets = bytearray((value >> 7).to_bytes((n + 7) & ~7, "little"))
    del octets[7::8]
    size = (7 * n + fill_bits + 7) >> 3
    if fill_bits:
        return (_from_bytes(octets, "little") << fill_bits).to_bytes(size, "little")
    del octets[size:]
    return bytes(octets)


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets (one per octet, bit 8 ignored) into octets.

    ``fill_bits`` (0-6) zero bits come first, so that the septets start on a
    septet boundary after a UDH; the result holds ceil((fill + 7n) / 8) octets.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0-6, not {fill_bits}")
    n = len(septets)
    if n == 0:
        return b""
    septets = bytes(septets).translate(_LOW7)
    if n <= _CHUNK:
        return pack(septets, fill_bits)
    packed = b"".join(pack(septets[i : i + _CHUNK], 0) for i in range(0, n, _CHUNK))
    size = (7 * n + fill_bits + 7) >> 3
    return (int.from_bytes(packed, "little") << fill_bits).to_bytes(size, "little")


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """``count`` septets (one per octet) packed in ``data`` after ``fill_bits`` bits.

    Raises :class:`DecodeError` when ``data`` is too short to hold them.
    """
    if not 0 <= fill_bits <= 7:
        raise ValueError(f"fill_bits must be 0-7, not {fill_bits}")
    if count < 0:
        raise ValueError(f"count must be >= 0, not {count}")
    if count == 0:
        return b""
    if len(data) * 8 < 7 * count + fill_bits:
        raise DecodeError(
            f"{len(data)} octets cannot hold {count} septets after {fill_bits} fill bits"
        )
    value = (int.from_bytes(data, "little") >> fill_bits) & ((1 << (7 * count)) - 1)
    for low, high, shift in _unpack_rounds((count - 1).bit_length()):
        value = (value & low) | ((value & high) << shift)
    return value.to_bytes(count, "little")


def fill_bits_after(udh_length: int) -> int:
    """Fill bits that align the septets after a UDH of ``udh_length`` octets
    (length octet included)."""
    return (7 - (udh_length * 8) % 7) % 7


def septets_for_udh(udh_length: int) -> int:
    """Septets a UDH of ``udh_length`` octets occupies, fill bits included."""
    return (udh_length * 8 + 6) // 7
