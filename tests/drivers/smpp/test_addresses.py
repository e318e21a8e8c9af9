"""MO addresses as SMSCs write them, read as the +E164 numbers senders are approved in."""

from __future__ import annotations

import pytest

from drivers.smpp.addresses import mo_address

UK_VMN = "+447911123456"


@pytest.mark.parametrize(
    ("ton", "addr", "country", "expected"),
    [
        (1, "447911123456", None, UK_VMN),  # international, as SMPP 3.4 means it
        (1, "+447911123456", "GB", UK_VMN),
        (0, "447911123456", None, UK_VMN),  # unknown TON, international digits
        (0, "447911123456", "GB", UK_VMN),
        (0, "+447911123456", None, UK_VMN),
        (0, "07911123456", "GB", UK_VMN),  # national, trunk prefix
        (2, "07911123456", "GB", UK_VMN),
        (2, "7911123456", "GB", UK_VMN),  # national, no trunk prefix
        (0, "7911123456", "GB", UK_VMN),
        (0, "00447911123456", "GB", UK_VMN),  # the country's international prefix
        (0, "0033612345678", "GB", "+33612345678"),
        (0, "33612345678", "GB", "+33612345678"),  # another country's, on a GB link
        (2, "0612345678", "FR", "+33612345678"),
        (0, "89161234567", "RU", "+79161234567"),  # trunk prefix 8
        (2, "2025550123", "US", "+12025550123"),
        (0, "2025550123", "US", "+12025550123"),
        (0, "12025550123", "US", "+12025550123"),
        (0, "011447911123456", "US", UK_VMN),  # NANP's international prefix
    ],
)
def test_numbers_as_smscs_write_them_become_e164(
    ton: int,
    addr: str,
    country: str | None,
    expected: str,
) -> None:
    assert mo_address(ton, addr, country=country) == expected


@pytest.mark.parametrize(
    ("ton", "addr", "country"),
    [
        (0, "12345", "GB"),  # a short code stays a short code
        (3, "12345", "GB"),  # network specific
        (6, "7911123456", "GB"),  # abbreviated
        (0, "07911123456", None),  # national, and no country to read it with
        (2, "07911123456", None),
        (2, "123", "GB"),  # not a number of that country
        (5, "ACME", "GB"),  # alphanumeric
        (0, "", "GB"),
    ],
)
def test_what_is_not_a_number_is_kept_as_sent(ton: int, addr: str, country: str | None) -> None:
    assert mo_address(ton, addr, country=country) == addr


def test_digits_that_read_both_ways_are_national_on_a_link_with_a_country() -> None:
    # +1 659 792 5149 in the US, +65 9792 5149 in Singapore; an Italian mobile
    # dialled nationally (no trunk prefix) is also a Belgian number
    assert mo_address(0, "6597925149", country="US") == "+16597925149"
    assert mo_address(0, "6597925149", country=None) == "+6597925149"
    assert mo_address(0, "3282625035", country="IT") == "+393282625035"
    assert mo_address(0, "393282625035", country="IT") == "+393282625035"
