"""The rules every backend calls for accounts, API tokens and phonebooks.

A backend loads and saves rows; what a name may look like, what a new token
is, which account settings are refused, and the errors a user reads are
decided here, once for SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.model.errors import AlreadyExists, NotFound, UserError
from gateway.model.numbers import optional_int
from gateway.model.records import ApiToken
from gateway.store.base import KEEP, Keep

__all__ = [
    "ACCOUNT_NAME",
    "PHONEBOOK_NAME",
    "TOKEN_COLUMNS",
    "TOKEN_NAME_MAX",
    "TOKEN_PREFIX",
    "AccountSettings",
    "NewToken",
    "account_exists",
    "account_limits",
    "check_account_name",
    "check_phonebook_name",
    "check_token_name",
    "import_counts",
    "new_token",
    "no_phonebook",
    "no_token",
    "phonebook_exists",
    "settings_for",
    "token_from",
    "token_hash",
    "unknown_account",
]

# account names appear in MQTT topics: no '/', '+', '#', spaces
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PHONEBOOK_NAME = re.compile(r"^[\w][\w .-]{0,63}$")
TOKEN_PREFIX = "smsgw_"  # noqa: S105 (the public prefix of every token, not a secret)
TOKEN_NAME_MAX = 64  # characters of an account token's name
# the columns of an ApiToken, in its fields' order (never the hash)
TOKEN_COLUMNS = "id, account, name, prefix, created_at"  # noqa: S105 (column names)


def unknown_account(name: str) -> NotFound:
    return NotFound(f"unknown account {name!r}: create it with `smsgw account create {name}`")


def check_account_name(name: str) -> None:
    if not ACCOUNT_NAME.match(name):
        msg = f"bad account name {name!r}: 1-64 letters, digits, '_', '.', '-'"
        raise UserError(msg)


def account_exists(name: str) -> AlreadyExists:
    return AlreadyExists(f"account {name!r} already exists")


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSettings:
    """What ``set_account`` writes: each field KEEP (left as it is) or its new value;
    ``alert_armed`` goes with ``alert_below``."""

    credit_limit: int | Keep
    monthly_cap: int | Keep | None
    alert_below: int | Keep | None
    alert_armed: bool


def settings_for(
    balance: int,
    *,
    credit_limit: int | Keep,
    monthly_cap: int | Keep | None,
    alert_below: int | Keep | None,
) -> AccountSettings:
    """The settings to write on an account whose balance is ``balance``, or UserError."""
    if not isinstance(credit_limit, Keep):
        if credit_limit < 0:
            raise UserError("bad credit limit: must not be negative")
        if balance < -credit_limit:
            msg = (
                f"credit limit {credit_limit} is below the account's debt "
                f"(balance {balance}): top up first"
            )
            raise UserError(msg)
    if not isinstance(monthly_cap, Keep) and monthly_cap is not None and monthly_cap < 0:
        raise UserError("bad monthly cap: must not be negative")
    # re-armed: the next time the balance is found below, it is reported
    armed = isinstance(alert_below, Keep) or alert_below is None or balance >= alert_below
    return AccountSettings(
        credit_limit=credit_limit,
        monthly_cap=monthly_cap,
        alert_below=alert_below,
        alert_armed=armed,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NewToken:
    """A token made for an account: the token (shown once), what is stored of it."""

    token: str
    prefix: str  # its first characters, to tell tokens apart in listings
    hash: str


def token_hash(token: str) -> str:
    # tokens are 256 random bits: a fast hash is enough (no dictionary to try)
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> NewToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return NewToken(token=token, prefix=token[: len(TOKEN_PREFIX) + 6], hash=token_hash(token))


def check_token_name(name: str | None) -> None:
    """An account token's name is a label for people (``crm``, ``Shop (prod)``): None
    (no name), or 1-64 printable characters without a space at either end.

    Names need not be unique, not even within an account: replacing a token is
    making the new one under the same name, moving the client to it, then revoking
    the old one by its id (which is what tells tokens apart). An operator token's
    name is different: it is who acted in the log events, so unique while in force
    (gateway/store/operator_tokens.py).
    """
    if name is None:
        return
    if not (0 < len(name) <= TOKEN_NAME_MAX and name.isprintable() and name == name.strip()):
        msg = (
            f"bad token name {name[:70]!r}: 1-{TOKEN_NAME_MAX} printable characters "
            "(letters, digits, punctuation, spaces), no space at either end"
        )
        raise UserError(msg)


def token_from(row: Sequence[Any]) -> ApiToken:
    token_id, account, name, prefix, created_at = row
    return ApiToken(
        id=int(token_id),
        account=str(account),
        name=None if name is None else str(name),
        prefix=str(prefix),
        created_at=float(created_at),
    )


def no_token(token_id: int, account: str | None) -> NotFound:
    whose = f" of account {account!r}" if account is not None else ""
    return NotFound(f"no API token {token_id}{whose}: `smsgw token list` shows them")


def check_phonebook_name(name: str) -> None:
    if not PHONEBOOK_NAME.match(name):
        raise UserError(f"bad phonebook name {name!r}: 1-64 letters, digits, ' ', '_', '.', '-'")


def phonebook_exists(name: str, account: str) -> AlreadyExists:
    return AlreadyExists(f"phonebook {name!r} already exists for account {account!r}")


def no_phonebook(name: str, account: str) -> NotFound:
    return NotFound(
        f"no phonebook {name!r} for account {account!r}: "
        f"create it with `smsgw phonebook create {account} {name}`"
    )


def import_counts(before: int, after: int, given: int) -> tuple[int, int]:
    """(added, updated) of an import of ``given`` contacts into a phonebook that held
    ``before`` contacts and holds ``after``."""
    added = after - before
    return added, given - added


def account_limits(
    credit_limit: str | None, monthly_cap: str | None, alert_below: str | None
) -> tuple[int | Keep, int | Keep | None, int | Keep | None]:
    """The ``set_account`` arguments from text (None: keep the setting; ``none`` or
    empty: no cap, no alert, a credit limit of 0), or a one-line UserError."""
    credit: int | Keep = KEEP
    if credit_limit is not None:
        value = optional_int(credit_limit, what="credit limit")
        credit = 0 if value is None else value
    cap: int | Keep | None = (
        KEEP if monthly_cap is None else optional_int(monthly_cap, what="monthly cap")
    )
    alert: int | Keep | None = (
        KEEP if alert_below is None else optional_int(alert_below, what="alert level")
    )
    return credit, cap, alert
