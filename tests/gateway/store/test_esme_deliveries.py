"""The rows a change adds for ESMEs (gateway.store.esme_deliveries), without a store."""

from __future__ import annotations

import pytest

from gateway.model.esme import INTERMEDIATE, RECEIPT_FAILURE, RECEIPT_FINAL
from gateway.model.outcomes import ReceiptState
from gateway.model.records import InboundMessage
from gateway.store.esme_deliveries import error_code, receipt_row, reply_rows

_R = ReceiptState


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (None, 0),
        ("", 0),
        ("000", 0),
        ("011", 11),
        ("0x0b", 11),
        ("ESME_RINVDSTADR", 0),
        ("4000", 0),
    ],
)
def test_the_err_field_takes_a_numeric_error_else_zero(text: str | None, code: int) -> None:
    assert error_code(text) == code


@pytest.mark.parametrize(
    ("asked", "state", "stored"),
    [
        (0, _R.DELIVERED, False),
        (RECEIPT_FINAL, _R.DELIVERED, True),
        (RECEIPT_FINAL, _R.EXPIRED, True),
        (RECEIPT_FAILURE, _R.DELIVERED, False),
        (RECEIPT_FAILURE, _R.UNDELIVERABLE, True),
        (RECEIPT_FINAL, _R.ENROUTE, False),
        (RECEIPT_FINAL | INTERMEDIATE, _R.ENROUTE, True),
        (0x03, _R.DELIVERED, False),  # reserved in SMPP 3.4: no receipt
    ],
)
def test_a_receipt_row_only_when_registered_delivery_asked(
    asked: int, state: ReceiptState, stored: bool
) -> None:
    row = receipt_row(
        system_id="esme1",
        registered_delivery=asked,
        account="acme",
        message_id="m1",
        recipient="+33612345678",
        sender="ACME",
        state=state,
        error="011",
        submitted_at=1.0,
        segments=2,
        now=5.0,
    )
    assert (row is not None) is stored
    if row is not None:
        assert (row.source, row.destination, row.state, row.segments) == (
            "+33612345678",
            "ACME",
            state.value,
            2,
        )
        assert row.error == (0 if state is _R.DELIVERED else 11)


def test_a_reply_row_per_credential_and_none_without_an_account() -> None:
    reply = InboundMessage(
        id="in1",
        account="acme",
        link="op",
        source="+33699999999",
        destination="+33700000001",
        text="hi",
        received_at=3.0,
    )
    rows = reply_rows(reply, ["esme1", "esme2", "esme1"], 4.0)
    assert [(r.system_id, r.inbound_id, r.text, r.done_at) for r in rows] == [
        ("esme1", "in1", "hi", 3.0),
        ("esme2", "in1", "hi", 3.0),
    ]
    orphan = InboundMessage(
        id="in2", account=None, link="op", source="+1", destination="+2", text="x", received_at=0
    )
    assert reply_rows(orphan, ["esme1"], 4.0) == []
