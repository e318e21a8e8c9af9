"""Recipients: E.164 validation, recipient CSV lists, phonebook imports."""

from __future__ import annotations

import pathlib
import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ingress.recipients import (
    Contact,
    RowError,
    check_e164,
    merge_recipients,
    normalize_e164,
    parse_plus_digits,
    read_contacts_csv,
    read_recipient_csv,
    read_recipient_file,
)
from gateway.model import numbering
from gateway.model.errors import InvalidRecipient, UserError

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


EXAMPLES = _example_numbers()
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


# --- parse_plus_digits: the fast path equals phonenumbers.parse ----------------


def _reference_parse(digits: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None


COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@settings(max_examples=1000)
@given(code=st.sampled_from(COUNTRY_CODES), rest=st.text(alphabet="0123456789", max_size=14))
def test_fast_parse_equals_phonenumbers_parse_for_any_digits(code: int, rest: str) -> None:
    digits = (str(code) + rest)[:15]
    fast = parse_plus_digits(digits)
    if fast is not None:  # None: the caller asks phonenumbers.parse itself
        assert fast == _reference_parse(digits)


def test_fast_parse_equals_phonenumbers_parse_for_every_example_number() -> None:
    compared = 0
    for number in EXAMPLES:
        digits = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
        # the example itself, and with a national prefix (0) left after the country code
        for candidate in (digits, f"{number.country_code}0{number.national_number}"):
            fast = parse_plus_digits(candidate)
            if fast is not None:
                assert fast == _reference_parse(candidate), candidate
                compared += 1
    assert compared > 400  # the common numbers take the fast path


NATIONAL = phonenumbers.PhoneNumberFormat.NATIONAL


def test_fast_parse_equals_phonenumbers_parse_with_each_regions_national_prefix() -> None:
    """The national prefix rules (some with a transform: AR, MX...) read as parse() reads them."""
    compared = 0
    for number in EXAMPLES:
        region = phonenumbers.region_code_for_number(number)
        code = number.country_code or 0
        metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
            code, region or ""
        )
        if metadata is None:
            continue
        national = phonenumbers.national_significant_number(number)
        # as written at home (with its national prefix, and AR's mobile "15"), after the code
        written = re.sub(r"\D", "", phonenumbers.format_number(number, NATIONAL))
        candidates = {f"{code}{p}{national}" for p in (metadata.national_prefix or "", "9", "15")}
        for candidate in {c[:15] for c in (*candidates, f"{code}{written}")}:
            fast = parse_plus_digits(candidate)
            if fast is not None:
                assert fast == _reference_parse(candidate), candidate
                compared += 1
    assert compared > 1000


@pytest.mark.parametrize("digits", ["", "3", "33", "999123456", "0033612345678"])
def test_fast_parse_leaves_unusual_input_to_phonenumbers(digits: str) -> None:
    assert parse_plus_digits(digits) is None


# --- numbering: validity equals phonenumbers.is_valid_number ------------------


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
            parsed = _reference_parse(variant[1:])
            if parsed is not None:
                _same_as_phonenumbers(parsed)


@settings(max_examples=3000)
@given(
    code=st.sampled_from(COUNTRY_CODES),
    rest=st.text(alphabet="0123456789", min_size=3, max_size=14),
)
def test_validity_equals_phonenumbers_for_any_digits(code: int, rest: str) -> None:
    parsed = _reference_parse((str(code) + rest)[:15])
    if parsed is not None:
        _same_as_phonenumbers(parsed)


def test_an_unknown_country_code_is_not_valid() -> None:
    assert not numbering.is_valid(
        phonenumbers.PhoneNumber(country_code=999, national_number=123456)
    )


# --- read_recipient_csv ------------------------------------------------------


def test_csv_without_header_reads_every_row() -> None:
    result = read_recipient_csv("+33612345678\n+32470123456\n")
    assert result.numbers == ("+33612345678", "+32470123456")
    assert result.errors == ()
    assert result.duplicates == 0


