"""The rules every backend calls for console logins and sessions.

Passwords are kept as scrypt hashes (``hashlib.scrypt``: a memory-hard KDF)
with their salt and parameters in one text, ``scrypt$n$r$p$salt$hash``, so the
parameters can grow later without invalidating stored ones. Hashing and
checking run outside the store's transactions (they cost tens of
milliseconds on purpose). A session's token is 256 random bits, stored as
its SHA-256 (no dictionary to try against a hash of random bits).
Lock-outs: after ``max_failures`` wrong passwords in a row a login is
refused for ``lock_seconds``; the counter starts again after that.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from gateway.model.errors import AlreadyExists, NotFound, UserError

__all__ = [
    "SCRYPT_N",
    "LockState",
    "check_email",
    "check_password_rules",
    "hash_password",
    "login_exists",
    "new_one_time_password",
    "new_session_token",
    "no_login",
    "normalize_email",
    "session_hash",
    "verify_password",
]

SCRYPT_N = 2**14  # 16 MiB with r=8: about 50 ms a check on a server core
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
MIN_PASSWORD = 10
MAX_PASSWORD = 200
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,63}$")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_email(email: str) -> str:
    """``email`` as stored (lower case), or UserError."""
    value = normalize_email(email)
    if not _EMAIL.match(value):
        raise UserError(f"bad email address {email[:80]!r}: name@domain expected")
    return value


def check_password_rules(password: str) -> None:
    """What a chosen password must be (a one-time password is made long enough)."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password is too short: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"the password is too long: at most {MAX_PASSWORD} characters")


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, n, SCRYPT_R, SCRYPT_P)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${key.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (constant time)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(key)
        got = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    data = password.encode("utf-8", "surrogatepass")[: MAX_PASSWORD * 4]
    return hashlib.scrypt(
        data, salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=_KEY_BYTES
    )


def new_one_time_password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, 96 bits


def new_session_token() -> tuple[str, str, str]:
    """(token for the cookie, its hash for the store, the session's CSRF token)."""
    token = secrets.token_urlsafe(32)
    return token, session_hash(token), secrets.token_urlsafe(32)


def session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class LockState:
    """A login's wrong-password counter and lock after one more wrong password."""

    failed_attempts: int
    locked_until: float | None

    @staticmethod
    def after_failure(
        failed: int,
        locked_until: float | None,
        *,
        now: float,
        max_failures: int,
        lock_seconds: float,
    ) -> LockState:
        if locked_until is not None and locked_until <= now:
            failed, locked_until = 0, None  # the lock ran out: counting starts again
        failed += 1
        if failed >= max_failures:
            return LockState(failed_attempts=failed, locked_until=now + lock_seconds)
        return LockState(failed_attempts=failed, locked_until=locked_until)


def login_exists(email: str) -> AlreadyExists:
    return AlreadyExists(f"a login {email!r} already exists")


def no_login(email: str) -> NotFound:
    return NotFound(f"no login {email!r}: `smsgw login list` shows them")
