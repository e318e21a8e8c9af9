"""What a link answers for a segment, and the states its receipts report.

A link's :meth:`~gateway.link.interface.Link.send` ends in one
:data:`Outcome` (:class:`Accepted`, :class:`Retry` or :class:`Rejected`); a
receipt (:class:`~gateway.link.interface.Receipt`) carries a
:class:`ReceiptState`. The store keeps both on the segment, the journal keeps
the acceptances: they are the model's values, shared by the drivers and the core.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Accepted", "Outcome", "ReceiptState", "Rejected", "Retry"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """The SMSC (or modem) took the segment; ``smsc_id`` is what receipts will name."""

    smsc_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Retry:
    """Transient failure: try again later (same or other link)."""

    reason: str  # status name (ESME_RTHROTTLED, CMS_500, timeout, link_down...)
    status: int | None = None
    delay: float = 0.0  # suggested seconds before the next try
    throttled: bool = False  # the peer asked us to slow down


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """Permanent refusal: retrying the same segment will not help."""

    reason: str  # status name (ESME_RINVDSTADR, CMS_21...)
    status: int | None = None


Outcome = Accepted | Retry | Rejected


class ReceiptState(enum.Enum):
    """Delivery receipt states (SMPP 3.4 message_state / TP-ST mapped)."""

    ENROUTE = "enroute"  # still trying (not final)
    ACCEPTED = "accepted"  # accepted on behalf of the handset (final, treated as delivered)
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    DELETED = "deleted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"

    @property
    def final(self) -> bool:
        return self is not ReceiptState.ENROUTE