@pytest.mark.parametrize("header", ["phone", "Number", "msisdn", "Téléphone", "to"])
def test_header_row_is_skipped_not_reported(header: str) -> None:
    result = read_recipient_csv(f"{header}\n+33612345678\n")
    assert result.numbers == ("+33612345678",)
    assert result.errors == ()


def test_only_the_first_row_may_be_a_header() -> None:
    result = read_recipient_csv("phone\n+33612345678\nnumber\n")
    assert result.numbers == ("+33612345678",)
    assert result.errors == (RowError(line=3, value="number", reason=result.errors[0].reason),)


def test_first_row_in_national_format_is_reported_not_taken_as_header() -> None:
    result = read_recipient_csv("0612345678\n+32470123456\n")
    assert result.numbers == ("+32470123456",)
    assert [(e.line, e.value) for e in result.errors] == [(1, "0612345678")]
    assert "national format" in result.errors[0].reason


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_sniffed_and_other_columns_ignored(delimiter: str) -> None:
    text = delimiter.join(["phone", "name", "note"]) + "\n"
    text += delimiter.join(["+33 6 12 34 56 78", "Jean", "x"]) + "\n"
    text += delimiter.join(["+32470123456", "Marie", "y"]) + "\n"
    result = read_recipient_csv(text)
    assert result.numbers == ("+33612345678", "+32470123456")
    assert result.errors == ()


def test_commas_inside_quotes_do_not_win_the_sniffing() -> None:
    text = 'number;name\n+33612345678;"Dupont, Jean"\n+32470123456;"Martin, Eve"\n'
    result = read_recipient_csv(text)
    assert result.numbers == ("+33612345678", "+32470123456")


def test_quoted_cells_are_read() -> None:
    text = '"phone","name"\n"+33 6 12 34 56 78","Jean ""JJ"" Dupont"\n'
    assert read_recipient_csv(text).numbers == ("+33612345678",)


def test_byte_order_mark_is_tolerated() -> None:
    result = read_recipient_csv("\ufeffphone\r\n+33612345678\r\n")
    assert result.numbers == ("+33612345678",)
    assert result.errors == ()


def test_duplicates_are_counted_and_kept_once_in_first_order() -> None:
    text = "+32470123456\n+33 6 12 34 56 78\n+32470123456\n+33612345678\n+12025550123\n"
    result = read_recipient_csv(text)
    assert result.numbers == ("+32470123456", "+33612345678", "+12025550123")
    assert result.duplicates == 2


def test_bad_rows_are_reported_by_physical_line_and_skipped() -> None:
    text = (
        "phone,name\n"  # 1
        "+33612345678,a\n"  # 2
        "\n"  # 3 blank
        "0612345678,b\n"  # 4 national
        '+32470123456,"two\nlines"\n'  # 5-6
        "hello,c\n"  # 7 letters
        ",d\n"  # 8 no number in the first column
        " , \n"  # 9 blank cells only: skipped
        "+4915123456789,e\n"  # 10
    )
    result = read_recipient_csv(text)
    assert result.numbers == ("+33612345678", "+32470123456", "+4915123456789")
    assert [(e.line, e.value) for e in result.errors] == [
        (4, "0612345678"),
        (7, "hello"),
        (8, ""),
    ]
    assert "contains letters" in result.errors[1].reason
    assert result.errors[2].reason == "no number in the first column"


def test_carriage_return_line_endings_count_lines() -> None:
    result = read_recipient_csv("+33612345678\r\rbad\r")
    assert [(e.line, e.value) for e in result.errors] == [(3, "bad")]


def test_long_bad_value_is_clipped_in_the_report() -> None:
    result = read_recipient_csv("x" * 500 + "1\n")
    assert len(result.errors[0].value) == 80


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff", "phone\n"])
def test_empty_lists_read_as_empty(text: str) -> None:
    result = read_recipient_csv(text)
    assert (result.numbers, result.errors, result.duplicates) == ((), (), 0)


