"""Who may hold a sender address: the rule the store keeps on approvals.

A short code or a number receives replies, which go to its owner: it belongs
to one account at a time (:data:`EXCLUSIVE_KINDS`; the store refuses a second
approval, and a request while another account holds it approved). An
alphanumeric name receives nothing and may be approved for several accounts.
How an address is written is checked at the front door
(:mod:`gateway.ingress.senders`).
"""

from __future__ import annotations

import dataclasses

from gateway.model.errors import AlreadyExists, NotFound, SenderTaken
from gateway.model.message import SenderKind, SenderStatus
from gateway.model.records import Sender

__all__ = [
    "EXCLUSIVE_KINDS",
    "KIND_LABELS",
    "approval_lost",
    "check_request",
    "new_status",
    "no_sender",
    "sender_exists",
    "taken_by_another",
    "taken_for_approval",
]

# how messages name each kind
KIND_LABELS = {
    SenderKind.ALPHA: "alphanumeric",
    SenderKind.SHORTCODE: "short code",
    SenderKind.NUMBER: "number",
}


# kinds that receive replies: one approved owner at a time
EXCLUSIVE_KINDS = frozenset({SenderKind.SHORTCODE, SenderKind.NUMBER})


def taken_by_another(value: str, kind: SenderKind) -> SenderTaken:
    """A request for ``value`` while another account owns it (the owner is not named:
    the account asking may be a customer)."""
    return SenderTaken(
        f"{KIND_LABELS[kind]} {value!r} belongs to another account: it has one owner at a time"
    )


def taken_for_approval(value: str, kind: SenderKind, owner: str) -> SenderTaken:
    """Approving ``value`` while ``owner`` holds it approved (said to the operator)."""
    return SenderTaken(
        f"{KIND_LABELS[kind]} {value!r} is approved for account {owner!r}: one owner at a "
        f"time; refuse it there first (smsgw sender refuse {owner} {value})"
    )


def sender_exists(value: str, account: str) -> AlreadyExists:
    return AlreadyExists(f"sender {value!r} already exists for account {account!r}")


def no_sender(value: str, account: str) -> NotFound:
    return NotFound(f"no sender {value!r} for account {account!r}: add it with `smsgw sender add`")


def check_request(value: str, kind: SenderKind, *, owner: str | None) -> None:
    """An account asks for ``value`` while ``owner`` (None: no account) holds an
    address of that value approved: refused for the kinds with one owner at a time."""
    if kind in EXCLUSIVE_KINDS and owner is not None:
        raise taken_by_another(value, kind)


def new_status(
    sender: Sender, status: SenderStatus, *, reason: str | None, owner: str | None, now: float
) -> Sender:
    """``sender`` with its new status, or SenderTaken when approving it while ``owner``
    (another account; None: none) holds it approved and it has one owner at a time."""
    if status is SenderStatus.APPROVED and sender.kind in EXCLUSIVE_KINDS and owner is not None:
        raise taken_for_approval(sender.value, sender.kind, owner)
    return dataclasses.replace(sender, status=status, reason=reason, updated_at=now)


def approval_lost(sender: Sender, owner: str | None) -> SenderTaken:
    """Approving ``sender`` lost to a concurrent approval of the same address
    (the store's one-owner index refused it); ``owner`` as read afterwards."""
    return taken_for_approval(sender.value, sender.kind, owner or "another account")
