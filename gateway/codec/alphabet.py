"""GSM 7-bit alphabets of 3GPP TS 23.038: the default table, its extension
table, and the national language locking-shift and single-shift tables
(annex A) for Turkish, Spanish and Portuguese.

Each table is kept here in a readable form and compiled once, at import, into
the structures the hot path uses: a C-level ``codecs`` encoding map per
(locking, single shift) pair, and decoding strings.

Encoding map layout: the map turns a character into one byte whose value is
its septet, except that septet 0x00 is emitted as 0x1B (the escape code is not
a character, so its slot is free; byte 0x00 must stay U+0000 for CPython to
build a fast map) and a single-shift character is emitted as ``0x80 | code``.
:func:`finish_septets` turns that into real septets (0x00 back, and
``0x80 | code`` into the escape pair ``0x1B code``).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

ESCAPE = 0x1B

# 23.038 section 6.2.1: the default alphabet, by septet value. 0x1B is the
# escape to the extension table (not a character): written "\x1b" here.
DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

# 23.038 section 6.2.1.1: the extension table (reached by 0x1B code).
DEFAULT_EXTENSION: dict[int, str] = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

# 23.038 annex A.3: national language locking-shift tables (replace the
# default alphabet as a whole).
LOCKING_SHIFT: dict[str, str] = {
    # A.3.1 Turkish
    "tr": (
        "@£$¥€éùıòÇ\nĞğ\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bŞşßÉ"
        " !\"#¤%&'()*+,-./0123456789:;<=>?"
        "İABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
        "çabcdefghijklmnopqrstuvwxyzäöñüà"
    ),
    # A.3.3 Portuguese
    "pt": (
        "@£$¥êéúíóç\nÔô\rÁáΔ_ªÇÀ∞^\\€Ó|\x1bÂâÊÉ"
        " !\"#º%&'()*+,-./0123456789:;<=>?"
        "ÍABCDEFGHIJKLMNOPQRSTUVWXYZÃÕÚÜ§"
        "~abcdefghijklmnopqrstuvwxyzãõ`üà"
    ),
}

# 23.038 annex A.2: national language single-shift tables (replace the
# extension table).
SINGLE_SHIFT: dict[str, dict[int, str]] = {
    # A.2.1 Turkish
    "tr": DEFAULT_EXTENSION
    | {
        0x47: "Ğ",
        0x49: "İ",
        0x53: "Ş",
        0x63: "ç",
        0x67: "ğ",
        0x69: "ı",  # noqa: RUF001 - dotless i is Turkish
        0x73: "ş",
    },
    # A.2.2 Spanish
    "es": DEFAULT_EXTENSION
    | {
        0x09: "ç",
        0x41: "Á",
        0x49: "Í",
        0x4F: "Ó",
        0x55: "Ú",
        0x61: "á",
        0x69: "í",
        0x6F: "ó",
        0x75: "ú",
    },
    # A.2.3 Portuguese
    "pt": DEFAULT_EXTENSION
    | {
        0x05: "ê",
        0x09: "ç",
        0x0B: "Ô",
        0x0C: "ô",
        0x0E: "Á",
        0x0F: "á",
        0x12: "Φ",
        0x13: "Γ",
        0x15: "Ω",
        0x16: "Π",
        0x17: "Ψ",
        0x18: "Σ",
        0x19: "Θ",
        0x1F: "Ê",
        0x41: "À",
        0x49: "Í",
        0x4F: "Ó",
        0x55: "Ú",
        0x5B: "Ã",
        0x5C: "Õ",
        0x61: "Â",
        0x69: "í",
        0x6F: "ó",
        0x75: "ú",
        0x7B: "ã",
        0x7C: "õ",
        0x7F: "â",
    },
}

# 23.038 section 6.2.1.2.4: national language identifiers (UDH IEs 0x24/0x25).
LANGUAGE_IDS: dict[str, int] = {"tr": 1, "es": 2, "pt": 3}
LANGUAGE_NAMES: dict[int, str] = {v: k for k, v in LANGUAGE_IDS.items()}
LANGUAGES = tuple(sorted(LANGUAGE_IDS))

_UNMAPPED = "\ufffe"  # a slot codecs.charmap_build leaves out


@dataclass(frozen=True, slots=True, kw_only=True)
class Tables:
    """One (locking shift, single shift) pair, compiled for encoding and decoding."""

    locking: str | None  # language code, None = default alphabet
    single: str | None  # language code, None = default extension table
    encoding_map: Any  # codecs EncodingMap: char -> byte (see module docstring)
    decoding: str  # septet -> char (128 characters, 0x1B = escape)
    extension: dict[int, str]  # code after an escape -> char
    ie_count: int  # UDH elements announcing these tables (0-2)
    chars: frozenset[str]  # every character these tables encode


def _compile(locking: str | None, single: str | None) -> Tables:
    base = DEFAULT_ALPHABET if locking is None else LOCKING_SHIFT[locking]
    extension = DEFAULT_EXTENSION if single is None else SINGLE_SHIFT[single]
    slots = [_UNMAPPED] * 256
    slots[0] = "\x00"  # required by charmap_build; NUL is rejected before encoding
    for septet, char in enumerate(base):
        if septet == ESCAPE:
            continue
        slots[ESCAPE if septet == 0 else septet] = char
    for code, char in extension.items():
        if char not in base:  # one septet beats an escape pair
            slots[0x80 | code] = char
    encoding_map = codecs.charmap_build("".join(slots))
    return Tables(
        locking=locking,
        single=single,
        encoding_map=encoding_map,
        decoding=base,
        extension=extension,
        ie_count=(locking is not None) + (single is not None),
        chars=frozenset(base.replace("\x1b", "")) | frozenset(extension.values()),
    )


DEFAULT_TABLES = _compile(None, None)
TABLES: dict[tuple[str | None, str | None], Tables] = {
    (lock, single): _compile(lock, single)
    for lock in (None, *sorted(LOCKING_SHIFT))
    for single in (None, *sorted(SINGLE_SHIFT))
}
TABLES[None, None] = DEFAULT_TABLES

# byte 0x1B (septet 0 in the encoding map) back to 0x00; everything else as is
FROM_MAP = bytes([0x00 if b == ESCAPE else b for b in range(256)])
SHIFTED = re.compile(rb"[\x80-\xff]")
_ESCAPE_PAIR = {bytes([0x80 | c]): bytes([ESCAPE, c]) for c in range(128)}


def escape_pair(match: re.Match[bytes]) -> bytes:
    return _ESCAPE_PAIR[match[0]]


def finish_septets(mapped: bytes) -> bytes:
    """Turn the encoding map's output into septets, one per octet."""
    septets = mapped.translate(FROM_MAP)
    if septets.isascii():
        return septets
    return SHIFTED.sub(escape_pair, septets)


