"""The JSON shapes of the API (README: HTTP API): the send payload in, messages out.

The send payload is the body of ``POST /v1/messages`` and of MQTT
``{prefix}/{account}/send``. :func:`message_json` and :func:`inbound_json`
are what ``GET /v1/messages/{id}`` and ``GET /v1/inbound`` answer; times go
out as ISO 8601 UTC with milliseconds (``2026-12-01T09:00:00.000Z``).

:func:`parse_send_payload` turns raw bytes into a :class:`~gateway.ingress.pipeline.SendRequest`
or raises a :class:`~gateway.model.errors.UserError` subclass whose ``code`` says what
is wrong and whose message names the field. It is pure (bytes in, a request
out) and shared by the HTTP and MQTT ingress, so both refuse the same input
with the same codes.

The payload is a UTF-8 JSON object (a leading byte order mark is tolerated)::

    {"from": "ACME", "to": ["+33612345678"], "text": "hello",
     "class": null, "send_at": "2026-12-01T09:00:00+01:00", "validity": 3600,
     "priority": 0, "client_ref": "order-17", "callback_url": "https://example.com/sms"}

- ``from``, ``to`` and ``text`` are required; the rest may be absent or null.
  An empty or blank text is refused by the send service (``empty_text``), the
  same for every front door.
- ``to`` is a list of E.164 numbers or one string; at most
  :data:`MAX_RECIPIENTS` per payload; each is normalized with
  :func:`gateway.ingress.recipients.normalize_e164` (national formats are refused with
  a hint) and repeats are kept once.
- ``class``: ``"flash"`` (class 0) or ``"sim"`` (class 2); null is a normal SMS.
- ``send_at``: ISO 8601 with a time zone (``Z`` or ``+01:00``); a naive time is
  refused rather than guessed. At most a year ahead and a week in the past
  (:data:`gateway.ingress.pipeline.MAX_AHEAD`, ``MAX_LATE``).
- ``validity``: whole seconds, 1 to :data:`MAX_VALIDITY` (441 days, the longest
  relative validity GSM can express, 3GPP TS 23.040 9.2.3.12.1).
- ``priority``: 0 (default) to 3 (highest). ``true``/``false`` are not numbers.
- ``client_ref``: 1 to 100 characters; the same ref with the same body returns
  the stored messages again, with another body it is refused (409).

This module checks the payload's shape (JSON types, time and URL syntax,
recipients); the ranges above and a non-empty text are rules of the send
service (:meth:`gateway.ingress.pipeline.SendService.send`), checked there for every
front door, HTTP, MQTT and the CLI alike, with the code ``invalid_value``
(``empty_text`` for the text).
- ``callback_url``: an ``http://`` or ``https://`` URL with a host.
- ``phonebook``: the name of one of the account's phonebooks: its contacts
  are recipients too (after ``to``, which may then be absent or empty).
- Unknown fields and repeated keys are refused, so a typo (``"sendat"``) never
  silently sends at once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from gateway.ingress.pipeline import MAX_CLIENT_REF, MAX_VALIDITY, SendRequest
from gateway.ingress.recipients import normalize_e164
from gateway.ingress.senders import parse_sender
from gateway.model.errors import (
    InvalidField,
    InvalidRecipient,
    MalformedJson,
    MissingField,
    PayloadNotObject,
    PayloadNotUtf8,
    PayloadTooLarge,
    TooManyRecipients,
    UnknownField,
    WrongType,
)
from gateway.model.isotime import iso_utc
from gateway.model.message import MessageClass, SenderKind
from gateway.model.records import InboundMessage, MessageView

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FIELDS",
    "MAX_RECIPIENTS",
    "MAX_VALIDITY",
    "inbound_json",
    "iso_time",
    "json_kind",
    "json_object",
    "message_json",
    "parse_send_payload",
    "parse_sender_request",
    "payload_client_ref",
]

DEFAULT_MAX_BYTES = 256 * 1024
MAX_RECIPIENTS = 10_000  # per payload; bigger campaigns are split by the client
MAX_CALLBACK_URL = 2048
FIELDS = (
    "from",
    "to",
    "text",
    "class",
    "send_at",
    "validity",
    "priority",
    "client_ref",
    "callback_url",
    "phonebook",
)
REQUIRED = ("from", "text")  # and "to" unless a phonebook is named
SENDER_FIELDS = ("value", "kind", "reason")
MAX_PHONEBOOK = 100
_CLASSES = {"flash": MessageClass.FLASH, "sim": MessageClass.SIM}


def parse_send_payload(
    data: bytes, *, account: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> SendRequest:
    """Validate a send payload for ``account``; raise a UserError subclass if it is refused."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(len(data), max_bytes)
    body = _decode(data)
    if not isinstance(body, dict):
        raise PayloadNotObject(f"the payload must be a JSON object, not {json_kind(body)}")
    unknown = [key for key in body if key not in FIELDS]
    if unknown:
        raise UnknownField(unknown, list(FIELDS))
    for name in REQUIRED:
        if name not in body:
            raise MissingField(name)
    phonebook = _phonebook(body)
    if "to" not in body and phonebook is None:
        raise MissingField("to")
    sender = _sender(body["from"])
    to = body.get("to")
    recipients = () if phonebook is not None and to in (None, []) else _recipients(to)
    text = _string(body, "text")
    if text is None:
        raise WrongType("text", "a string", "null")
    priority = _int(body, "priority")
    return SendRequest(
        account=account,
        sender=sender,
        recipients=recipients,
        text=text,
        msg_class=_msg_class(body),
        send_at=_send_at(body),
        validity=_int(body, "validity"),
        priority=0 if priority is None else priority,
        client_ref=_string(body, "client_ref"),
        callback_url=_callback_url(body),
        phonebook=phonebook,
    )


