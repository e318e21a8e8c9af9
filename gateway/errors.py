"""Error types of smsgw.

Every error a user can cause derives from :class:`UserError`: the CLI prints
its message as one line and exits 1, the HTTP API maps it to a 4xx. Errors
carry the data a caller needs to act (the offending character, the balance
and the amount needed...), not only a sentence.
"""

from __future__ import annotations


class SmsgwError(Exception):
    """Base of every error smsgw raises on purpose."""


class UserError(SmsgwError):
    """Bad input or a refused operation; the message is shown to the user as is."""

    code = "invalid"


class ConfigError(UserError):
    """The configuration file is missing, malformed or inconsistent."""

    code = "config"


# --- codec -----------------------------------------------------------------


class CodecError(UserError):
    """Text that cannot be turned into SMS segments as asked."""

    code = "invalid_text"


class InvalidText(CodecError):
    """Not text the codec accepts (not a str, a lone surrogate, a NUL...)."""


class UnencodableCharacter(CodecError):
    """A character that does not exist in the forced alphabet."""

    def __init__(self, char: str, position: int, encoding: str) -> None:
        self.char = char
        self.position = position
        self.encoding = encoding
        super().__init__(
            f"character {char!r} (U+{ord(char):04X}) at position {position} "
            f"does not exist in {encoding}"
        )


class TextTooLong(CodecError):
    """More segments than a concatenated SMS can hold (255)."""

    code = "too_long"

    def __init__(self, segments: int, limit: int = 255) -> None:
        self.segments = segments
        self.limit = limit
        super().__init__(f"text needs {segments} segments; the limit is {limit}")


class DecodeError(CodecError):
    """Bytes that are not a valid encoded payload or header."""


# --- store, ledger, accounts ------------------------------------------------


class StoreError(SmsgwError):
    """The store failed (not a user error)."""


class NotASmsgwDatabase(UserError):
    """The store file exists but is not a smsgw database."""

    code = "store"


class NotFound(UserError):
    """An account, message, sender, phonebook... that does not exist."""

    code = "not_found"


class AlreadyExists(UserError):
    """Creating something that already exists."""

    code = "conflict"


class InsufficientCredit(UserError):
    """The account's balance (plus its credit limit) does not cover the price."""

    code = "insufficient_credit"

    def __init__(self, account: str, balance: int, needed: int, credit_limit: int = 0) -> None:
        self.account = account
        self.balance = balance
        self.needed = needed
        self.credit_limit = credit_limit
        extra = f" (credit limit {credit_limit})" if credit_limit else ""
        super().__init__(
            f"insufficient credit on account {account!r}: balance {balance}{extra}, "
            f"needed {needed}"
        )


class SenderNotAllowed(UserError):
    """A sender that is not approved, or belongs to another account."""

    code = "sender_not_allowed"


class InvalidRecipient(UserError):
    """A recipient that is not a valid E.164 number."""

    code = "invalid_recipient"


# --- links ------------------------------------------------------------------


class LinkError(SmsgwError):
    """A link (SMPP, modem) failed; the dispatcher retries elsewhere or later."""


class ProtocolError(LinkError):
    """A protocol rule was broken."""


class LocalProtocolError(ProtocolError):
    """We were about to break the protocol (a bug on our side, or a misuse)."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol."""
