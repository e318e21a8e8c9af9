"""The message model shared by the store, the dispatcher and the drivers.

States are enums with their legal transitions in one table each; an illegal
transition raises :class:`IllegalTransition`.
"""

from __future__ import annotations

import enum

from gateway.model.errors import SmsgwError


class IllegalTransition(SmsgwError):
    """A state change that the state machine does not allow (a bug, not user input)."""

    def __init__(self, kind: str, current: enum.Enum, target: enum.Enum) -> None:
        self.current = current
        self.target = target
        super().__init__(f"{kind}: illegal transition {current.value} -> {target.value}")


class SenderKind(enum.Enum):
    """What a sender address is; decides TON/NPI on the wire."""

    ALPHA = "alpha"  # 1-11 GSM characters, cannot receive replies
    SHORTCODE = "shortcode"  # 3-8 digits
    NUMBER = "number"  # virtual mobile number, E.164


class SenderStatus(enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class MessageClass(enum.Enum):
    """Message class as the sender asks for it (3GPP TS 23.038 section 4)."""

    STANDARD = "standard"  # no class bits
    FLASH = "flash"  # class 0: shown at once, not stored
    SIM = "sim"  # class 2: stored on the SIM


class MessageState(enum.Enum):
    QUEUED = "queued"  # waiting, or scheduled for later
    DISPATCHING = "dispatching"  # claimed by a worker
    SUBMITTED = "submitted"  # all segments accepted by the SMSC
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    REJECTED = "rejected"  # refused by the SMSC or a permanent error
    CANCELLED = "cancelled"
    FAILED = "failed"  # retries exhausted

    @property
    def final(self) -> bool:
        return self in FINAL_MESSAGE_STATES

    def check(self, target: MessageState) -> MessageState:
        """Return ``target`` if ``self -> target`` is legal, else raise."""
        if target not in MESSAGE_TRANSITIONS[self]:
            raise IllegalTransition("message", self, target)
        return target


FINAL_MESSAGE_STATES = frozenset(
    {
        MessageState.DELIVERED,
        MessageState.UNDELIVERABLE,
        MessageState.EXPIRED,
        MessageState.REJECTED,
        MessageState.CANCELLED,
        MessageState.FAILED,
    }
)

# States whose never-accepted segments are refunded (docs/architecture.md, data rules).
REFUNDED_MESSAGE_STATES = frozenset(
    {MessageState.REJECTED, MessageState.EXPIRED, MessageState.CANCELLED, MessageState.FAILED}
)

_M = MessageState
MESSAGE_TRANSITIONS: dict[MessageState, frozenset[MessageState]] = {
    _M.QUEUED: frozenset({_M.DISPATCHING, _M.CANCELLED, _M.EXPIRED, _M.REJECTED}),
    # a lease that runs out puts a claimed message back in the queue
    _M.DISPATCHING: frozenset(
        {
            _M.QUEUED,
            _M.SUBMITTED,
            _M.REJECTED,
            _M.FAILED,
            _M.EXPIRED,
            _M.DELIVERED,
            _M.UNDELIVERABLE,
        }
    ),
    # receipts can arrive for every segment; a late one may still turn an
    # expired/undeliverable aggregate around only through a new receipt state
    _M.SUBMITTED: frozenset({_M.DELIVERED, _M.UNDELIVERABLE, _M.EXPIRED, _M.REJECTED}),
    _M.DELIVERED: frozenset(),
    _M.UNDELIVERABLE: frozenset(),
    _M.EXPIRED: frozenset(),
    _M.REJECTED: frozenset(),
    _M.CANCELLED: frozenset(),
    _M.FAILED: frozenset(),
}


class SegmentState(enum.Enum):
    PENDING = "pending"  # not yet accepted by an SMSC
    ACCEPTED = "accepted"  # submit_sm_resp OK / +CMGS, waiting for the receipt
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    REJECTED = "rejected"  # refused by the SMSC (never accepted)
    FAILED = "failed"  # retries exhausted (never accepted)

    @property
    def final(self) -> bool:
        return self not in {SegmentState.PENDING, SegmentState.ACCEPTED}

    def check(self, target: SegmentState) -> SegmentState:
        if target not in SEGMENT_TRANSITIONS[self]:
            raise IllegalTransition("segment", self, target)
        return target


_S = SegmentState
SEGMENT_TRANSITIONS: dict[SegmentState, frozenset[SegmentState]] = {
    _S.PENDING: frozenset(
        {
            _S.ACCEPTED,
            _S.REJECTED,
            _S.FAILED,
            _S.EXPIRED,
            # a receipt may overtake its submit_sm_resp
            _S.DELIVERED,
            _S.UNDELIVERABLE,
        }
    ),
    _S.ACCEPTED: frozenset({_S.DELIVERED, _S.UNDELIVERABLE, _S.EXPIRED, _S.REJECTED}),
    _S.DELIVERED: frozenset(),
    _S.UNDELIVERABLE: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.FAILED: frozenset(),
}