def to_septets(text: str, tables: Tables = DEFAULT_TABLES) -> bytes:
    """Septets of ``text`` (one per octet); UnicodeEncodeError if a character
    is in neither table (its ``start`` is the character's position)."""
    return finish_septets(codecs.charmap_encode(text, "strict", tables.encoding_map)[0])


def decode_septets(septets: bytes, tables: Tables = DEFAULT_TABLES) -> str:
    """Text of unpacked septets, tolerant as 23.038 asks.

    An escape followed by a code the extension table does not define gives
    the base table's character for that code; an escape followed by another
    escape (reserved for a further extension table) gives a space, and so does
    an escape at the very end. Bit 8 of each octet is ignored.
    """
    base = tables.decoding
    if not septets.isascii():
        septets = bytes(b & 0x7F for b in septets)
    if ESCAPE not in septets:
        return codecs.charmap_decode(septets, "strict", base)[0]
    out: list[str] = []
    start = 0
    n = len(septets)
    while True:
        esc = septets.find(ESCAPE, start)
        if esc < 0:
            out.append(codecs.charmap_decode(septets[start:], "strict", base)[0])
            break
        out.append(codecs.charmap_decode(septets[start:esc], "strict", base)[0])
        if esc + 1 >= n:
            out.append(" ")
            break
        code = septets[esc + 1]
        if code == ESCAPE:
            out.append(" ")
        else:
            out.append(tables.extension.get(code, base[code]))
        start = esc + 2
    return "".join(out)


def tables_for(locking: str | int | None, single: str | int | None) -> Tables:
    """Tables for a pair of language codes or 23.038 ids; unknown ones fall
    back to the default table (as handsets do)."""
    lock = LANGUAGE_NAMES.get(locking) if isinstance(locking, int) else locking
    shift = LANGUAGE_NAMES.get(single) if isinstance(single, int) else single
    if lock not in LOCKING_SHIFT:
        lock = None
    if shift not in SINGLE_SHIFT:
        shift = None
    return TABLES[lock, shift]
