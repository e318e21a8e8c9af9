"""Events an :class:`drivers.smpp.protocol.session.EsmeSession` hands to its caller."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from drivers.smpp.protocol.pdu import DataSm, ShortMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class Bound:
    system_id: str  # the SMSC's


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitAnswered:
    """submit_sm_resp (or a generic_nack naming a submit's sequence)."""

    sequence: int
    status: int
    message_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitMisanswered:
    """A submit_sm_resp saying ESME_ROK without a usable message_id (none, or longer
    than SMPP 3.4's 64 octets): the peer broke the protocol; ``detail`` says how."""

    sequence: int
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitExpired:
    """No answer within ``response_timeout``; a late answer will be ignored.

    Reported once the SMSC is heard from after the deadline (any PDU); a
    session that dies first never reports it: the connection's loss answers it."""

    sequence: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverReceived:
    """deliver_sm/data_sm; answer with :meth:`EsmeSession.respond`."""

    pdu: ShortMessage | DataSm


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerError:
    """The SMSC sent something we could not read; answered with generic_nack."""

    detail: str


class CloseReason(enum.Enum):
    """Why a session ended."""

    BIND_FAILED = "bind_failed"  # the SMSC refused the bind, or never answered it
    UNBOUND = "unbound"  # we unbound (answered, or answered by generic_nack)
    UNBIND_REQUESTED = "unbind_requested"  # the SMSC unbound
    DEAD = "dead"  # the SMSC stopped answering
    PROTOCOL = "protocol"  # the SMSC sent what cannot be read past

    @property
    def orderly(self) -> bool:
        """An unbind either way, not a failure."""
        return self in (CloseReason.UNBOUND, CloseReason.UNBIND_REQUESTED)


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed:
    """The session is over; the caller closes the connection. ``reason`` says why."""

    reason: CloseReason
    detail: str = ""
    status: int | None = None


Event = (
    Bound
    | SubmitAnswered
    | SubmitMisanswered
    | SubmitExpired
    | DeliverReceived
    | PeerError
    | Closed
)
