"""SMPP addresses (TON, digits) as the text the core uses: international numbers as +E164.

SMSCs do not all write the number a handset replied to (or replied from) the
way it was registered. Seen in practice:

- TON 1 (international), digits without ``+``: ``447911123456``;
- TON 0 (unknown) with the same international digits;
- TON 0 or 2 (national) in national format, with the trunk prefix
  (``07911123456``) or without it (``7911123456``), or with the country's
  international dialling prefix (``00447911123456``).

:func:`mo_address` turns all of them into ``+447911123456`` (the form senders
are approved in), so a reply to a virtual number reaches the account owning
it. National forms need the country the SMSC numbers in (the link's
``country`` key, ISO 3166 alpha-2); without it they are kept as sent. A
number must be valid in its country's plan (``phonenumbers.is_valid_number``,
the rule every recipient is checked with) to be rewritten: anything else, a
short code above all, is kept as the SMSC sent it.

TON 0 digits can read both ways: ``6597925149`` is +1 659 792 5149 in the US
and +65 9792 5149 in Singapore; Italian mobiles are dialled without a trunk
prefix (``3282625035``), which also reads +32 82 62 50 35 in Belgium. With a
``country`` the national reading wins (the operator sets it because that SMSC
writes national numbers, and its MO go to numbers of its country); without
one, TON 0 digits are read as international.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException

TON_UNKNOWN = 0
TON_INTERNATIONAL = 1
TON_NATIONAL = 2


def address_text(ton: int, addr: str) -> str:
    """An address as the core writes it: international numbers as +E164 (the receipts'
    hot path: no numbering plan consulted)."""
    if ton == TON_INTERNATIONAL and addr and not addr.startswith("+") and addr.isdigit():
        return "+" + addr
    return addr


def is_region(code: str) -> bool:
    """Whether ``code`` is a country phonenumbers knows (ISO 3166 alpha-2, any case)."""
    return code.upper() in phonenumbers.SUPPORTED_REGIONS


def mo_address(ton: int, addr: str, *, country: str | None = None) -> str:
    """The address of an MO message (its destination or source) as the core looks it up."""
    if ton not in (TON_UNKNOWN, TON_NATIONAL) or not (addr.isascii() and addr.isdigit()):
        return address_text(ton, addr)
    national = _national(addr, country.upper()) if country else None
    if national is not None:
        return national
    if ton == TON_UNKNOWN:
        return _e164(addr) or addr
    return addr


def _valid_e164(number: phonenumbers.PhoneNumber) -> str | None:
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _e164(digits: str) -> str | None:
    """``+digits`` when that is a valid number."""
    try:
        return _valid_e164(phonenumbers.parse("+" + digits, None))
    except NumberParseException:
        return None


def _national(digits: str, region: str) -> str | None:
    """``digits`` dialled in ``region`` (trunk or international prefix, or neither)."""
    try:
        return _valid_e164(phonenumbers.parse(digits, region))
    except NumberParseException:
        return None
