"""Recipient lists and phonebook imports read from CSV."""

from __future__ import annotations

import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ingress.recipient_csv import (
    Contact,
    RowError,
    read_contacts_csv,
    read_recipient_csv,
    read_recipient_file,
)
from gateway.model.errors import UserError

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
