"""Planning a text: which alphabet and tables, where the segments end.

Shared by :func:`gateway.codec.encode` and :func:`gateway.codec.analyze`.
Choices (documented in the package README section):

- Empty text: one segment with an empty payload (an empty SMS is valid).
- NUL (U+0000) is refused (InvalidText): it has no GSM-7 code and SMSCs
  treat it as a C string end. Lone surrogates are refused too.
- With national tables allowed, the candidate that needs the fewest segments
  wins; on equal counts plain GSM-7 first, then UCS-2 (which every handset
  renders), then the national tables with the fewest header elements.
"""

from __future__ import annotations

import codecs
from typing import Any, NamedTuple, TypeVar

from gateway.codec.alphabet import (
    DEFAULT_TABLES,
    LANGUAGE_IDS,
    LANGUAGES,
    LOCKING_SHIFT,
    SINGLE_SHIFT,
    TABLES,
    Tables,
    finish_septets,
)
from gateway.model.errors import ConfigError, InvalidText, TextTooLong, UnencodableCharacter

CONCAT_MODES = ("udh8", "udh16", "sar", "payload")
MAX_SEGMENTS = 255
_USER_DATA = 140  # octets of TP-UD in one SMS
# octets of the concatenation element each mode puts (or makes the SMSC put)
# in every segment of a multi-part message
CONCAT_IE = {"udh8": 5, "udh16": 6, "sar": 5, "payload": 5}
charmap_encode = codecs.charmap_encode
DEFAULT_MAP = DEFAULT_TABLES.encoding_map


class Plan(NamedTuple):
    # a plain tuple subclass: built once per call on the hot path, where a
    # frozen dataclass costs a microsecond
    encoding: str
    data: bytes  # septets (one per octet) or UTF-16-BE
    tables: Tables | None  # None for UCS-2
    ends: list[int]  # end offset of each segment in data
    single: bool  # one segment, without a concatenation element
    capacity: int  # octets of data per segment


_new_plan = tuple.__new__


def normalize_national(national: tuple[str, ...] | list[str] | str) -> tuple[str, ...]:
    """Language codes, lower-cased and checked (ConfigError for unknown ones)."""
    if isinstance(national, str):
        national = tuple(x for x in national.split(",") if x.strip())
    codes = []
    for name in national:
        code = name.strip().lower()
        if code not in LANGUAGE_IDS:
            known = ", ".join(LANGUAGES)
            raise ConfigError(f"unknown national language {name!r}; known: {known}")
        if code not in codes:
            codes.append(code)
    return tuple(codes)


def check_text(text: object) -> str:
    if type(text) is not str and not isinstance(text, str):
        raise InvalidText(f"text must be a str, not {type(text).__name__}")
    if "\x00" in text:
        raise InvalidText(f"text contains NUL (U+0000) at position {text.index(chr(0))}")
    return text


def surrogate_error(text: str, position: int) -> InvalidText:
    return InvalidText(
        f"text contains a lone surrogate U+{ord(text[position]):04X} at position {position}"
    )


def _udh_length(single: bool, concat: str, ies: int) -> int:
    octets = 3 * ies + (0 if single else CONCAT_IE[concat])
    return octets + 1 if octets else 0


def _capacity(encoding: str, udh_length: int) -> int:
    room = _USER_DATA - udh_length
    return room * 8 // 7 if encoding == "gsm7" else room & ~1


def cut(data: bytes, capacity: int, ucs2: bool) -> list[int]:
    n = len(data)
    ends = []
    start = 0
    while True:
        end = start + capacity
        if end >= n:
            ends.append(n)
            return ends
        if ucs2:
            if 0xD8 <= data[end - 2] <= 0xDB:  # high surrogate: keep the pair
                end -= 2
        elif data[end - 1] == 0x1B:  # escape: keep the pair
            end -= 1
        ends.append(end)
        start = end


