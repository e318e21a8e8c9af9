"""Recipients: E.164 validation, CSV recipient lists and phonebook imports.

Pure functions (text in, values out, no I/O except :func:`read_recipient_file`).

Choices made here:

- A recipient is written in international format: ``+``, the country code, the
  number. Spaces, dots, dashes and parentheses between digits are accepted
  (``+33 6.12.34.56.78``, ``+1 (202) 555-0123``) and dropped. Validation is
  ``phonenumbers.is_valid_number`` (the number's range exists in its country's
  plan; answered by :mod:`gateway.model.numbering`, compiled once); the result is the
  canonical E.164 form, so normalizing twice is a no-op.
- National formats (``0612345678``) are refused: the country cannot be guessed.
- The ``00`` international prefix (``0033612345678``) is refused too, with the
  ``+`` form as the hint: the prefix differs between countries (``011`` from
  North America, ``810`` from Russia...), so reading ``00`` as ``+`` would be a
  guess that is right only in some of them.
- Letters are refused, vanity numbers included (``+1-800-FLOWERS``).
- CSV files: the delimiter is sniffed among ``,`` ``;`` and tab; cells may be
  quoted; a UTF-8 byte order mark is dropped; blank lines are skipped; line
  numbers are the 1-based physical lines of the file (the first line of a row
  whose quoted cell spans lines). A quote that is never closed makes the file
  unreadable (:class:`UserError` naming the line) rather than silently
  swallowing the rows after it.
- Recipient lists: the number is the first column, other columns are ignored;
  the first non-blank row is a header, and skipped, when its first cell holds no
  digit (``phone``, ``number``, ``msisdn``...).
- Phonebook imports: a header names the columns, case-insensitively: the
  number column is one of :data:`NUMBER_HEADERS` (``number``, ``phone``,
  ``msisdn``, ``mobile``...) and is required; the name column is one of
  :data:`NAME_HEADERS` and is optional (missing names are empty). Without a
  recognized header, the first column is the name and the second the number,
  provided the first row's second cell holds a digit; otherwise the file is
  refused with the expected layout.
- Invalid rows are reported (line, value, reason) and skipped; a number seen
  again is counted in ``duplicates`` and kept once, at its first position.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import pathlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, ValidationResult

from gateway.model import numbering
from gateway.model.errors import InvalidRecipient, UserError

__all__ = [
    "NAME_HEADERS",
    "NUMBER_HEADERS",
    "Contact",
    "ContactList",
    "RecipientList",
    "RowError",
    "check_e164",
    "merge_recipients",
    "normalize_e164",
    "read_contacts_csv",
    "read_recipient_csv",
    "read_recipient_file",
]

E164_MAX_DIGITS = 15  # ITU-T E.164 section 6.2.1
_MAX_INPUT = 64  # longer input is refused before any parsing
_VALUE_SHOWN = 80  # a RowError keeps at most this many characters of the cell
_SEPARATORS = frozenset(" \u00a0.-()")
_DIGITS = frozenset("0123456789")
_DELIMITERS = (",", ";", "\t")
_SNIFF_LINES = 50
_QUOTED = re.compile(r'"(?:[^"]|"")*"')
_INTERNATIONAL_HINT = (
    "write it in international format: + then the country code then the number "
    "without its leading 0, e.g. +33612345678"
)

NUMBER_HEADERS = frozenset(
    {
        "number",
        "phone",
        "phone number",
        "msisdn",
        "mobile",
        "mobile number",
        "mobile phone",
        "cell",
        "cellphone",
        "cell phone",
        "tel",
        "telephone",
        "e164",
        "to",
        "recipient",
        "numero",
        "numéro",
        "téléphone",
        "portable",
    }
)
NAME_HEADERS = frozenset(
    {"name", "full name", "fullname", "display name", "contact", "contact name", "nom"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RowError:
    """A row of a CSV file that was skipped, and why."""

    line: int  # 1-based physical line of the file
    value: str  # the offending cell (at most 80 characters)
    reason: str  # one line, without the value


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientList:
    numbers: tuple[str, ...]  # E.164, deduplicated, in first-occurrence order
    errors: tuple[RowError, ...]
    duplicates: int  # valid rows dropped because their number came earlier


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    name: str
    number: str  # E.164


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactList:
    contacts: tuple[Contact, ...]  # one per number, first occurrence kept
    errors: tuple[RowError, ...]
    duplicates: int


# --- one number -------------------------------------------------------------


def normalize_e164(raw: str) -> str:
    """Return ``raw`` as ``+<digits>`` if it is a valid E.164 number.

    Raises :class:`InvalidRecipient` with one line saying what is wrong and,
    where possible, how to write it.
    """
    number, reason = _checked(raw)
    if number is None:
        raise InvalidRecipient(f"invalid phone number {_shown(raw)}: {reason}")
    return number


# Validation (phonenumbers metadata) costs ~20 us a number; requests to the same
# numbers recur (campaigns, retries of a POST), so recent answers are kept. The
# answer depends on the input string only: a cache changes no result.
@functools.lru_cache(maxsize=65_536)
def _checked(raw: str) -> tuple[str | None, str]:
    return check_e164(raw)


def check_e164(raw: str) -> tuple[str | None, str]:
    """``(number, "")`` for a valid number, else ``(None, reason)``.

    The reason is one line without the value, for callers that report the
    value their own way (CSV rows, sender addresses).
    """
    text = raw.strip()
    if not text:
        return None, "empty"
    if len(text) > _MAX_INPUT:
        return None, f"too long (more than {_MAX_INPUT} characters)"
    if text[0] == "+" and text[1:].isascii() and text[1:].isdigit():
        return _check_digits(text[1:])  # "+digits", as most callers write it
    for char in text:
        if char in _DIGITS or char in _SEPARATORS or char == "+":
            continue
        if char.isalpha():
            return None, "contains letters; a phone number is + and digits only"
        return None, f"unexpected character {char!r}; use + and digits only"
    if "+" in text[1:]:
        return None, "'+' may only start the number"
    digits = "".join(char for char in text if char in _DIGITS)
    if not digits:
        return None, "no digits"
    if not text.startswith("+"):
        if digits.startswith("00") and len(digits) > 2:
            return None, f"00 is a dialling prefix, not part of the number: write +{digits[2:]}"
        return None, f"national format; {_INTERNATIONAL_HINT}"
    return _check_digits(digits)


def _check_digits(digits: str) -> tuple[str | None, str]:
    """:func:`check_e164` for ``"+" + digits`` (ASCII digits)."""
    if len(digits) > E164_MAX_DIGITS:
        return None, f"too long: an E.164 number has at most {E164_MAX_DIGITS} digits"
    try:
        parsed = parse_plus_digits(digits) or phonenumbers.parse("+" + digits, None)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            return None, "unknown country code after +"
        if exc.error_type == NumberParseException.TOO_LONG:
            return None, "too long"
        return None, "too short"
    if not numbering.is_valid(parsed):
        return None, _invalid_reason(parsed)
    return numbering.e164(parsed), ""


# phonenumbers.parse() spends ~60% of a validation on what a "+digits" string
# does not need (extension and RFC 3966 handling, viability regexes, the
# normalisation of letters and punctuation). parse_plus_digits takes the rest
# of its steps for that input only, on the library's public metadata (its
# country codes, each region's national prefix rule and possible lengths);
# anything unusual (no known country code, too short or long) goes to parse()
# itself. tests/gateway/ingress/test_recipients.py checks it against parse()
# over every country code.
NSN_MIN, NSN_MAX = 2, 17  # national significant number lengths that parse() accepts
_COUNTRY_CODES = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@functools.cache
def _prefix_rule(code: int) -> tuple[PhoneMetadata, re.Pattern[str] | None, re.Pattern[str]] | None:
    """The metadata of a country code, its national prefix pattern (None: none) and
    its national number pattern, compiled once."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    if metadata is None or metadata.general_desc is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    national = metadata.general_desc.national_number_pattern or ""
    return metadata, re.compile(prefix) if prefix else None, re.compile(national)


