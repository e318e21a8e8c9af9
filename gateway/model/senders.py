"""Who may hold a sender address: the rule the store keeps on approvals.

A short code or a number receives replies, which go to its owner: it belongs
to one account at a time (:data:`EXCLUSIVE_KINDS`; the store refuses a second
approval, and a request while another account holds it approved). An
alphanumeric name receives nothing and may be approved for several accounts.
How an address is written is checked at the front door
(:mod:`gateway.ingress.senders`).
"""

from __future__ import annotations

from gateway.model.errors import SenderTaken
from gateway.model.message import SenderKind

__all__ = ["EXCLUSIVE_KINDS", "KIND_LABELS", "taken_by_another", "taken_for_approval"]

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
