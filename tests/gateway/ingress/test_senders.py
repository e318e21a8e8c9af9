"""Sender addresses: alphanumeric, short code, E.164 number."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ingress.senders import (
    ALPHA_MAX_LENGTH,
    GSM_BASIC,
    GSM_EXTENSION,
    SenderAddress,
    infer_kind,
    parse_sender,
)
from gateway.model.errors import InvalidSender, UserError
from gateway.model.message import SenderKind

# --- the GSM 03.38 basic table -------------------------------------------------


def test_gsm_basic_table_has_128_distinct_characters() -> None:
    assert len(GSM_BASIC) == 128
    assert len(set(GSM_BASIC)) == 128


@pytest.mark.parametrize(
    ("septet", "char"),
    [
        (0x00, "@"),
        (0x01, "£"),
        (0x02, "$"),
        (0x03, "¥"),
        (0x09, "Ç"),
        (0x0A, "\n"),
        (0x0D, "\r"),
        (0x10, "\u0394"),
        (0x11, "_"),
        (0x1A, "\u039e"),
        (0x1B, "\x1b"),
        (0x1F, "É"),
        (0x20, " "),
        (0x24, "¤"),
        (0x40, "¡"),
        (0x41, "A"),
        (0x5B, "Ä"),
        (0x5F, "§"),
        (0x60, "¿"),
        (0x61, "a"),
        (0x7B, "ä"),
        (0x7F, "à"),
    ],
)
def test_gsm_basic_table_matches_the_spec(septet: int, char: str) -> None:
    assert GSM_BASIC[septet] == char


def test_gsm_basic_table_holds_ascii_letters_digits_and_no_extension_chars() -> None:
    ascii_alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    assert set(ascii_alnum) <= set(GSM_BASIC)
    assert not GSM_EXTENSION & set(GSM_BASIC)
    assert "`" not in GSM_BASIC  # 0x60 is ¿, not the ASCII backquote


# --- inference -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("MyShop", SenderKind.ALPHA, "MyShop"),
        ("My Shop", SenderKind.ALPHA, "My Shop"),
        ("A", SenderKind.ALPHA, "A"),
        ("ABCDEFGHIJK", SenderKind.ALPHA, "ABCDEFGHIJK"),
        ("Café-Zoé", SenderKind.ALPHA, "Café-Zoé"),
        ("Info24", SenderKind.ALPHA, "Info24"),
        ("@Home!", SenderKind.ALPHA, "@Home!"),
        ("123", SenderKind.SHORTCODE, "123"),
        ("36111", SenderKind.SHORTCODE, "36111"),
        ("12345678", SenderKind.SHORTCODE, "12345678"),
        ("+33612345678", SenderKind.NUMBER, "+33612345678"),
        ("+33 6 12 34 56 78", SenderKind.NUMBER, "+33612345678"),
        ("+1 (202) 555-0123", SenderKind.NUMBER, "+12025550123"),
    ],
)
def test_kind_is_inferred_from_the_value(raw: str, kind: SenderKind, value: str) -> None:
    assert parse_sender(raw) == SenderAddress(value=value, kind=kind)
    assert infer_kind(raw) is kind


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("MyShop", SenderKind.ALPHA),
        ("36111", SenderKind.SHORTCODE),
        ("+32470123456", SenderKind.NUMBER),
        ("Info", SenderKind.ALPHA),
    ],
)
def test_explicit_matching_kind_is_accepted(raw: str, kind: SenderKind) -> None:
    assert parse_sender(raw, kind).kind is kind


def test_digits_may_be_an_alpha_sender_when_not_all_digits() -> None:
    assert parse_sender("0800 Info", SenderKind.ALPHA).value == "0800 Info"


# --- refusals --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        (" Shop", "leading or trailing space"),
        ("Shop ", "leading or trailing space"),
        ("ABCDEFGHIJKL", "12 characters; at most 11"),
        ("Shop€", "'€' is in the GSM extension table"),
        ("[Shop]", "'[' is in the GSM extension table"),
        ("Shop{1}", "'{' is in the GSM extension table"),
        ("a|b", "'|' is in the GSM extension table"),
        ("a^b", "'^' is in the GSM extension table"),
        ("a~b", "'~' is in the GSM extension table"),
        ("a\\b", "'\\\\' is in the GSM extension table"),
        ("ça va", "'ç' is not in the GSM 03.38 default alphabet"),
        ("Shop\U0001f600", "is not in the GSM 03.38 default alphabet"),
        ("Shop\nX", "'\\n' is not in the GSM 03.38 default alphabet"),
        ("Shop\rX", "'\\r' is not in the GSM 03.38 default alphabet"),
        ("Shop\x1bX", "'\\x1b' is not in the GSM 03.38 default alphabet"),
        ("Shop\tX", "'\\t' is not in the GSM 03.38 default alphabet"),
        ("a`b", "'`' is not in the GSM 03.38 default alphabet"),
        ("12", "all digits; a short code has 3 to 8 digits"),
        ("123456789012", "all digits; a short code has 3 to 8 digits"),
        ("33612345678", "write it with + first: +33612345678"),
    ],
)
def test_invalid_alpha_senders_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(InvalidSender, match=r"^invalid alphanumeric sender") as info:
        parse_sender(raw)
    assert reason in str(info.value)
    assert info.value.code == "invalid_sender"
    assert isinstance(info.value, UserError)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("12", "2 digits; a short code has 3 to 8"),
        ("123456789", "9 digits; a short code has 3 to 8"),
        ("12 345", "digits only"),
        (" 1234", "leading or trailing space"),
        ("\u0661\u0662\u0663", "digits only"),  # Arabic-Indic digits
    ],
)
def test_invalid_short_codes_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(InvalidSender, match=r"^invalid short code sender") as info:
        parse_sender(raw, SenderKind.SHORTCODE)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("+33 6 12", "too short for +33 (FR)"),
        ("+999123456", "unknown country code"),
        ("0612345678", "national format"),
    ],
)
def test_invalid_number_senders_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(InvalidSender, match=r"^invalid number sender") as info:
        parse_sender(raw, SenderKind.NUMBER)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("raw", "kind", "hint"),
    [
        ("MyShop", SenderKind.SHORTCODE, "valid alphanumeric sender: use kind 'alpha'"),
        ("MyShop", SenderKind.NUMBER, "valid alphanumeric sender: use kind 'alpha'"),
        ("36111", SenderKind.ALPHA, "valid short code sender: use kind 'shortcode'"),
        ("+33612345678", SenderKind.ALPHA, "valid number sender: use kind 'number'"),
        ("+33612345678", SenderKind.SHORTCODE, "valid number sender: use kind 'number'"),
    ],
)
def test_explicit_kind_that_does_not_match_names_the_kind_that_would(
    raw: str, kind: SenderKind, hint: str
) -> None:
    with pytest.raises(InvalidSender) as info:
        parse_sender(raw, kind)
    assert str(info.value).endswith(hint)


def test_plus_led_alpha_text_is_refused_as_number_with_the_alpha_hint() -> None:
    with pytest.raises(InvalidSender, match=r"contains letters.*use kind 'alpha'$"):
        parse_sender("+Info")
    assert parse_sender("+Info", SenderKind.ALPHA).value == "+Info"


def test_refusal_without_any_matching_kind_has_no_hint() -> None:
    with pytest.raises(InvalidSender) as info:
        parse_sender("Shop€")
    assert "use kind" not in str(info.value)


def test_error_message_is_one_line() -> None:
    with pytest.raises(InvalidSender) as info:
        parse_sender("a\nb" * 30)
    assert "\n" not in str(info.value)


# --- properties ------------------------------------------------------------------

_SENDERISH = st.text(alphabet=GSM_BASIC + "€[]{}+ç", max_size=14)


@settings(max_examples=300)
@given(raw=st.one_of(st.text(max_size=20), _SENDERISH))
def test_any_text_gives_a_valid_sender_or_invalid_sender(raw: str) -> None:
    try:
        sender = parse_sender(raw)
    except InvalidSender as exc:
        message = str(exc)
        assert "\n" not in message
        assert message.startswith("invalid ")
        return
    assert parse_sender(sender.value, sender.kind) == sender
    if sender.kind is SenderKind.ALPHA:
        assert 1 <= len(sender.value) <= ALPHA_MAX_LENGTH
        assert set(sender.value) <= set(GSM_BASIC) - {"\n", "\r", "\x1b"}
        assert not sender.value.isdigit()
        assert sender.value == sender.value.strip()
    elif sender.kind is SenderKind.SHORTCODE:
        assert sender.value.isascii()
        assert sender.value.isdigit()
        assert 3 <= len(sender.value) <= 8
    else:
        assert sender.value.startswith("+")
        assert sender.value[1:].isdigit()


@given(kind=st.sampled_from(list(SenderKind)), raw=_SENDERISH)
def test_explicit_kind_is_kept_or_refused(kind: SenderKind, raw: str) -> None:
    try:
        sender = parse_sender(raw, kind)
    except InvalidSender:
        return
    assert sender.kind is kind