def _strip_national_prefix(
    national: str, rule: re.Pattern[str] | None, metadata: PhoneMetadata, pattern: re.Pattern[str]
) -> str:
    """``national`` without a national prefix written after the country code (``+44 0...``),
    as parse() reads it: only when what is left still fits the region's numbers."""
    if rule is None:
        return national
    found = rule.match(national)
    if found is None:
        return national
    viable = pattern.fullmatch(national) is not None
    transform = metadata.national_prefix_transform_rule
    groups = found.groups()
    if transform and groups and groups[-1] is not None:
        stripped = rule.sub(transform, national, count=1)
    else:
        stripped = national[found.end() :]
    if viable and pattern.fullmatch(stripped) is None:
        return national
    return stripped


def _length_kept(national: str, metadata: PhoneMetadata) -> bool:
    """Whether parse() keeps the prefix it could strip: the stripped number's length is
    too short, local only, or not one of the region's possible lengths."""
    desc = metadata.general_desc
    if desc is None:
        return True
    lengths = desc.possible_length or ()
    if not lengths or lengths[0] == -1:
        return True
    n = len(national)
    if n in (desc.possible_length_local_only or ()):
        return True
    if n < lengths[0]:
        return True
    if n > lengths[-1]:
        return False  # too long: parse() strips it all the same
    return n not in lengths


