"""The SMPP server's records: ESME credentials, where a message came from, and
what goes back to a bound ESME (receipts and replies).

These are the seam between the parts that build the SMPP server:

- the server itself (``drivers/smpp/server``: binds, submits, the PDUs) asks
  the gateway to authenticate binds and to send submits through the one send
  pipeline, marking each message with its :class:`EsmeOrigin`;
- the store keeps, in the same transaction as a message's final (or asked-for
  intermediate) state and as a reply to one of the account's numbers, one
  :class:`EsmeDelivery` per credential that should get it;
- the delivery pump (``gateway/events``) hands those to the credential's bound
  receivers (:class:`DeliveryTarget`, implemented by the server) until one
  answers them, and lets them expire after a configured time.

Nothing here knows SMPP's byte layout: the server turns an
:class:`EsmeDelivery` into a deliver_sm (SMPP 3.4 appendix B text and TLVs).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from gateway.model.outcomes import ReceiptState

# registered_delivery (SMPP 3.4 5.2.17), the bits smsgw honours
RECEIPT_FINAL = 0x01  # a receipt for every final state
RECEIPT_FAILURE = 0x02  # a receipt for a final state other than delivered
RECEIPT_MASK = 0x03
INTERMEDIATE = 0x10  # intermediate notifications (enroute) as well


@dataclass(frozen=True, slots=True, kw_only=True)
class EsmeCredential:
    """An account's SMPP credential; its password hash never leaves the store."""

    account: str
    system_id: str
    max_binds: int  # binds open at once
    throughput: int | None  # submits per second; None = no limit of its own
    allow: tuple[str, ...]  # CIDRs binds may come from; empty = any address
    created_at: float
    options: tuple[str, ...] = ()  # "latin1": data_coding 0 read as Latin-1, not GSM 03.38


@dataclass(frozen=True, slots=True, kw_only=True)
class EsmeOrigin:
    """Where a message came from when an ESME submitted it, kept with it."""

    system_id: str
    registered_delivery: int  # as the submit_sm asked (RECEIPT_* and INTERMEDIATE bits)

    def wants(self, state: ReceiptState) -> bool:
        """Whether a receipt for ``state`` was asked for."""
        if not state.final:
            return bool(self.registered_delivery & INTERMEDIATE)
        asked = self.registered_delivery & RECEIPT_MASK
        if asked == RECEIPT_FINAL:
            return True
        return asked == RECEIPT_FAILURE and state is not ReceiptState.DELIVERED


class DeliveryKind(enum.Enum):
    RECEIPT = "receipt"
    REPLY = "reply"


@dataclass(frozen=True, slots=True, kw_only=True)
class EsmeDelivery:
    """A receipt or a reply waiting for (or on its way to) a bound ESME."""

    id: int  # the store's; the pump settles a delivery by it
    system_id: str
    kind: DeliveryKind
    source: str  # receipts: the message's recipient; replies: the phone
    destination: str  # receipts: the message's sender; replies: the account's number
    done_at: float  # receipts: when the state was reached; replies: when received
    message_id: str | None = None  # receipts: smsgw's id (receipted_message_id)
    state: ReceiptState | None = None  # receipts
    error: int = 0  # receipts: the err: field
    submitted_at: float | None = None  # receipts: when the message was accepted
    segments: int = 0  # receipts: the message's segments (sub: / dlvrd:)
    text: str = ""  # replies: the text, whole
    attempts: int = 0  # deliveries tried so far


class DeliveryRefused(Exception):
    """The ESME answered a deliver_sm with an error status."""

    def __init__(self, command_status: int) -> None:
        super().__init__(f"deliver_sm refused with status 0x{command_status:08x}")
        self.command_status = command_status


class DeliveryTarget(Protocol):
    """One bound receiver or transceiver of a credential (the server's side)."""

    @property
    def system_id(self) -> str: ...

    async def deliver(self, delivery: EsmeDelivery) -> None:
        """Send it as a deliver_sm and return once the ESME answered ESME_ROK.

        Raises :class:`DeliveryRefused` on an error status, ConnectionError when
        the bind ended or the answer did not come in time.
        """


class EsmeDeliveries(Protocol):
    """The pump's side: told which targets are bound, hands them what waits."""

    def attach(self, target: DeliveryTarget) -> None: ...

    def detach(self, target: DeliveryTarget) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class EsmeBind:
    """A bind open on the SMPP server now, for operators (``GET /esme``)."""

    system_id: str
    account: str
    bind_type: str  # transmitter, receiver or transceiver
    peer: str  # the ESME's IP address
    peer_port: int | None
    tls: bool
    bound_at: float  # POSIX seconds
    in_flight: int  # deliver_sm sent to it and not answered yet
