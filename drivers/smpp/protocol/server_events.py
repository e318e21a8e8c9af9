"""Events a :class:`drivers.smpp.protocol.server.ServerSession` hands to its caller."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from drivers.smpp.protocol.pdu import CancelSm, DataSm, QuerySm, ShortMessage
from drivers.smpp.protocol.states import BindMode


@dataclass(frozen=True, slots=True, kw_only=True)
class BindRequested:
    """A bind to decide: answer with ``accept_bind`` or ``refuse_bind``."""

    sequence: int
    mode: BindMode
    system_id: str
    password: str = field(repr=False)  # never in a log line
    system_type: str = ""
    interface_version: int = 0x34


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitReceived:
    """submit_sm or data_sm; answer with ``answer_submit`` (in any order)."""

    pdu: ShortMessage | DataSm


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryReceived:
    pdu: QuerySm


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelReceived:
    pdu: CancelSm


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowFull:
    """A request beyond the bind's window, answered ESME_RTHROTTLED by the session."""

    sequence: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverAnswered:
    """deliver_sm_resp (or a generic_nack naming a deliver_sm's sequence)."""

    sequence: int
    status: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverExpired:
    """No deliver_sm_resp within the response timeout; a late one is ignored."""

    sequence: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerError:
    """The ESME sent something unreadable or out of place; answered generic_nack."""

    detail: str


class CloseReason(enum.Enum):
    BIND_REFUSED = "bind_refused"
    BIND_TIMEOUT = "bind_timeout"  # connected without binding in time
    UNBOUND = "unbound"  # we unbound (answered or not in time)
    UNBIND_REQUESTED = "unbind_requested"  # the ESME unbound
    INACTIVE = "inactive"  # nothing heard for the inactivity timeout
    PROTOCOL = "protocol"  # a stream that cannot be read past


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed:
    """The session is over; the caller sends what is left and closes the connection."""

    reason: CloseReason
    detail: str = ""


ServerEvent = (
    BindRequested
    | SubmitReceived
    | QueryReceived
    | CancelReceived
    | WindowFull
    | DeliverAnswered
    | DeliverExpired
    | PeerError
    | Closed
)
