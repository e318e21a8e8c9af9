"""A submit_sm's fields as the send pipeline takes them: addresses, times, priority.

Pure functions (the clock's ``now`` passed in); its text or segment is
esme_content.py's. Choices made here:

- The destination is an international number: TON 1, with or without '+'.
- Times: SMPP 3.4 7.1.1, absolute 'YYMMDDhhmmsstnn+/-' (nn quarter hours
  from UTC) or relative 'YYMMDDhhmmss000R' (a year is 365 days, a month 30).
"""

from __future__ import annotations

import calendar
import re

from gateway.ingress.recipients import normalize_e164
from gateway.model.errors import InvalidRecipient
from gateway.model.esme_ingress import (
    BadPriority,
    BadSchedule,
    BadValidity,
    EsmeSubmit,
    UnsupportedDestination,
)

TON_INTERNATIONAL = 1
TON_ALPHANUMERIC = 5
MAX_PRIORITY_FLAG = 3
_TIME = re.compile(r"^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d)(\d{2})([-+R])$")


def destination_of(submit: EsmeSubmit) -> str:
    """The destination as '+digits', a valid E.164 number."""
    if submit.dest_ton != TON_INTERNATIONAL:
        msg = (
            f"destination TON {submit.dest_ton}: smsgw takes international "
            "numbers (TON 1, NPI 1) with the country code"
        )
        raise UnsupportedDestination(msg)
    digits = submit.destination.removeprefix("+")
    if not digits.isdigit() or not digits.isascii():
        msg = f"destination {submit.destination!r}: digits expected"
        raise InvalidRecipient(msg)
    return normalize_e164("+" + digits)  # valid in its country's plan, as from every front door


def sender_of(submit: EsmeSubmit) -> str:
    """The source address as the send pipeline reads senders."""
    source = submit.source
    if submit.source_ton == TON_INTERNATIONAL and source.isdigit():
        return "+" + source
    return source


def priority_of(submit: EsmeSubmit) -> int:
    if submit.priority_flag > MAX_PRIORITY_FLAG:
        msg = f"priority_flag {submit.priority_flag}: 0 to {MAX_PRIORITY_FLAG}"
        raise BadPriority(msg)
    return submit.priority_flag


def _parse(value: str, now: float) -> float:
    """The POSIX time an SMPP time names; ValueError when it is not one."""
    m = _TIME.match(value)
    if m is None:
        raise ValueError(value)
    yy, mo, dd, hh, mi, ss, tenths, nn, sign = m.groups()
    if sign == "R":
        days = int(yy) * 365 + int(mo) * 30 + int(dd)
        return now + days * 86_400 + int(hh) * 3600 + int(mi) * 60 + int(ss)
    local = calendar.timegm((2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss), 0, 0, 0))
    if not (1 <= int(mo) <= 12 and 1 <= int(dd) <= 31 and int(hh) < 24 and int(mi) < 60):
        raise ValueError(value)
    offset = int(nn) * 900 * (1 if sign == "+" else -1)
    return local - offset + int(tenths) / 10


def send_at_of(submit: EsmeSubmit, now: float) -> float | None:
    """schedule_delivery_time as a send_at (None: now)."""
    if not submit.schedule_delivery_time:
        return None
    try:
        return _parse(submit.schedule_delivery_time, now)
    except ValueError:
        msg = f"schedule_delivery_time {submit.schedule_delivery_time!r} is not an SMPP time"
        raise BadSchedule(msg) from None


def validity_of(submit: EsmeSubmit, now: float, longest: int) -> int | None:
    """validity_period as seconds from now (None: the default)."""
    if not submit.validity_period:
        return None
    try:
        until = _parse(submit.validity_period, now)
    except ValueError:
        msg = f"validity_period {submit.validity_period!r} is not an SMPP time"
        raise BadValidity(msg) from None
    seconds = int(until - now)
    if seconds <= 0:
        msg = f"validity_period {submit.validity_period!r} is already past"
        raise BadValidity(msg)
    if seconds > longest:
        msg = f"validity_period of {seconds} seconds: at most {longest} ({longest // 86_400} days)"
        raise BadValidity(msg)
    return seconds
