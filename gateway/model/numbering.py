"""``phonenumbers.is_valid_number``, answered from plans compiled once per country code.

phonenumbers checks a number against its country's metadata by looking up,
per call, the region, its metadata, and each number type's pattern (a
regular expression compiled or looked up in ``re``'s cache every time):
~15 us a number, half the cost of taking a message in. The same steps, with
the patterns compiled once, cost ~2 us. The rules are the library's, step by
step (``_region_code_for_number_from_list``, ``is_valid_number_for_region``,
``_number_type_helper``, ``_is_number_matching_desc``):

- the region: a country code's only region, or the first of its regions
  whose leading digits start the number (a prefix match), or, for a region
  without leading digits, whose patterns the number matches;
- valid: the number has one of the general description's lengths and
  matches its pattern, and matches a number type (premium rate, toll free,
  shared cost, VoIP, personal, pager, UAN, voicemail, fixed line, mobile;
  mobile only when its pattern differs from fixed line's) with one of that
  type's lengths.

tests/gateway/model/test_numbering.py checks it against the library on every example
number of every region and on random digits after every country code.
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata

# (lengths, pattern): a number type; empty lengths means any length
_Desc = tuple[frozenset[int], re.Pattern[str]]
_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)


class _Plan:
    """One region's validity rules."""

    __slots__ = ("general", "kinds", "leading")

    def __init__(self, metadata: Any) -> None:
        self.general = _desc(metadata.general_desc)
        kinds = [_desc(getattr(metadata, name)) for name in _TYPES]
        if not metadata.same_mobile_and_fixed_line_pattern:
            kinds.append(_desc(metadata.mobile))
        self.kinds = tuple(k for k in kinds if k is not None)
        self.leading = (
            re.compile(metadata.leading_digits) if metadata.leading_digits is not None else None
        )

    def valid(self, nsn: str) -> bool:
        general = self.general
        if general is None or not _matches(general, nsn):
            return False
        return any(_matches(kind, nsn) for kind in self.kinds)


def _desc(desc: Any) -> _Desc | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)


def _matches(desc: _Desc, nsn: str) -> bool:
    lengths, pattern = desc
    return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None


_PLANS: dict[int, tuple[_Plan, ...]] = {}  # country code -> its regions' plans, in order


def _plans(code: int) -> tuple[_Plan, ...]:
    plans = _PLANS.get(code)
    if plans is None:
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ())
        found: list[_Plan] = []
        if len(regions) == 1:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0].upper())
            if metadata is not None:
                found.append(_Plan(metadata))
        else:
            for region in regions:
                metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
                if metadata is not None:
                    found.append(_Plan(metadata))
        plans = _PLANS[code] = tuple(found)
    return plans


def is_valid(number: phonenumbers.PhoneNumber) -> bool:
    """``phonenumbers.is_valid_number(number)``."""
    code = number.country_code
    if code is None:
        return False
    plans = _plans(code)
    if not plans:
        return False
    nsn = national_number(number)
    if len(plans) == 1 and len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]) == 1:
        return plans[0].valid(nsn)
    for plan in plans:
        if plan.leading is not None:
            if plan.leading.match(nsn):
                return plan.valid(nsn)
        elif plan.valid(nsn):
            return True
    return False


def national_number(number: phonenumbers.PhoneNumber) -> str:
    """``phonenumbers.national_significant_number(number)``: leading zeros kept."""
    zeros = ""
    if number.italian_leading_zero:
        count = 1 if number.number_of_leading_zeros is None else number.number_of_leading_zeros
        zeros = "0" * max(count, 0)
    return f"{zeros}{number.national_number}"


def e164(number: phonenumbers.PhoneNumber) -> str:
    """``phonenumbers.format_number(number, E164)`` for a valid number."""
    return f"+{number.country_code}{national_number(number)}"
