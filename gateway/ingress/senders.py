"""Sender addresses: alphanumeric originators, short codes and virtual numbers.

Rules (one per :class:`SenderKind`):

- ALPHA: 1 to 11 characters, all in the GSM 03.38 default alphabet (basic
  table), not all digits, no leading or trailing space. Characters of the
  extension table (``^ { } \\ [ ~ ] | €``) are refused: each costs two septets
  and many SMSCs and operators refuse or mangle them in alphanumeric
  originators. Line feed, carriage return and escape are refused as well.
- SHORTCODE: 3 to 8 ASCII digits.
- NUMBER: a valid E.164 number (:func:`gateway.ingress.recipients.normalize_e164`),
  stored in its canonical ``+<digits>`` form.

A short code or a number receives replies, which go to its owner: it belongs
to one account at a time (:mod:`gateway.model.senders`, the rule the store
keeps). An alphanumeric name receives nothing and may be approved for several
accounts.

With no kind given, it is inferred: ``+...`` is a NUMBER, 3 to 8 digits a
SHORTCODE, anything else ALPHA. A kind given that the value does not fit is
refused with the kind that would fit, if any.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from gateway.ingress.recipients import check_e164
from gateway.model.errors import InvalidField, InvalidSender
from gateway.model.message import SenderKind
from gateway.model.records import Sender
from gateway.model.senders import KIND_LABELS
from gateway.store.base import Store

__all__ = [
    "ALPHA_MAX_LENGTH",
    "GSM_BASIC",
    "MAX_REQUEST_REASON",
    "SHORTCODE_LENGTHS",
    "SenderAddress",
    "parse_sender",
    "request_sender",
]

# GSM 03.38 (3GPP TS 23.038 section 6.2.1) default alphabet, basic table; the
# index of a character is its septet value. Row by row, 16 septets per line.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\x1bÆæßÉ"  # 0x10 (Greek capitals)
    " !\"#¤%&'()*+,-./"  # 0x20
    "0123456789:;<=>?"  # 0x30
    "¡ABCDEFGHIJKLMNO"  # 0x40
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50
    "¿abcdefghijklmno"  # 0x60
    "pqrstuvwxyzäöñüà"  # 0x70
)
# Reached through the escape septet 0x1B (section 6.2.1.1); refused in senders.
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")
_ALPHA_CHARS = frozenset(GSM_BASIC) - {"\n", "\r", "\x1b"}

ALPHA_MAX_LENGTH = 11
SHORTCODE_LENGTHS = range(3, 9)


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderAddress:
    value: str  # as sent: the text, the digits, or +E.164
    kind: SenderKind


# every send parses its sender, and the same few recur: valid answers are kept
# (a refusal raises, and is not kept)
@functools.lru_cache(maxsize=4096)
def parse_sender(raw: str, kind: SenderKind | None = None) -> SenderAddress:
    """Validate ``raw`` as a sender of ``kind`` (inferred when None).

    Raises :class:`InvalidSender` with one line saying what is wrong.
    """
    inferred = infer_kind(raw)
    target = inferred if kind is None else kind
    value, reason = _CHECKS[target](raw)
    if value is not None:
        return SenderAddress(value=value, kind=target)
    hint = ""
    for other in (inferred, SenderKind.ALPHA, SenderKind.SHORTCODE, SenderKind.NUMBER):
        if other is not target and _CHECKS[other](raw)[0] is not None:
            hint = f"; it is a valid {KIND_LABELS[other]} sender: use kind {other.value!r}"
            break
    shown = repr(raw if len(raw) <= 40 else raw[:40] + "…")
    raise InvalidSender(f"invalid {KIND_LABELS[target]} sender {shown}: {reason}{hint}")


def infer_kind(raw: str) -> SenderKind:
    """``+...`` is a NUMBER, 3 to 8 digits a SHORTCODE, anything else ALPHA."""
    text = raw.strip()
    if text.startswith("+"):
        return SenderKind.NUMBER
    if _is_ascii_digits(text) and len(text) in SHORTCODE_LENGTHS:
        return SenderKind.SHORTCODE
    return SenderKind.ALPHA


def _is_ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _check_alpha(raw: str) -> tuple[str | None, str]:
    if not raw:
        return None, "empty"
    if raw != raw.strip():
        return None, "leading or trailing space"
    for char in raw:
        if char in GSM_EXTENSION:
            return None, (
                f"{char!r} is in the GSM extension table, which many SMSCs refuse "
                "in alphanumeric senders"
            )
        if char not in _ALPHA_CHARS:
            return None, f"{char!r} is not in the GSM 03.38 default alphabet"
    if _is_ascii_digits(raw):
        number, _ = check_e164("+" + raw)
        if number is not None:
            return None, f"all digits; if it is a number, write it with + first: {number}"
        return None, (
            "all digits; a short code has 3 to 8 digits and a number starts with "
            "+ and the country code"
        )
    if len(raw) > ALPHA_MAX_LENGTH:
        return None, f"{len(raw)} characters; at most {ALPHA_MAX_LENGTH}"
    return raw, ""


def _check_shortcode(raw: str) -> tuple[str | None, str]:
    if raw != raw.strip():
        return None, "leading or trailing space"
    if not _is_ascii_digits(raw):
        return None, "a short code is digits only"
    if len(raw) not in SHORTCODE_LENGTHS:
        return None, f"{len(raw)} digits; a short code has 3 to 8"
    return raw, ""


_CHECKS: dict[SenderKind, Callable[[str], tuple[str | None, str]]] = {
    SenderKind.ALPHA: _check_alpha,
    SenderKind.SHORTCODE: _check_shortcode,
    SenderKind.NUMBER: check_e164,
}


MAX_REQUEST_REASON = 500  # characters


async def request_sender(
    store: Store, account: str, raw: str, *, kind: SenderKind | None = None, reason: str | None
) -> Sender:
    """Ask for a sender for ``account`` (pending until an operator approves it), with
    why: the API's, the console's and ``smsgw sender add``'s one way to do it."""
    address = parse_sender(raw, kind)
    why = reason.strip() if reason is not None else None
    if why is not None and len(why) > MAX_REQUEST_REASON:
        raise InvalidField("reason", f"longer than {MAX_REQUEST_REASON} characters")
    return await store.add_sender(account, address.value, address.kind, reason=why or None)
