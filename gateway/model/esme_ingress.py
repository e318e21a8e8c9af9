"""What the SMPP server and the gateway say to each other about binds and submits.

The server (``drivers/smpp/server``) decodes PDUs into an :class:`EsmeSubmit`
and asks the gateway (``gateway/ingress/esme.py``) to authenticate binds and
to take, query and cancel messages. Refusals are :class:`~gateway.model.errors.UserError`
subclasses; the ones below are the SMPP server's own. The server maps every
refusal to one command_status in one table (``drivers/smpp/server/statuses.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.model.errors import NotFound, Unauthorized, UserError
from gateway.model.message import MessageState


@dataclass(frozen=True, slots=True, kw_only=True)
class EsmeSubmit:
    """One submit_sm or data_sm as the ESME sent it (one recipient)."""

    source_ton: int
    source_npi: int
    source: str
    dest_ton: int
    dest_npi: int
    destination: str
    esm_class: int = 0
    data_coding: int = 0
    short_message: bytes = b""
    message_payload: bytes | None = None  # the message_payload TLV, when present
    sar: bool = False  # SAR TLVs present (sar_msg_ref_num ...)
    schedule_delivery_time: str = ""
    validity_period: str = ""
    priority_flag: int = 0
    registered_delivery: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryAnswer:
    """A message's state as query_sm reports it."""

    message_id: str
    state: MessageState
    final_at: float | None  # when it reached a final state
    error: int = 0


class UnknownSystemId(NotFound):
    """A bind naming a system_id no credential has."""

    code = "unknown_system_id"


class WrongPassword(Unauthorized):
    """A bind with a known system_id and the wrong password."""

    code = "wrong_password"


class AddressNotAllowed(Unauthorized):
    """A bind from an address outside the credential's allow list."""

    code = "address_not_allowed"


class UnsupportedSubmit(UserError):
    """A submit smsgw does not take (what it asks is named in the message)."""

    code = "unsupported_submit"


class UnsupportedEsmClass(UnsupportedSubmit):
    """A user data header (UDHI) or SAR TLVs: raw segments are not taken."""


class UnsupportedDataCoding(UnsupportedSubmit):
    """A data_coding smsgw does not take (binary 4, or one with no text alphabet)."""


class UnsupportedDestination(UnsupportedSubmit):
    """A destination whose TON/NPI is not an international E.164 number."""


class BadSchedule(UnsupportedSubmit):
    """A schedule_delivery_time that is not an SMPP time."""


class BadValidity(UnsupportedSubmit):
    """A validity_period that is not an SMPP time, or already past."""


class BadPriority(UnsupportedSubmit):
    """A priority_flag above 3."""


class UnknownMessage(NotFound):
    """query_sm / cancel_sm naming a message this credential's account does not own."""

    code = "unknown_message"
