"""Credit orders and the stoplist: their records, states and errors.

An order is a pack of credits a customer asked for: ``pending`` until an
operator marks it ``paid`` (which credits the account, once) or
``cancelled`` (only while pending). The rules are in
gateway.accounting.orders; a stoplist entry is a number an account does not
send to (gateway.store.stoplist).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.model.errors import AlreadyExists, UserError
from gateway.model.records import CreditCrossing, LedgerEntry


class OrderStatus(enum.Enum):
    PENDING = "pending"
    PAID = "paid"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    id: int
    account: str
    credits: int
    status: OrderStatus
    payment_ref: str | None  # the operator's payment reference, given when paid
    created_at: float
    updated_at: float  # when it was paid or cancelled (created_at while pending)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPayment:
    """What marking an order paid did: ``duplicate`` when it was paid already (no
    credit this time); ``entry`` is the journal's top-up of the order."""

    order: Order
    entry: LedgerEntry | None
    duplicate: bool = False
    crossing: CreditCrossing | None = None


class StopSource(enum.Enum):
    REPLY = "reply"  # the number sent a stop keyword to one of the account's senders
    OPERATOR = "operator"  # `smsgw stoplist add`


@dataclass(frozen=True, slots=True, kw_only=True)
class StopEntry:
    account: str
    number: str  # E.164
    source: StopSource
    created_at: float


class BelowMinPack(UserError):
    """An order (or pack) smaller than the smallest pack sold."""

    code = "below_min_pack"


class OrderConflict(AlreadyExists):
    """An order in a state that does not allow the change (cancel a paid one...)."""

    code = "order_state"


class Stopped(UserError):
    """A recipient on the account's stoplist: not sent to, not charged."""

    code = "stopped"
