"""``phonenumbers.parse("+" + digits)`` for ``+digits`` text, from the library's public metadata.

phonenumbers.parse() spends ~60% of a validation on what a ``+digits``
string does not need (extension and RFC 3966 handling, viability regexes,
the normalisation of letters and punctuation). :func:`parse_plus_digits`
takes the rest of its steps for that input only, reading the library's
public metadata: its country codes (``COUNTRY_CODE_TO_REGION_CODE``) and
each one's ``PhoneMetadata`` (national prefix for parsing and its transform
rule, the general description's pattern, possible lengths and local-only
lengths). Anything unusual (no known country code, too short or long) it
leaves to parse() itself, by answering None.

The steps, as parse() takes them for such input:

- the country code: the first 1, 2 or 3 digits that are a known code (none
  when the number starts with 0);
- a national prefix written after the country code (``+44 07...``) is
  stripped, or transformed by the region's rule (Argentina's ``15``), when
  what is left still matches the region's numbers and its length is
  possible for the region (not too short, not local only, one of its
  lengths; a too long one is stripped all the same);
- the national significant number has 2 to 17 digits;
- leading zeros (Italy's fixed lines) are kept as ``italian_leading_zero``
  and ``number_of_leading_zeros``.

pyproject.toml pins the phonenumbers versions whose metadata this was tested
on; tests/gateway/ingress/test_plus_digits.py checks it against parse() over
every country code, every example number and random digits.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import PhoneMetadata

__all__ = ["NSN_MAX", "NSN_MIN", "parse_plus_digits"]

# The lengths of a national significant number that parse() accepts (outside
# them it raises): at least 2 digits, at most 17 (E.164 allows 15 digits in all,
# which check_e164 enforces first; some German numbers are written longer).
NSN_MIN, NSN_MAX = 2, 17
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
