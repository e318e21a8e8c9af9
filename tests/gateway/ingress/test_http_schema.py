"""parse_send_payload: fixed cases and fuzzing (only UserError subclasses escape)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ingress.http_schema import FIELDS, MAX_RECIPIENTS, parse_send_payload
from gateway.ingress.pipeline import SendRequest
from gateway.model.errors import UserError
from gateway.model.message import MessageClass

FR = "+33612345678"


def parse(body: Any, **kwargs: Any) -> SendRequest:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_send_payload(data, account="acme", **kwargs)


def refused(body: Any, **kwargs: Any) -> UserError:
    with pytest.raises(UserError) as info:
        parse(body, **kwargs)
    return info.value


def base(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"from": "ACME", "to": [FR], "text": "hello"}
    body.update(overrides)
    return body


def test_full_payload_becomes_a_request() -> None:
    request = parse(
        base(
            to=["+33 6 12 34 56 78", FR, "+32470123456"],
            **{"class": "flash"},
            send_at="2026-12-01T10:00:00+01:00",
            validity=3600,
            priority=3,
            client_ref="r-1",
            callback_url="https://example.com/sms?x=1",
        )
    )
    assert request.account == "acme"
    assert request.sender == "ACME"
    assert request.recipients == (FR, "+32470123456")
    assert request.msg_class is MessageClass.FLASH
    assert request.send_at == dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC).timestamp()
    assert (request.validity, request.priority, request.client_ref) == (3600, 3, "r-1")


def test_nulls_take_the_defaults() -> None:
    request = parse(base(**dict.fromkeys(FIELDS[3:])))
    assert request.msg_class is MessageClass.STANDARD
    assert (request.send_at, request.validity, request.priority) == (None, None, 0)


def test_byte_order_mark_is_tolerated() -> None:
    assert parse(b"\xef\xbb\xbf" + json.dumps(base()).encode()).text == "hello"


def test_send_at_with_z_is_utc() -> None:
    assert (
        parse(base(send_at="2026-12-01T09:00:00Z")).send_at
        == dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC).timestamp()
    )


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (b"\xff{}", "invalid_utf8", "offset 0"),
        (b"{", "malformed_json", "line 1"),
        (b'{"a": NaN}', "malformed_json", "NaN"),
        (b"[" * 100_000, "malformed_json", "nested"),
        (b'{"text": "a", "text": "b"}', "malformed_json", "twice"),
        (b'"hello"', "not_an_object", "a string"),
        (base(prio=1, extra=2), "unknown_field", "'prio', 'extra'"),
        ({"to": [FR], "text": "x"}, "missing_field", "'from'"),
        (base(to=[]), "invalid_value", "no recipient"),
        (base(to={"a": 1}), "wrong_type", "'to'"),
        (base(to=[None]), "wrong_type", "'to[0]'"),
        (base(to=["0033612345678"]), "invalid_recipient", "+33612345678"),
        (base(to=[FR, "06 12 34 56 78"]), "invalid_recipient", "to[1]"),
        (base(text=None), "wrong_type", "'text'"),
        (base(text="\ud800"), "invalid_value", "surrogate"),
        (base(**{"from": 7}), "wrong_type", "'from'"),
        (base(**{"class": "urgent"}), "invalid_value", "'class'"),
        (base(send_at="tomorrow"), "invalid_value", "ISO 8601"),
        (base(send_at="2026-12-01"), "invalid_value", "time zone"),
        (base(send_at=1764579600), "wrong_type", "'send_at'"),
        (base(validity=1.5), "wrong_type", "fraction"),
        (base(priority=False), "wrong_type", "boolean"),
        (base(callback_url="ftp://example.com/x"), "invalid_value", "http://"),
        (base(callback_url="https:///nohost"), "invalid_value", "host"),
        (base(callback_url="https://example.com:99999/"), "invalid_value", "not a URL"),
        (base(callback_url="https://exa mple.com/"), "invalid_value", "white space"),
    ],
)
def test_refusals_carry_a_code_and_name_the_field(body: Any, code: str, words: str) -> None:
    error = refused(body)
    assert error.code == code
    assert words in str(error)
    assert "\n" not in str(error)


def test_too_many_recipients_is_refused_before_normalizing() -> None:
    error = refused(base(to=[FR] * (MAX_RECIPIENTS + 1)))
    assert error.code == "too_many_recipients"
    assert str(MAX_RECIPIENTS) in str(error)


def test_body_over_max_bytes_is_too_large() -> None:
    error = refused(base(text="x" * 200), max_bytes=100)
    assert error.code == "too_large"


def test_huge_integer_is_malformed_not_a_crash() -> None:
    error = refused(b'{"priority": ' + b"9" * 5000 + b"}")
    assert error.code == "malformed_json"


# --- fuzzing ------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
field_values = st.one_of(
    json_values,
    st.sampled_from(
        [
            FR,
            "+32470123456",
            "0612345678",
            "ACME",
            "flash",
            "sim",
            "",
            "2026-12-01T09:00:00Z",
            "2026-12-01T09:00:00",
            "https://example.com/",
            "\ud800",
            "\x00",
        ]
    ),
    st.lists(st.sampled_from([FR, "+32 470 12 34 56", "+0", "abc"]), max_size=3),
)
payloads = st.dictionaries(st.sampled_from([*FIELDS, "other"]), field_values, max_size=10)


def _only_user_errors(data: bytes) -> None:
    error: UserError | None = None
    try:
        request = parse_send_payload(data, account="acme", max_bytes=4096)
    except UserError as exc:  # anything else fails the test
        error = exc
    if error is not None:
        assert error.code
        assert str(error)
        assert "\n" not in str(error)
    else:
        assert request.recipients or request.phonebook is not None  # a phonebook: read later
        assert isinstance(request.text, str)  # blank: the send service refuses it


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_user_errors(data: bytes) -> None:
    _only_user_errors(data)


@settings(max_examples=300)
@given(json_values)
def test_arbitrary_json_raises_only_user_errors(value: Any) -> None:
    _only_user_errors(json.dumps(value).encode())


@settings(max_examples=500)
@given(payloads)
def test_payload_shaped_objects_raise_only_user_errors(body: dict[str, Any]) -> None:
    _only_user_errors(json.dumps(body).encode())


@settings(max_examples=200)
@given(st.text(min_size=1).filter(str.strip), st.integers(0, 3), st.booleans())
def test_valid_payloads_always_parse(text: str, priority: int, as_string: bool) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return
    request = parse(base(text=text, priority=priority, to=FR if as_string else [FR]))
    assert (request.text, request.priority, request.recipients) == (text, priority, (FR,))
