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


class ConfigErrors(ConfigError):
    """Several problems in the configuration, each one line; the message is the
    first, with how many more there are (``smsgw check-config`` lists them all)."""

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems = tuple(problems)
        more = len(self.problems) - 1
        tail = f" (and {more} more: `smsgw check-config` lists them)" if more > 0 else ""
        super().__init__(f"{self.problems[0]}{tail}")


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


class StoreUnavailable(UserError, StoreError):
    """The store's server cannot be reached (PostgreSQL down or restarting, a wrong
    host or port): a user error when smsgw starts (one line), a store error while
    it runs (the work is not done: HTTP 503, an MQTT send not acknowledged, tried
    again when the server is back)."""

    code = "store_unavailable"


class StoreInUse(UserError):
    """Another ``smsgw run`` holds the store (its run lock)."""

    code = "store_in_use"


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
            f"insufficient credit on account {account!r}: balance {balance}{extra}, needed {needed}"
        )


class MonthlyCapReached(UserError):
    """The account's spending this calendar month (UTC) plus the price exceeds its cap."""

    code = "monthly_cap"

    def __init__(self, account: str, spent: int, cap: int, needed: int) -> None:
        self.account = account
        self.spent = spent
        self.cap = cap
        self.needed = needed
        super().__init__(
            f"monthly cap reached on account {account!r}: spent {spent} of {cap} "
            f"this month, needed {needed}"
        )


class NoPrice(UserError):
    """No price list entry matches a destination."""

    code = "no_price"

    def __init__(self, destination: str) -> None:
        self.destination = destination
        super().__init__(
            f"no price for {destination}: set one with `smsgw price set PREFIX CREDITS`"
        )


class ClientRefConflict(AlreadyExists):
    """A client_ref reused with a different request body."""


class SenderTaken(AlreadyExists):
    """A short code or number asked for or approved while another account owns it."""

    code = "sender_taken"


class SenderNotAllowed(UserError):
    """A sender that is not approved, or belongs to another account."""

    code = "sender_not_allowed"


class OutOfRange(UserError):
    """A send setting (send_at, validity, priority, client_ref) outside what smsgw takes;
    the same refusal from every front door (the send service checks it)."""

    code = "invalid_value"


class InvalidRecipient(UserError):
    """A recipient that is not a valid E.164 number."""

    code = "invalid_recipient"


class InvalidSender(UserError):
    """A sender address that is not a valid alphanumeric, short code or E.164 sender."""

    code = "invalid_sender"


# --- ingress payloads and API (gateway.ingress.http_schema, gateway.ingress.http_api) ---------


class InvalidPayload(UserError):
    """A send payload (HTTP body, MQTT message) that is not what the API takes."""

    code = "invalid_payload"


class PayloadNotUtf8(InvalidPayload):
    code = "invalid_utf8"


class MalformedJson(InvalidPayload):
    code = "malformed_json"


class PayloadNotObject(InvalidPayload):
    code = "not_an_object"


class UnknownField(InvalidPayload):
    code = "unknown_field"

    def __init__(self, fields: list[str], known: list[str]) -> None:
        self.fields = fields
        names = ", ".join(repr(f if len(f) <= 40 else f[:40] + "…") for f in fields[:10])
        more = f" (and {len(fields) - 10} more)" if len(fields) > 10 else ""
        super().__init__(f"unknown field(s) {names}{more}; known: {', '.join(known)}")


class MissingField(InvalidPayload):
    code = "missing_field"

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(f"missing required field {field!r}")


class WrongType(InvalidPayload):
    code = "wrong_type"

    def __init__(self, field: str, expected: str, got: str) -> None:
        self.field = field
        self.expected = expected
        super().__init__(f"field {field!r}: expected {expected}, got {got}")


class InvalidField(InvalidPayload):
    """A field of the right type with a value the API does not take."""

    code = "invalid_value"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(f"field {field!r}: {reason}")


class EmptyText(InvalidPayload):
    code = "empty_text"


class TooManyRecipients(InvalidPayload):
    code = "too_many_recipients"


class PayloadTooLarge(UserError):
    """A request body over the configured limit (HTTP 413)."""

    code = "too_large"

    def __init__(self, size: int | None, limit: int) -> None:
        self.size = size
        self.limit = limit
        got = f" ({size} bytes)" if size is not None else ""
        super().__init__(f"body too large{got}: the limit is {limit} bytes")


class RequestTimeout(UserError):
    """A request body that did not arrive in time (HTTP 408)."""

    code = "request_timeout"


class Unauthorized(UserError):
    """No API token, or one the store does not know (HTTP 401)."""

    code = "unauthorized"


class NotCancellable(UserError):
    """Cancelling a message that is no longer queued (HTTP 409)."""

    code = "not_cancellable"

    def __init__(self, message_id: str, state: str) -> None:
        self.message_id = message_id
        self.state = state
        super().__init__(f"message {message_id} is {state}: only a queued message can be cancelled")


# --- links ------------------------------------------------------------------


class LinkError(SmsgwError):
    """A link (SMPP, modem) failed; the dispatcher retries elsewhere or later."""


class ProtocolError(LinkError):
    """A protocol rule was broken."""


class LocalProtocolError(ProtocolError):
    """We were about to break the protocol (a bug on our side, or a misuse)."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol."""
