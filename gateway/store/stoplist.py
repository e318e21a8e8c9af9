"""The stoplist's rules, for every backend and every front door.

A number is on an account's stoplist when it replied a stop keyword to one of
the account's senders (the reply and the entry are stored in one transaction:
``Store.add_inbound(message, stop=True)``), or when an operator put it there.
The store refuses those recipients (error ``stopped``) in the send's own
transaction (gateway.store.admission), before any debit: they are not sent to
and not charged, and a STOP committed before a send's commit applies to it.
Which texts are stop keywords is :func:`is_stop` (``[stoplist] keywords``),
here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.model.errors import InvalidRecipient, NotFound
from gateway.model.orders import StopEntry, Stopped, StopSource
from gateway.model.records import InboundMessage
from gateway.store.columns import Row

DEFAULT_STOP_KEYWORDS: tuple[str, ...] = ("STOP", "ARRET", "UNSUBSCRIBE", "STOPALL")
STOP_COLUMNS = "account, number, source, created_at"
_E164 = re.compile(r"^\+[1-9]\d{5,14}$")


def stop_words(keywords: Iterable[str]) -> frozenset[str]:
    """The keywords as :func:`is_stop` compares them (case-folded, trimmed)."""
    return frozenset(k.strip().casefold() for k in keywords if k.strip())


DEFAULT_STOP_WORDS = stop_words(DEFAULT_STOP_KEYWORDS)


def is_stop(text: str, words: frozenset[str] = DEFAULT_STOP_WORDS) -> bool:
    """Whether a reply's text is a stop keyword: the whole text, whitespace around it
    trimmed, in any case ("stop", " Stop\\n"; not "stop it" nor "don't stop")."""
    return text.strip().casefold() in words


def stops(reply: InboundMessage, words: frozenset[str] = DEFAULT_STOP_WORDS) -> bool:
    """Whether ``reply`` puts its source on a stoplist: a stop keyword from a number
    (+E164) to a sender some account owns."""
    return (
        reply.account is not None and is_stop(reply.text, words) and bool(_E164.match(reply.source))
    )


def check_number(number: str) -> str:
    if not _E164.match(number):
        raise InvalidRecipient(f"bad number {number!r}: +E164 expected, e.g. +33612345678")
    return number


def stop_from(row: Row) -> StopEntry:
    return StopEntry(account=row[0], number=row[1], source=StopSource(row[2]), created_at=row[3])


def not_stopped(account: str, number: str) -> NotFound:
    return NotFound(f"{number} is not on the stoplist of account {account!r}")


def stopped(account: str, number: str) -> Stopped:
    return Stopped(f"{number} asked not to receive messages from account {account!r} (stoplist)")
