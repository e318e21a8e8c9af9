"""The rules every backend calls for ESME credentials (``smsgw esme``, the SMPP server's binds).

A password is made here (8 characters: SMPP 3.4 carries at most 8), shown
once, and kept as an scrypt hash with a random salt, its parameters stored
with it (``scrypt$n$r$p$salt$hash``, hex); checks compare in constant time.
A backend loads and saves rows; what a system_id may look like, what is
refused and the errors a user reads are decided here.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.model.errors import AlreadyExists, NotFound, UserError
from gateway.model.esme import EsmeCredential
from gateway.model.esme_ingress import UnknownSystemId, WrongPassword

# system_id is a C-octet string of at most 16 octets with its NUL (SMPP 3.4 4.1.1)
SYSTEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")
PASSWORD_LENGTH = 8  # the most SMPP 3.4's password field carries
_ALPHABET = string.ascii_letters + string.digits
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
OPTIONS = frozenset({"latin1"})  # latin1: data_coding 0 read as Latin-1, not GSM 03.38
MAX_BINDS = 100
MAX_THROUGHPUT = 1_000_000  # submits a second: more than any bind carries
ESME_COLUMNS = "account, system_id, max_binds, throughput, allow, options, created_at"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewCredential:
    """A checked credential to store, with its password (shown once) and its hash."""

    credential: EsmeCredential
    password: str
    password_hash: str


def new_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_LENGTH))


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` (a hash_password result) was made of."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


_DUMMY_HASH = hash_password("", salt=bytes(16))


def check_bind(
    system_id: str, password: str, row: tuple[Any, ...] | None, stored: str
) -> EsmeCredential:
    """The credential of a bind, from its row (ESME_COLUMNS) and stored hash, or why not."""
    if row is None:
        password_matches(password, _DUMMY_HASH)  # as long as a known one: ids are not probed
        msg = f"no ESME credential has system_id {system_id!r}"
        raise UnknownSystemId(msg)
    if not password_matches(password, stored):
        msg = f"wrong password for system_id {system_id!r}"
        raise WrongPassword(msg)
    return credential_from(row)


def check_bind_row(system_id: str, password: str, row: tuple[Any, ...] | None) -> EsmeCredential:
    """:func:`check_bind` of a row read with its password hash last (the backends'
    ``bind_row``)."""
    return check_bind(system_id, password, row, row[-1] if row is not None else "")


def check_allow(allow: Sequence[str]) -> tuple[str, ...]:
    """CIDRs (or addresses) normalised; a bad one is refused with the reason."""
    out: list[str] = []
    for item in allow:
        try:
            out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            msg = f"bad allow entry {item!r}: an address or a CIDR (192.0.2.0/24, 2001:db8::/32)"
            raise UserError(msg) from None
    return tuple(dict.fromkeys(out))


def new_credential(
    *,
    account: str,
    system_id: str,
    max_binds: int,
    throughput: int | None,
    allow: Sequence[str],
    options: Sequence[str],
    now: float,
) -> NewCredential:
    if not SYSTEM_ID.match(system_id):
        msg = (
            f"bad system_id {system_id!r}: 1 to 15 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
        raise UserError(msg)
    if not 1 <= max_binds <= MAX_BINDS:
        msg = f"max binds {max_binds}: 1 to {MAX_BINDS}"
        raise UserError(msg)
    if throughput is not None and not 1 <= throughput <= MAX_THROUGHPUT:
        msg = f"throughput {throughput}: 1 to {MAX_THROUGHPUT:,} submits a second (or no limit)"
        raise UserError(msg)
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        msg = f"unknown ESME option {unknown[0]!r}: {', '.join(sorted(OPTIONS))}"
        raise UserError(msg)
    password = new_password()
    credential = EsmeCredential(
        account=account,
        system_id=system_id,
        max_binds=max_binds,
        throughput=throughput,
        allow=check_allow(allow),
        created_at=now,
        options=tuple(sorted(set(options))),
    )
    return NewCredential(
        credential=credential, password=password, password_hash=hash_password(password)
    )


def credential_row(c: EsmeCredential) -> tuple[Any, ...]:
    """The row values in ESME_COLUMNS order (allow and options as JSON lists)."""
    return (
        c.account,
        c.system_id,
        c.max_binds,
        c.throughput,
        json.dumps(list(c.allow)),
        json.dumps(list(c.options)),
        c.created_at,
    )


def credential_from(row: Sequence[Any]) -> EsmeCredential:
    account, system_id, max_binds, throughput, allow, options, created_at = row[:7]
    return EsmeCredential(
        account=account,
        system_id=system_id,
        max_binds=int(max_binds),
        throughput=None if throughput is None else int(throughput),
        allow=tuple(json.loads(allow)),
        created_at=float(created_at),
        options=tuple(json.loads(options)),
    )


def system_id_taken(system_id: str) -> AlreadyExists:
    return AlreadyExists(f"ESME system_id {system_id!r} already exists")


def no_credential(account: str, system_id: str) -> NotFound:
    return NotFound(
        f"account {account!r} has no ESME credential {system_id!r}: see `smsgw esme list {account}`"
    )
