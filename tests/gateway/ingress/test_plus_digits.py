"""The +digits fast parse equals phonenumbers.parse()."""

from __future__ import annotations

import ast
import pathlib
import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ingress.plus_digits import parse_plus_digits
from tests.phone_examples import COUNTRY_CODES, EXAMPLES, reference_parse


@settings(max_examples=1000)
@given(code=st.sampled_from(COUNTRY_CODES), rest=st.text(alphabet="0123456789", max_size=14))
def test_fast_parse_equals_phonenumbers_parse_for_any_digits(code: int, rest: str) -> None:
    digits = (str(code) + rest)[:15]
    fast = parse_plus_digits(digits)
    if fast is not None:  # None: the caller asks phonenumbers.parse itself
        assert fast == reference_parse(digits)


def test_fast_parse_equals_phonenumbers_parse_for_every_example_number() -> None:
    compared = 0
    for number in EXAMPLES:
        digits = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
        # the example itself, and with a national prefix (0) left after the country code
        for candidate in (digits, f"{number.country_code}0{number.national_number}"):
            fast = parse_plus_digits(candidate)
            if fast is not None:
                assert fast == reference_parse(candidate), candidate
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
                assert fast == reference_parse(candidate), candidate
                compared += 1
    assert compared > 1000


@pytest.mark.parametrize("digits", ["", "3", "33", "999123456", "0033612345678"])
def test_fast_parse_leaves_unusual_input_to_phonenumbers(digits: str) -> None:
    assert parse_plus_digits(digits) is None


@pytest.mark.parametrize(
    "digits",
    [
        "390612345678",  # IT fixed line: one leading zero kept
        "39000123456",  # several leading zeros
        "4407400123456",  # GB mobile with its national prefix after the code: stripped
        "5491123456789",  # AR mobile, 9 after the code
        "54111512345678",  # AR mobile as written at home (15): transformed
        "80012345678",  # a non-geographic code (+800)
        "12025550123",  # NANP: a country code shared by many regions
    ],
)
def test_fast_parse_takes_and_equals_parse_on_the_tricky_cases(digits: str) -> None:
    fast = parse_plus_digits(digits)
    assert fast is not None
    assert fast == reference_parse(digits)


def _private_names(path: pathlib.Path) -> list[str]:
    """The names starting with "_" that ``path`` reads from phonenumbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                if name.name.split(".")[0] == "phonenumbers":
                    aliases.add(name.asname or name.name.split(".")[0])
                    found += [part for part in name.name.split(".") if part.startswith("_")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("phonenumbers"):
            found += [part for part in (node.module or "").split(".") if part.startswith("_")]
            for name in node.names:
                aliases.add(name.asname or name.name)
                if name.name.startswith("_"):
                    found.append(name.name)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_module_reads_private_names_of_phonenumbers() -> None:
    root = pathlib.Path(__file__).resolve().parents[3]
    read = {
        str(path.relative_to(root)): names
        for package in ("gateway", "drivers")
        for path in sorted((root / package).rglob("*.py"))
        if (names := _private_names(path))
    }
    assert read == {}


def test_the_private_name_finder_finds_them(tmp_path: pathlib.Path) -> None:
    module = tmp_path / "reader.py"
    module.write_text(
        "import phonenumbers\n"
        "from phonenumbers import phonenumberutil as pnu, _secret\n"
        "phonenumbers._MIN_LENGTH_FOR_NSN\n"
        "pnu._extract_country_code('33')\n"
        "phonenumbers.parse('+33612345678')\n",
        encoding="utf-8",
    )
    assert sorted(_private_names(module)) == [
        "_secret",
        "phonenumbers._MIN_LENGTH_FOR_NSN",
        "pnu._extract_country_code",
    ]
