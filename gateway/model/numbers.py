"""Whole numbers typed by people (the CLI's options, the console's forms)."""

from __future__ import annotations

from gateway.model.errors import UserError

__all__ = ["SQLITE_MAX_INT", "optional_int", "whole_number"]

# the largest integer SQLite stores (a signed 64-bit INTEGER); larger ones overflow
SQLITE_MAX_INT = 2**63 - 1


def whole_number(
    raw: str, *, what: str, low: int = -SQLITE_MAX_INT, high: int = SQLITE_MAX_INT
) -> int:
    """``raw`` as a whole number in ``low..high``, or a one-line UserError."""
    text = raw.strip()
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"bad {what} {raw[:40]!r}: a whole number expected") from None
    if not low <= value <= high:
        shown = text if len(text) <= 24 else text[:20] + "…"
        raise UserError(f"bad {what} {shown}: {low} to {high}")
    return value


def optional_int(raw: str, *, what: str, low: int = -SQLITE_MAX_INT) -> int | None:
    """A whole number (``low`` or more), or ``none`` to clear the setting."""
    if raw.strip().lower() in {"none", "off", ""}:
        return None
    return whole_number(raw, what=what, low=low)
