"""Recipient lists and phonebook imports: CSV files read into E.164 numbers.

Pure functions (text in, values out, no I/O except :func:`read_recipient_file`);
each number is checked by :func:`gateway.ingress.recipients.check_e164`.

Choices made here:

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
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.ingress.recipients import check_e164
from gateway.model.errors import UserError

__all__ = [
    "NAME_HEADERS",
    "NUMBER_HEADERS",
    "Contact",
    "ContactList",
    "RecipientList",
    "RowError",
    "read_contacts_csv",
    "read_recipient_csv",
    "read_recipient_file",
]

_VALUE_SHOWN = 80  # a RowError keeps at most this many characters of the cell
_DIGITS = frozenset("0123456789")
_DELIMITERS = (",", ";", "\t")
_SNIFF_LINES = 50
_QUOTED = re.compile(r'"(?:[^"]|"")*"')

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


def _clip(value: str) -> str:
    return value if len(value) <= _VALUE_SHOWN else value[: _VALUE_SHOWN - 1] + "…"


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
