"""Septet packing (3GPP TS 23.038 section 6.1.2.1.1) with fill bits after a UDH.

Packing is done on one big integer instead of a loop per septet: the octets
are read little-endian, so septet ``i`` sits in lane ``i`` (8 bits wide, 7
used); lanes are then merged pairwise in log2(n) rounds (two 8-bit lanes into
one 16-bit lane holding 14 bits, then 32-bit lanes holding 28 bits...), each
round three C-level big-integer operations. Unpacking runs the same rounds
backwards.
"""

from __future__ import annotations

from functools import cache

from gateway.errors import DecodeError


def _repeat(pattern: int, period: int, count: int) -> int:
    """``pattern`` (``period`` bits) repeated ``count`` times."""
    if count <= 0:
        return 0
    return pattern * (((1 << (period * count)) - 1) // ((1 << period) - 1))


@cache
def _pack_rounds(rounds: int) -> tuple[int, tuple[tuple[int, int, int], ...]]:
    lanes = 1 << rounds
    low7 = _repeat(0x7F, 8, lanes)
    steps = []
    for k in range(rounds):
        width = 8 << k
        pairs = lanes >> (k + 1)
        even = _repeat((1 << width) - 1, 2 * width, pairs)
        steps.append((even, even << width, 1 << k))
    return low7, tuple(steps)


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
    rounds = (n - 1).bit_length()
    low7, steps = _pack_rounds(rounds)
    value = int.from_bytes(septets, "little") & low7
    for even, odd, shift in steps:
        value = (value & even) | ((value & odd) >> shift)
    return (value << fill_bits).to_bytes((7 * n + fill_bits + 7) >> 3, "little")


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