def test_nul_byte_is_malformed_csv_with_its_line() -> None:
    with pytest.raises(UserError, match=r"^malformed CSV: NUL byte at line 2; .*export it as CSV"):
        read_recipient_csv("+33612345678\n+3261\x00\n")


def test_unclosed_quote_is_malformed_csv_naming_the_row_line() -> None:
    with pytest.raises(UserError, match=r"^malformed CSV at line 2: .*check the quotes"):
        read_recipient_csv('+33612345678\n"+32470123456\n+4915123456789\n')


# --- read_recipient_file -----------------------------------------------------


def test_file_with_bom_is_read(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes("\ufeffnuméro;nom\r\n+33612345678;Zoé\r\n".encode())
    assert read_recipient_file(path).numbers == ("+33612345678",)


def test_fixture_file_reports_bad_rows(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("phone\n+33612345678\n+33 6\n+33612345678\n", encoding="utf-8")
    result = read_recipient_file(path)
    assert result.numbers == ("+33612345678",)
    assert [e.line for e in result.errors] == [3]
    assert result.duplicates == 1


def test_missing_file_is_a_user_error_naming_it(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(UserError, match=r"^cannot read .*nope\.csv: No such file"):
        read_recipient_file(path)


def test_directory_is_a_user_error_naming_it(tmp_path: pathlib.Path) -> None:
    with pytest.raises(UserError, match=f"cannot read {tmp_path}"):
        read_recipient_file(tmp_path)


def test_invalid_utf8_is_a_user_error_naming_file_and_line(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("phone\n+33612345678\nZo\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin1\.csv: not UTF-8 text \(byte 0xe9 at line 3\)"):
        read_recipient_file(path)


def test_binary_file_is_a_user_error_naming_it(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "book.csv"
    path.write_bytes(b"PK\x03\x04\x00\x00")
    with pytest.raises(UserError, match=r"book\.csv: malformed CSV: NUL byte at line 1"):
        read_recipient_file(path)


def test_utf16_file_is_a_user_error_asking_for_utf8(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("phone\n+33612345678\n".encode("utf-16"))
    with pytest.raises(UserError, match=r"excel\.csv: UTF-16 text; save it as CSV UTF-8$"):
        read_recipient_file(path)


_DELIMITER = st.sampled_from([",", ";", "\t"])
_VALID = st.sampled_from(
    ["+33612345678", "+32470123456", "+4915123456789", "+12025550123", "+447400123456"]
)


@given(
    numbers=st.lists(_VALID, max_size=12),
    delimiter=_DELIMITER,
    header=st.booleans(),
    quote=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_written_list_reads_back_deduplicated(
    numbers: list[str], delimiter: str, header: bool, quote: bool, newline: str
) -> None:
    rows = [["phone", "name"]] if header else []
    rows += [[number, f"n{i}"] for i, number in enumerate(numbers)]
    cell = '"{}"'.format if quote else str
    text = "".join(delimiter.join(cell(c) for c in row) + newline for row in rows)
    result = read_recipient_csv(text)
    assert result.numbers == tuple(dict.fromkeys(numbers))
    assert result.duplicates == len(numbers) - len(set(numbers))
    assert result.errors == ()


@settings(max_examples=300)
@given(text=st.text(alphabet=st.sampled_from('+0123456789 ,;\t"\n\rab\ufeff\x00'), max_size=60))
def test_arbitrary_csv_text_reads_or_is_a_user_error(text: str) -> None:
    for read in (read_recipient_csv, read_contacts_csv):
        try:
            read(text)
        except UserError as exc:
            assert "\n" not in str(exc)  # noqa: PT017 - both outcomes are legal here


# --- read_contacts_csv -------------------------------------------------------


def test_contacts_with_name_and_number_header() -> None:
    result = read_contacts_csv("name,number\nJean,+33612345678\nMarie,+32470123456\n")
    assert result.contacts == (
        Contact(name="Jean", number="+33612345678"),
        Contact(name="Marie", number="+32470123456"),
    )
    assert result.errors == ()
    assert result.duplicates == 0


@pytest.mark.parametrize(
    "header",
    [
        "Name;Phone",
        "NAME;MSISDN",
        "name;Mobile",
        "Full Name;Phone Number",
        "nom;téléphone",
        "name;phone_number",
    ],
)
def test_contacts_header_aliases_are_case_insensitive(header: str) -> None:
    result = read_contacts_csv(f"{header}\nJean;+33 6 12 34 56 78\n")
    assert result.contacts == (Contact(name="Jean", number="+33612345678"),)


def test_contacts_columns_are_found_in_any_order() -> None:
    text = "id,phone,comment,name\n1,+33612345678,vip,Jean Dupont\n"
    result = read_contacts_csv(text)
    assert result.contacts == (Contact(name="Jean Dupont", number="+33612345678"),)


def test_contacts_header_with_number_only_gives_empty_names() -> None:
    result = read_contacts_csv("msisdn\n+33612345678\n")
    assert result.contacts == (Contact(name="", number="+33612345678"),)


def test_contacts_header_without_number_column_is_refused() -> None:
    with pytest.raises(UserError, match=r"header at line 1 has no number column.*msisdn"):
        read_contacts_csv("name,city\nJean,Paris\n")


def test_contacts_without_header_are_name_then_number() -> None:
    result = read_contacts_csv("Jean,+33612345678\nMarie,+32470123456\n")
    assert [c.number for c in result.contacts] == ["+33612345678", "+32470123456"]
    assert result.contacts[0].name == "Jean"


def test_contacts_row_named_like_a_header_is_still_data() -> None:
    result = read_contacts_csv("Contact,+33612345678\n")
    assert result.contacts == (Contact(name="Contact", number="+33612345678"),)


def test_contacts_without_recognizable_layout_are_refused() -> None:
    with pytest.raises(UserError, match=r"line 1 is neither a header.*name,number"):
        read_contacts_csv("Client;GSM\nJean;+33612345678\n")


def test_contacts_invalid_rows_are_reported_by_line_and_duplicates_kept_once() -> None:
    text = (
        "name,number\n"  # 1
        "Jean,+33612345678\n"  # 2
        "Bad,0612345678\n"  # 3
        "Short\n"  # 4: no number cell
        "\n"  # 5
        "Jean bis,+33 6 12 34 56 78\n"  # 6: duplicate of line 2
        '"  Marie\n  Curie ",+32470123456\n'  # 7-8
    )
    result = read_contacts_csv(text)
    assert result.contacts == (
        Contact(name="Jean", number="+33612345678"),
        Contact(name="Marie Curie", number="+32470123456"),
    )
    assert [(e.line, e.value) for e in result.errors] == [(3, "0612345678"), (4, "")]
    assert result.errors[1].reason == "no number"
    assert result.duplicates == 1


def test_contacts_malformed_csv_is_a_user_error() -> None:
    with pytest.raises(UserError, match="malformed CSV"):
        read_contacts_csv("name,number\x00\n")


def test_contacts_empty_text_is_empty() -> None:
    result = read_contacts_csv("")
    assert (result.contacts, result.errors, result.duplicates) == ((), (), 0)


def test_normalize_answers_a_repeated_number_from_its_cache_and_still_refuses_bad_ones() -> None:
    from gateway.ingress import recipients

    recipients._checked.cache_clear()
    assert normalize_e164(" +33 6 12 34 56 78") == "+33612345678"
    assert normalize_e164(" +33 6 12 34 56 78") == "+33612345678"
    assert recipients._checked.cache_info().hits == 1
    for _ in range(2):
        with pytest.raises(InvalidRecipient, match="national format"):
            normalize_e164("0612345678")
