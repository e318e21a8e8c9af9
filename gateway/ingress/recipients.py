"""Recipients: one phone number checked and written as E.164.

Pure functions, text in, values out. Choices made here:

- A recipient is written in international format: ``+``, the country code, the
  number. Spaces, dots, dashes and parentheses between digits are accepted
  (``+33 6.12.34.56.78``, ``+1 (202) 555-0123``) and dropped. Parsing is
  ``phonenumbers.parse`` (for ``+digits``, as most callers write it, answered
  by :mod:`gateway.ingress.plus_digits`); validation is
  ``phonenumbers.is_valid_number`` (the number's range exists in its country's
  plan; answered by :mod:`gateway.model.numbering`, compiled once); the result
  is the canonical E.164 form, so normalizing twice is a no-op.
- National formats (``0612345678``) are refused: the country cannot be guessed.
- The ``00`` international prefix (``0033612345678``) is refused too, with the
  ``+`` form as the hint: the prefix differs between countries (``011`` from
  North America, ``810`` from Russia...), so reading ``00`` as ``+`` would be a
  guess that is right only in some of them.
- Letters are refused, vanity numbers included (``+1-800-FLOWERS``).

Recipient lists and phonebook imports (CSV files) are read by
:mod:`gateway.ingress.recipient_csv`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

from gateway.ingress.plus_digits import parse_plus_digits
from gateway.model import numbering
from gateway.model.errors import InvalidRecipient

__all__ = ["E164_MAX_DIGITS", "check_e164", "merge_recipients", "normalize_e164"]

E164_MAX_DIGITS = 15  # ITU-T E.164 section 6.2.1
_MAX_INPUT = 64  # longer input is refused before any parsing
_SEPARATORS = frozenset(" \u00a0.-()")
_DIGITS = frozenset("0123456789")
_INTERNATIONAL_HINT = (
    "write it in international format: + then the country code then the number "
    "without its leading 0, e.g. +33612345678"
)


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
    return _check_written(text)


def _check_written(text: str) -> tuple[str | None, str]:
    """:func:`check_e164` for a stripped text of at most ``_MAX_INPUT``
    characters that is not ``+digits``: separators, or what it is instead."""
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


def merge_recipients(*lists: Iterable[str]) -> tuple[str, ...]:
    """Concatenate the lists, keeping each number once at its first position."""
    return tuple(dict.fromkeys(number for numbers in lists for number in numbers))
