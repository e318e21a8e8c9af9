"""The rules every backend calls for operators' API tokens (README: HTTP API, operator tokens).

An operator token acts on any account, through the operator routes only
(``/v1/accounts/{account}/...``); an account's token never reaches them. They
live in a table of their own (``operator_tokens``), not as account tokens
without an account, so that no query of account tokens can ever answer one.

- A token is ``smsgwop_`` and 256 random bits. Every account token begins
  ``smsgw_``, which an operator token does not: the prefix says which table a
  request's token is looked up in (one read per token). The store keeps its
  SHA-256 and its first characters, as for account tokens.
- ``name`` says whose it is (``ops-alice``, ``billing-script``): the log
  events of what the token did carry it. Names are unique among the tokens in
  force; a revoked token keeps its row (``revoked_at``), so that a name in an
  old log still says which token it was (with the id the logs carry too).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.model.errors import AlreadyExists, NotFound, UserError
from gateway.model.records import OperatorToken
from gateway.store.accounts import token_hash

__all__ = [
    "OPERATOR_TOKEN_COLUMNS",
    "OPERATOR_TOKEN_NAME",
    "OPERATOR_TOKEN_PREFIX",
    "NewOperatorToken",
    "check_operator_name",
    "is_operator_token",
    "new_operator_token",
    "no_operator_token",
    "operator_name_taken",
    "operator_token_from",
]

OPERATOR_TOKEN_PREFIX = "smsgwop_"  # noqa: S105 (the public prefix of every operator token)
OPERATOR_TOKEN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.@-]{0,63}$")
# the columns of an OperatorToken, in its fields' order (never the hash)
OPERATOR_TOKEN_COLUMNS = "id, name, prefix, created_at, revoked_at"  # noqa: S105 (column names)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewOperatorToken:
    """A token made for an operator: the token (shown once), what is stored of it."""

    token: str
    prefix: str
    hash: str


def is_operator_token(token: str) -> bool:
    """Whether ``token`` has the operator tokens' form (look it up in their table)."""
    return token.startswith(OPERATOR_TOKEN_PREFIX)


def check_operator_name(name: str) -> None:
    if not OPERATOR_TOKEN_NAME.match(name):
        msg = (
            f"bad operator token name {name[:70]!r}: 1-64 letters, digits, '_', '.', '@', '-', "
            "starting with a letter"
        )
        raise UserError(msg)


def new_operator_token() -> NewOperatorToken:
    token = OPERATOR_TOKEN_PREFIX + secrets.token_urlsafe(32)
    prefix = token[: len(OPERATOR_TOKEN_PREFIX) + 6]
    return NewOperatorToken(token=token, prefix=prefix, hash=token_hash(token))


def operator_name_taken(name: str) -> AlreadyExists:
    return AlreadyExists(
        f"an operator token named {name!r} is in force: revoke it first, or choose another name"
    )


def no_operator_token(token_id: int, *, revoked: bool = False) -> NotFound:
    if revoked:
        return NotFound(f"operator token {token_id} is already revoked")
    return NotFound(f"no operator token {token_id}: `smsgw token list --operator` shows them")


def operator_token_from(row: Sequence[Any]) -> OperatorToken:
    token_id, name, prefix, created_at, revoked_at = row
    return OperatorToken(
        id=int(token_id),
        name=str(name),
        prefix=str(prefix),
        created_at=float(created_at),
        revoked_at=None if revoked_at is None else float(revoked_at),
    )