# (encoding, concat, national elements) -> (one-segment capacity, multi-segment capacity)
CAPACITY = {
    (encoding, concat, ies): (
        _capacity(encoding, _udh_length(True, concat, ies)),
        _capacity(encoding, _udh_length(False, concat, ies)),
    )
    for encoding in ("gsm7", "ucs2")
    for concat in CONCAT_MODES
    for ies in (0, 1, 2)
}


def plan_for(encoding: str, data: bytes, tables: Tables | None, concat: str) -> Plan:
    single, multi = CAPACITY[encoding, concat, tables.ie_count if tables is not None else 0]
    if len(data) <= single:
        return _new_plan(Plan, (encoding, data, tables, [len(data)], True, single))
    ends = cut(data, multi, encoding == "ucs2")
    return _new_plan(Plan, (encoding, data, tables, ends, False, multi))


def ucs2(text: str) -> bytes:
    try:
        return text.encode("utf-16-be")
    except UnicodeEncodeError as exc:
        raise surrogate_error(text, exc.start) from None


def candidates(national: tuple[str, ...]) -> list[Tables]:
    locks = [None, *(x for x in national if x in LOCKING_SHIFT)]
    singles = [None, *(x for x in national if x in SINGLE_SHIFT)]
    found = [TABLES[lock, single] for lock in locks for single in singles]
    found.sort(key=lambda t: t.ie_count)  # stable: plain, one element, both
    return found[1:]


def plan(text: object, encoding: str | None, national: Any, concat: str) -> Plan:
    """Check ``text`` and choose its alphabet, tables and segment ends."""
    text = check_text(text)
    if concat not in CONCAT_IE:
        raise ValueError(f"concat must be one of {CONCAT_MODES}, not {concat!r}")
    if encoding == "ucs2":
        return plan_for("ucs2", ucs2(text), None, concat)
    if encoding is not None and encoding != "gsm7":
        raise ValueError(f"encoding must be None, 'gsm7' or 'ucs2', not {encoding!r}")
    if national:
        national = normalize_national(national)
    try:
        mapped = charmap_encode(text, "strict", DEFAULT_TABLES.encoding_map)[0]
    except UnicodeEncodeError as exc:
        bad = exc.start
    else:
        plain = plan_for("gsm7", finish_septets(mapped), DEFAULT_TABLES, concat)
        if not national or plain.single:
            return plain
        return _fewest_segments(text, national, concat, plain)
    # no plain GSM-7: UCS-2 (unless GSM-7 is forced) or national tables
    best = plan_for("ucs2", ucs2(text), None, concat) if encoding is None else None
    if national:
        best = _fewest_segments(text, national, concat, best)
    if best is None:
        raise _unencodable(text, national, bad)
    return best


# a plan so far, or none: _fewest_segments returns a plan when it was given one
_Best = TypeVar("_Best", Plan, Plan | None)


def _fewest_segments(text: str, national: tuple[str, ...], concat: str, best: _Best) -> _Best:
    """``best``, or the plan of national tables that needs fewer segments (the
    first of those with equal counts)."""
    for tables in candidates(national):
        try:
            mapped = charmap_encode(text, "strict", tables.encoding_map)[0]
        except UnicodeEncodeError:
            continue
        candidate = plan_for("gsm7", finish_septets(mapped), tables, concat)
        if best is None or len(candidate.ends) < len(best.ends):
            best = candidate
    return best


def _unencodable(
    text: str, national: tuple[str, ...], bad: int
) -> InvalidText | UnencodableCharacter:
    """The error for a text no allowed alphabet has: its first character
    that no allowed table has (``bad`` for plain GSM-7)."""
    if national:
        known = frozenset().union(*(t.chars for t in candidates(national)))
        bad = next(i for i, char in enumerate(text) if char not in known)
    if 0xD800 <= ord(text[bad]) <= 0xDFFF:
        return surrogate_error(text, bad)
    return UnencodableCharacter(text[bad], bad, "gsm7")


def check_count(planned: Plan) -> int:
    """The segment count, or TextTooLong beyond 255."""
    total = len(planned.ends)
    if total > MAX_SEGMENTS:
        raise TextTooLong(total, MAX_SEGMENTS)
    return total