def parse_sender_request(data: bytes) -> tuple[str, SenderKind | None, str | None]:
    """``POST /v1/senders``: (value, kind or None to guess it, reason)."""
    body = json_object(data, SENDER_FIELDS)
    if "value" not in body:
        raise MissingField("value")
    value = _string(body, "value")
    if value is None:
        raise WrongType("value", "a string", "null")
    kind = _string(body, "kind")
    if kind is not None and kind not in {k.value for k in SenderKind}:
        names = ", ".join(k.value for k in SenderKind)
        raise InvalidField("kind", f"{_shown(kind)} is not one of null, {names}")
    return value, None if kind is None else SenderKind(kind), _string(body, "reason")


def payload_client_ref(data: bytes) -> str | None:
    """The client_ref of a payload, when it reads as one that :func:`parse_send_payload`
    would take (to label a refusal of that payload); None otherwise."""
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    ref = body.get("client_ref") if isinstance(body, dict) else None
    if not isinstance(ref, str) or not 0 < len(ref) <= MAX_CLIENT_REF:
        return None
    try:
        return _valid_unicode(ref, "client_ref")
    except InvalidField:
        return None  # a lone surrogate: it could be neither stored nor sent as JSON


# --- bytes -> JSON object ---------------------------------------------------------


def _decode(data: bytes) -> Any:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PayloadNotUtf8(
            f"the payload is not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None
    if not text.strip():
        raise MalformedJson("the payload is empty: send a JSON object")
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise MalformedJson(
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise MalformedJson("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # an integer with more digits than Python converts
        raise MalformedJson(f"malformed JSON: {_first_line(str(exc))}") from None


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedJson(f"malformed JSON: key {_shown(key)} appears twice")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise MalformedJson(f"malformed JSON: {name} is not a JSON number")


def json_object(data: bytes, fields: Sequence[str]) -> dict[str, Any]:
    """A body that is one JSON object with no field but ``fields`` (refused as a send is)."""
    body = _decode(data)
    if not isinstance(body, dict):
        raise PayloadNotObject(f"the payload must be a JSON object, not {json_kind(body)}")
    unknown = [key for key in body if key not in fields]
    if unknown:
        raise UnknownField(unknown, list(fields))
    return body


# made once: json.loads(text, object_pairs_hook=...) builds a decoder (and its
# scanner) at every call, which cost three times the parse of a send payload
_DECODER = json.JSONDecoder(object_pairs_hook=_no_repeats, parse_constant=_no_constant)


# --- fields -------------------------------------------------------------------------


def json_kind(value: Any) -> str:
    """What a JSON value is, as a user reads it."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int():
            return "an integer"
        case float():
            return "a number with a fraction"
        case str():
            return "a string"
        case list():
            return "an array"
        case _:
            return "an object"


def _valid_unicode(value: str, field: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidField(
            field, f"unpaired surrogate escape at character {exc.start}: not valid Unicode"
        ) from None
    return value


def _string(body: Mapping[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WrongType(field, "a string or null", json_kind(value))
    return _valid_unicode(value, field)


def _int(body: Mapping[str, Any], field: str) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise WrongType(field, "an integer or null", json_kind(value))
    return value


def _sender(value: Any) -> str:
    if not isinstance(value, str):
        raise WrongType("from", "a string", json_kind(value))
    return parse_sender(_valid_unicode(value, "from")).value


def _recipients(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise WrongType("to", "an array of strings or a string", json_kind(value))
    if not items:
        raise InvalidField("to", "no recipient: give at least one +E164 number")
    if len(items) > MAX_RECIPIENTS:
        raise TooManyRecipients(
            f"{len(items)} recipients: at most {MAX_RECIPIENTS} per request; "
            "split the list over several requests"
        )
    numbers: dict[str, None] = {}
    for index, item in enumerate(items):
        field = "to" if isinstance(value, str) else f"to[{index}]"
        if not isinstance(item, str):
            raise WrongType(field, "a string", json_kind(item))
        try:
            numbers[normalize_e164(item)] = None
        except InvalidRecipient as exc:
            raise InvalidRecipient(f"{field}: {exc}") from None
    return tuple(numbers)


def _phonebook(body: Mapping[str, Any]) -> str | None:
    value = _string(body, "phonebook")
    if value is not None and not 0 < len(value) <= MAX_PHONEBOOK:
        raise InvalidField("phonebook", f"a phonebook's name: 1 to {MAX_PHONEBOOK} characters")
    return value


def _msg_class(body: Mapping[str, Any]) -> MessageClass:
    value = _string(body, "class")
    if value is None:
        return MessageClass.STANDARD
    found = _CLASSES.get(value)
    if found is None:
        raise InvalidField("class", f'{_shown(value)} is not one of null, "flash", "sim"')
    return found


def _send_at(body: Mapping[str, Any]) -> float | None:
    value = _string(body, "send_at")
    if value is None:
        return None
    example = "e.g. 2026-12-01T09:00:00Z or 2026-12-01T10:00:00+01:00"
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidField(
            "send_at", f"{_shown(value)} is not an ISO 8601 time ({example})"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidField("send_at", f"{_shown(value)} has no time zone ({example})")
    # aware: plain timedelta arithmetic, cannot overflow; the send service bounds it
    return when.timestamp()


def _callback_url(body: Mapping[str, Any]) -> str | None:
    value = _string(body, "callback_url")
    if value is None:
        return None
    if len(value) > MAX_CALLBACK_URL:
        raise InvalidField("callback_url", f"longer than {MAX_CALLBACK_URL} characters")
    if any(char.isspace() or not char.isprintable() for char in value):
        raise InvalidField("callback_url", "contains white space or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port  # ValueError for a port out of range
    except ValueError:
        raise InvalidField("callback_url", f"{_shown(value)} is not a URL") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname or port == 0:
        raise InvalidField(
            "callback_url", f"{_shown(value)} is not an http:// or https:// URL with a host"
        )
    return value


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else "invalid"


# --- responses ------------------------------------------------------------------------


def iso_time(seconds: float | None) -> str | None:
    """POSIX seconds as ISO 8601 UTC (``...Z``); None stays None."""
    if seconds is None:
        return None
    return iso_utc(seconds, timespec="milliseconds")


def message_json(view: MessageView) -> dict[str, Any]:
    """A message with its segments (SMSC ids, receipt states) and timestamps."""
    m = view.message
    return {
        "id": m.id,
        "from": m.sender,
        "to": m.destination,
        "state": m.state.value,
        "error": m.error,
        "text": m.text,
        "encoding": m.encoding,
        "segment_count": m.segments,
        "credits": m.credits,
        "class": None if m.msg_class.value == "standard" else m.msg_class.value,
        "priority": m.priority,
        "validity": m.validity,
        "client_ref": m.client_ref,
        "callback_url": m.callback_url,
        "attempts": m.attempts,
        "send_at": iso_time(m.send_at),
        "created_at": iso_time(m.created_at),
        "updated_at": iso_time(m.updated_at),
        "segments": [
            {
                "index": s.index,
                "state": s.state.value,
                "smsc_id": s.smsc_id,
                "link": s.link,
                "submitted_at": iso_time(s.submitted_at),
                "receipt_state": None if s.receipt_state is None else s.receipt_state.value,
                "error": s.error,
                "updated_at": iso_time(s.updated_at),
            }
            for s in view.segments
        ],
    }


def inbound_json(m: InboundMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "from": m.source,
        "to": m.destination,
        "text": m.text,
        "link": m.link,
        "received_at": iso_time(m.received_at),
    }
