"""The web console's logins and sessions, as the store keeps them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class LoginRole(enum.Enum):
    CUSTOMER = "customer"  # sees and works on its own account
    OPERATOR = "operator"  # the operator's pages too (/operator/...)


@dataclass(frozen=True, slots=True, kw_only=True)
class Login:
    """A person who logs in to the console, for one account."""

    email: str  # lower case, unique
    account: str
    role: LoginRole
    password_hash: str = field(repr=False)  # gateway.store.logins.hash_password's text
    must_change: bool  # a one-time password: a new one first
    failed_attempts: int  # wrong passwords in a row
    locked_until: float | None  # refused until then (too many wrong passwords)
    disabled: bool
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSession:
    """A logged-in browser: the cookie's token is stored hashed, never itself."""

    login: Login
    csrf: str = field(repr=False)  # every form of the session carries it
    created_at: float
    expires_at: float
