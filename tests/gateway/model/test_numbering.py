"""Numbering plans: validity equals phonenumbers.is_valid_number."""

from __future__ import annotations

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.model import numbering
from tests.phone_examples import COUNTRY_CODES, reference_parse


def _all_example_numbers() -> list[phonenumbers.PhoneNumber]:
    """An example of every number type of every region and non-geographic code."""
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in phonenumbers.PhoneNumberType.values():
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.append(number)
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            found.append(number)
    return found


def _same_as_phonenumbers(number: phonenumbers.PhoneNumber) -> None:
    valid = phonenumbers.is_valid_number(number)
    assert numbering.is_valid(number) == valid, number
    assert numbering.national_number(number) == (phonenumbers.national_significant_number(number))
    if valid:
        assert numbering.e164(number) == phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.E164
        )


def test_validity_equals_phonenumbers_for_every_example_and_its_neighbours() -> None:
    examples = _all_example_numbers()
    assert len(examples) > 1300
    for number in examples:
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        # the example, one digit changed, one more, one less: valid and invalid alike
        for variant in (
            text,
            text[:-1] + str((int(text[-1]) + 1) % 10),
            text + "5",
            text[:-1],
            text[:4] + "9" + text[5:],
        ):
            parsed = reference_parse(variant[1:])
            if parsed is not None:
                _same_as_phonenumbers(parsed)


@settings(max_examples=3000)
@given(
    code=st.sampled_from(COUNTRY_CODES),
    rest=st.text(alphabet="0123456789", min_size=3, max_size=14),
)
def test_validity_equals_phonenumbers_for_any_digits(code: int, rest: str) -> None:
    parsed = reference_parse((str(code) + rest)[:15])
    if parsed is not None:
        _same_as_phonenumbers(parsed)


def test_an_unknown_country_code_is_not_valid() -> None:
    assert not numbering.is_valid(
        phonenumbers.PhoneNumber(country_code=999, national_number=123456)
    )