def parse_plus_digits(digits: str) -> phonenumbers.PhoneNumber | None:
    """``phonenumbers.parse("+" + digits)`` for ASCII digits, or None to call parse()."""
    if len(digits) <= NSN_MIN + 1 or digits[0] == "0":
        return None
    code = next((int(digits[:n]) for n in (1, 2, 3) if int(digits[:n]) in _COUNTRY_CODES), 0)
    if code == 0:
        return None
    national = digits[len(str(code)) :]
    found = _prefix_rule(code)
    if found is None or len(national) < NSN_MIN:
        return None
    metadata, rule, pattern = found
    stripped = _strip_national_prefix(national, rule, metadata, pattern)
    if stripped != national and not _length_kept(stripped, metadata):
        national = stripped
    if not NSN_MIN <= len(national) <= NSN_MAX:
        return None
    number = phonenumbers.PhoneNumber(country_code=code)
    if len(national) > 1 and national[0] == "0":
        # parse() keeps leading zeros (Italy's fixed lines) as these two fields
        number.italian_leading_zero = True
        zeros = len(national) - len(national.lstrip("0"))
        zeros = min(zeros, len(national) - 1)
        if zeros != 1:
            number.number_of_leading_zeros = zeros
    number.national_number = int(national)
    return number


def _invalid_reason(parsed: phonenumbers.PhoneNumber) -> str:
    region = phonenumbers.region_code_for_number(parsed)
    if region == "001":
        region = "non-geographic"
    where = f"+{parsed.country_code}" + (f" ({region})" if region else "")
    result = phonenumbers.is_possible_number_with_reason(parsed)
    if result == ValidationResult.INVALID_COUNTRY_CODE:
        return "unknown country code after +"
    if result == ValidationResult.TOO_SHORT:
        return f"too short for {where}"
    if result == ValidationResult.TOO_LONG:
        return f"too long for {where}"
    if result == ValidationResult.INVALID_LENGTH:
        return f"wrong length for {where}"
    return f"not a valid number for {where} (no such number range)"


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _clip(value: str) -> str:
    return value if len(value) <= _VALUE_SHOWN else value[: _VALUE_SHOWN - 1] + "…"


def merge_recipients(*lists: Iterable[str]) -> tuple[str, ...]:
    """Concatenate the lists, keeping each number once at its first position."""
    return tuple(dict.fromkeys(number for numbers in lists for number in numbers))


