"""The +CMS/+CME classification table and the TP-ST mapping."""

from __future__ import annotations

import pytest

from drivers.modem.protocol.status import ErrorKind, classify_cme, classify_cms, receipt_state
from gateway.model.outcomes import ReceiptState

R, P, D = ErrorKind.RETRY, ErrorKind.PERMANENT, ErrorKind.LINK_DOWN


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (1, P),
        (8, P),
        (10, P),
        (21, P),
        (28, P),
        (29, P),
        (30, P),
        (50, P),
        (96, P),
        (17, R),
        (22, R),
        (27, R),
        (38, R),
        (41, R),
        (42, R),
        (47, R),
        (111, R),
        (0x80, P),
        (0xC3, P),
        (0xC4, P),
        (0xC5, P),
        (0xC0, R),
        (0xC2, R),
        (0xFF, R),
        (300, R),
        (301, R),
        (302, R),
        (303, P),
        (304, P),
        (305, P),
        (310, D),
        (311, D),
        (312, D),
        (313, R),
        (314, R),
        (315, D),
        (316, D),
        (320, R),
        (321, P),
        (322, R),
        (330, R),
        (331, R),
        (332, R),
        (340, P),
        (500, R),
        (512, R),
        (513, R),
        (999, R),
    ],
)
def test_cms_error_classification(code: int, kind: ErrorKind) -> None:
    assert classify_cms(code) is kind


@pytest.mark.parametrize(
    ("code", "kind"),
    [(14, R), (13, R), (30, R), (10, D), (11, D), (12, D), (16, D), (4, P), (100, R), (777, R)],
)
def test_cme_error_classification(code: int, kind: ErrorKind) -> None:
    assert classify_cme(code) is kind


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (0x00, ReceiptState.DELIVERED),
        (0x01, ReceiptState.DELIVERED),
        (0x02, ReceiptState.DELIVERED),
        (0x1F, ReceiptState.DELIVERED),
        (0x20, ReceiptState.ENROUTE),
        (0x25, ReceiptState.ENROUTE),
        (0x3F, ReceiptState.ENROUTE),
        (0x40, ReceiptState.UNDELIVERABLE),
        (0x41, ReceiptState.UNDELIVERABLE),
        (0x46, ReceiptState.EXPIRED),
        (0x47, ReceiptState.DELETED),
        (0x48, ReceiptState.DELETED),
        (0x49, ReceiptState.UNDELIVERABLE),
        (0x60, ReceiptState.UNDELIVERABLE),
        (0x65, ReceiptState.UNDELIVERABLE),
        (0x7F, ReceiptState.UNDELIVERABLE),
        (0x80, ReceiptState.UNKNOWN),
    ],
)
def test_tp_st_mapping(status: int, state: ReceiptState) -> None:
    assert receipt_state(status) is state
