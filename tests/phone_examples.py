"""phonenumbers as the reference the suite checks smsgw's number handling against:
its example numbers and its own parse()."""

from __future__ import annotations

import phonenumbers

COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _example_numbers() -> list[phonenumbers.PhoneNumber]:
    kinds = (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
    )
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in kinds:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.append(number)
    return found


EXAMPLES = _example_numbers()  # a mobile, fixed line and toll-free number of every region


def reference_parse(digits: str) -> phonenumbers.PhoneNumber | None:
    """``phonenumbers.parse("+" + digits)``, None where it raises."""
    try:
        return phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
