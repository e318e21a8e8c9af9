"""Recipients: one phone number checked and written as E.164."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ingress import recipients
from gateway.ingress.recipients import check_e164, merge_recipients, normalize_e164
from gateway.model.errors import InvalidRecipient, UserError
from tests.phone_examples import EXAMPLES

# --- normalize_e164: fixed cases ---------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+33612345678", "+33612345678"),  # FR mobile
        ("+33123456789", "+33123456789"),  # FR fixed line
        ("+32470123456", "+32470123456"),  # BE mobile
        ("+4915123456789", "+4915123456789"),  # DE mobile
        ("+12025550123", "+12025550123"),  # US
        ("+447400123456", "+447400123456"),  # GB mobile
        ("+41791234567", "+41791234567"),  # CH
        ("+34612345678", "+34612345678"),  # ES
        ("+393471234567", "+393471234567"),  # IT mobile
        ("+390612345678", "+390612345678"),  # IT fixed line keeps its leading 0
        ("+819012345678", "+819012345678"),  # JP
        ("+5511912345678", "+5511912345678"),  # BR
    ],
)
def test_valid_numbers_of_several_countries_are_accepted(raw: str, expected: str) -> None:
    assert normalize_e164(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "+33 6 12 34 56 78",
        "+33.6.12.34.56.78",
        "+33-6-12-34-56-78",
        "+33 (6) 12 34 56 78",
        "  +33612345678\n",
        "+33\u00a0612\u00a0345\u00a0678",  # no-break spaces, as spreadsheets write them
        "+33 (0)6 12 34 56 78",  # the national prefix in parentheses is dropped
    ],
)
def test_separators_between_digits_are_dropped(raw: str) -> None:
    assert normalize_e164(raw) == "+33612345678"


def test_national_format_is_refused_with_the_international_hint() -> None:
    with pytest.raises(InvalidRecipient, match=r"'0612345678': national format") as info:
        normalize_e164("0612345678")
    message = str(info.value)
    assert "international format" in message
    assert "+33612345678" in message
    assert info.value.code == "invalid_recipient"
    assert isinstance(info.value, UserError)


def test_00_international_prefix_is_refused_with_the_plus_form() -> None:
    with pytest.raises(InvalidRecipient, match=r"dialling prefix.*write \+33612345678$"):
        normalize_e164("00 33 6 12 34 56 78")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("+", "no digits"),
        ("+33 6 12 34 AB", "contains letters"),
        ("+1-800-FLOWERS", "contains letters"),
        ("+33/612345678", "unexpected character '/'"),
        ("+33+612345678", "'+' may only start"),
        ("+33 6 12", "too short for +33 (FR)"),
        ("+3361234567", "too short for +33 (FR)"),
        ("+336123456789", "too long for +33 (FR)"),
        ("+3361234567890123", "at most 15 digits"),
        ("+999123456", "unknown country code"),
        ("+33012345678", "not a valid number for +33 (FR)"),
        ("+11005550123", "not a valid number for +1"),
        ("+" + "1" * 70, "more than 64 characters"),
    ],
)
def test_invalid_numbers_are_refused_with_the_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidRecipient, match="invalid phone number") as info:
        normalize_e164(raw)
    assert reason in str(info.value)
    number, why = check_e164(raw)
    assert number is None
    assert reason in why


def test_error_message_is_one_line_for_a_value_with_newlines() -> None:
    with pytest.raises(InvalidRecipient) as info:
        normalize_e164("06\n12\r34")
    assert "\n" not in str(info.value)
    assert "\r" not in str(info.value)


def test_check_e164_returns_the_number_and_no_reason_when_valid() -> None:
    assert check_e164("+32 470 12 34 56") == ("+32470123456", "")


def test_merge_recipients_keeps_the_first_occurrence_order() -> None:
    merged = merge_recipients(["+1", "+2"], ("+3", "+1"), iter(["+2", "+4"]))
    assert merged == ("+1", "+2", "+3", "+4")
    assert merge_recipients() == ()


# --- normalize_e164: properties ----------------------------------------------

FORMATS = (
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
)


def test_examples_cover_many_regions() -> None:
    assert len(EXAMPLES) > 400


@given(number=st.sampled_from(EXAMPLES), fmt=st.sampled_from(FORMATS))
def test_normalize_accepts_example_numbers_and_is_idempotent(
    number: phonenumbers.PhoneNumber, fmt: int
) -> None:
    expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    once = normalize_e164(phonenumbers.format_number(number, fmt))
    assert once == expected
    assert normalize_e164(once) == once


@given(number=st.sampled_from(EXAMPLES))
def test_national_format_of_any_example_is_refused(number: phonenumbers.PhoneNumber) -> None:
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    with pytest.raises(InvalidRecipient):
        normalize_e164(national)


_PHONEISH = st.text(alphabet="+0123456789 .-()", max_size=24)


@settings(max_examples=300)
@given(raw=st.one_of(st.text(max_size=80), _PHONEISH))
def test_arbitrary_text_gives_e164_or_invalid_recipient(raw: str) -> None:
    number, _ = check_e164(raw)
    if number is None:
        with pytest.raises(InvalidRecipient) as info:
            normalize_e164(raw)
        assert "\n" not in str(info.value)
    else:
        assert normalize_e164(raw) == number
        assert number.startswith("+")
        assert number[1:].isdigit()
        assert len(number) <= 16
        assert normalize_e164(number) == number


def test_normalize_answers_a_repeated_number_from_its_cache_and_still_refuses_bad_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[str] = []

    def counted(raw: str) -> tuple[str | None, str]:
        checked.append(raw)
        return check_e164(raw)

    monkeypatch.setattr(recipients, "check_e164", counted)
    # spellings no other test uses, so not in the cache yet
    number, national = " +33 (6) 12-34-56-78 ", " 06 12.34.56.78 "
    for _ in range(2):
        assert normalize_e164(number) == "+33612345678"
        with pytest.raises(InvalidRecipient, match="national format"):
            normalize_e164(national)
    assert checked == [number, national]  # each checked once, then answered from the cache