# --- CSV --------------------------------------------------------------------


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first physical line, cells)`` for each non-blank row of ``text``.

    Raises :class:`UserError` for text that is not CSV at all.
    """
    text = text.removeprefix("\ufeff")
    nul = text.find("\x00")
    if nul >= 0:
        line = _line_of(text, nul)
        raise UserError(
            f"malformed CSV: NUL byte at line {line}; this looks like a binary file "
            "(a spreadsheet?): export it as CSV"
        )
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    end = 0
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UserError(f"malformed CSV at line {start}: {exc} (check the quotes)") from None
        end = reader.line_num
        if any(cell.strip() for cell in cells):
            yield start, cells


def _line_of(text: str, index: int) -> int:
    return len(io.StringIO(text[: index + 1], newline=None).readlines())


def _sniff_delimiter(text: str) -> str:
    """The candidate found outside quotes on the most sample lines (ties: , ; tab)."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    sampled = 0
    for line in io.StringIO(text, newline=None):
        if not line.strip():
            continue
        bare = _QUOTED.sub("", line)
        for delimiter in _DELIMITERS:
            if delimiter in bare:
                counts[delimiter] += 1
        sampled += 1
        if sampled >= _SNIFF_LINES:
            break
    return max(_DELIMITERS, key=lambda d: counts[d])  # max keeps the first of ties


def _has_digit(cell: str) -> bool:
    return any(char in _DIGITS for char in cell)


def read_recipient_csv(text: str) -> RecipientList:
    """Read a recipient list: one number per row, in the first column."""
    check = functools.cache(check_e164)  # repeated cells are checked once
    numbers: dict[str, None] = {}
    errors: list[RowError] = []
    duplicates = 0
    first = True
    for line, cells in _rows(text):
        cell = cells[0].strip()
        if first:
            first = False
            if not _has_digit(cell):
                continue  # a header row
        if not cell:
            errors.append(RowError(line=line, value="", reason="no number in the first column"))
            continue
        number, reason = check(cell)
        if number is None:
            errors.append(RowError(line=line, value=_clip(cell), reason=reason))
        elif number in numbers:
            duplicates += 1
        else:
            numbers[number] = None
    return RecipientList(numbers=tuple(numbers), errors=tuple(errors), duplicates=duplicates)


def read_recipient_file(path: pathlib.Path) -> RecipientList:
    """Read a recipient list from a UTF-8 CSV file (a byte order mark is allowed).

    Every :class:`UserError` raised names the file.
    """
    text = _read_text(path)
    try:
        return read_recipient_csv(text)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None


def _read_text(path: pathlib.Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UserError(f"{path}: UTF-16 text; save it as CSV UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}); "
            "save it as CSV UTF-8"
        ) from None


def _header_key(cell: str) -> str:
    return " ".join(cell.replace("_", " ").replace("-", " ").casefold().split())


def read_contacts_csv(text: str) -> ContactList:
    """Read a phonebook import: a name and a number per row (see the module notes)."""
    check = functools.cache(check_e164)
    contacts: dict[str, Contact] = {}
    errors: list[RowError] = []
    duplicates = 0
    name_col: int | None = 0
    number_col = 1
    first = True
    for line, cells in _rows(text):
        if first:
            first = False
            keys = [_header_key(cell) for cell in cells]
            named = any(key in NUMBER_HEADERS or key in NAME_HEADERS for key in keys)
            if named and not any(check_e164(cell)[0] for cell in cells):
                number_col = _first_index(keys, NUMBER_HEADERS, line=line)
                found = [i for i, key in enumerate(keys) if key in NAME_HEADERS]
                name_col = found[0] if found else None
                continue
            if len(cells) < 2 or not _has_digit(cells[1]):
                raise UserError(
                    f"contacts CSV: line {line} is neither a header naming the 'name' and "
                    "'number' columns nor a 'name,number' row; add a header row name,number"
                )
        cell = cells[number_col].strip() if number_col < len(cells) else ""
        if not cell:
            errors.append(RowError(line=line, value="", reason="no number"))
            continue
        number, reason = check(cell)
        if number is None:
            errors.append(RowError(line=line, value=_clip(cell), reason=reason))
            continue
        if number in contacts:
            duplicates += 1
            continue
        name = cells[name_col] if name_col is not None and name_col < len(cells) else ""
        contacts[number] = Contact(name=" ".join(name.split()), number=number)
    return ContactList(
        contacts=tuple(contacts.values()), errors=tuple(errors), duplicates=duplicates
    )


def _first_index(keys: list[str], wanted: frozenset[str], *, line: int) -> int:
    for index, key in enumerate(keys):
        if key in wanted:
            return index
    raise UserError(
        f"contacts CSV: the header at line {line} has no number column "
        f"(name one: {', '.join(sorted(wanted))})"
    )
