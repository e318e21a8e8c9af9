"""What the simulated SMSC does with each connection's PDUs, as settings
(``smsc-sim`` flags), and the forms of the message ids it answers."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BROKEN_ID_FORMS", "ID_FORMS", "SimConfig", "message_id_text"]

ID_FORMS = ("hex", "decimal", "empty", "long")
BROKEN_ID_FORMS = frozenset({"empty", "long"})


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    system_id: str | None = None  # None: any system_id binds
    password: str | None = None
    dlr: bool = False  # send a receipt for each submit_sm asking for one
    dlr_delay: float = 0.0
    dlr_fail_share: float = 0.0  # share of receipts that say UNDELIV
    dlr_before_resp: bool = False  # the receipt overtakes the submit_sm_resp
    throttle_share: float = 0.0  # share of submit_sm answered ESME_RTHROTTLED
    # submit_sm per second a connection may send (a token bucket holding a tenth of a
    # second's worth); beyond it, ESME_RTHROTTLED. 0: no limit
    max_rate: float = 0.0
    drop_after: int | None = None  # close the connection when the Nth submit_sm arrives
    silent_after: int | None = None  # from the Nth submit_sm on, answer nothing; stay connected
    delay: float = 0.0  # seconds before each submit_sm_resp
    garbage_share: float = 0.0  # share of submit_sm answered with an unreadable PDU
    # message ids in submit_sm_resp: hex | decimal, or broken on purpose: empty (ESME_ROK
    # with no id) | long (over SMPP 3.4's 64 octets); broken ones get no receipt
    id_form: str = "hex"
    receipt_id_form: str = "same"  # id in receipt text: same | decimal
    record: bool = True  # keep a JSON-able record of every PDU received
    keep_unacked: bool = False  # deliver_sm lost with a connection go to the next bind
    # receipts go out on another bind (receiver or transceiver) when there is one, as
    # SMSCs that send a system_id's receipts to any of its binds do
    receipts_elsewhere: bool = False


def message_id_text(form: str, n: int) -> str:
    """The ``n``th message id in one of :data:`ID_FORMS`."""
    if form == "empty":
        return ""
    if form == "long":
        return f"{n:x}".rjust(80, "0")
    return f"{n:x}" if form == "hex" else str(n)
