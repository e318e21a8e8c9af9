"""POSIX seconds as ISO 8601 UTC text, for every time smsgw shows (API, events, CLI).

A time outside what :class:`datetime.datetime` represents (years 1 to 9999)
is shown as the nearest end of that range instead of raising: a value stored
before ingress bounded ``send_at`` (or written by another tool) must not make
a listing fail. The clamped text keeps its meaning for the dispatcher: far
past is due, far future is not.
"""

from __future__ import annotations

import datetime as dt
import time

__all__ = ["iso", "iso_utc", "month_of"]

_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)
_LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)


def iso_utc(seconds: float, *, timespec: str = "seconds") -> str:
    """``2026-12-01T09:00:00Z`` (``timespec`` as :meth:`datetime.isoformat` takes it)."""
    try:
        when = dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, ValueError, OSError):  # out of range, or NaN
        when = _LATEST if seconds > 0 else _EARLIEST
    return when.isoformat(timespec=timespec).replace("+00:00", "Z")


def iso(at: float | None) -> str:
    """ISO 8601 UTC with seconds, or '' for None."""
    if at is None:
        return ""
    return iso_utc(at)


def month_of(at: float) -> str:
    """'YYYY-MM' of a POSIX time, in UTC."""
    return time.strftime("%Y-%m", time.gmtime(at))
