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
    # the values of the SAR TLVs (sar_msg_ref_num, sar_total_segments,
    # sar_segment_seqnum; None: that one absent) when any of them is present
    sar: tuple[bytes | None, bytes | None, bytes | None] | None = None
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
    """An esm_class with a message type (bits 2-5): only plain submits are taken."""


class UnsupportedDataCoding(UnsupportedSubmit):
    """A data_coding smsgw does not take (an SMPP national coding, compressed text...)."""


class BadSar(UnsupportedSubmit):
    """SAR TLVs that are incomplete, of the wrong length or out of range."""


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
