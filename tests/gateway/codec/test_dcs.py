"""Data coding scheme values (23.038 section 4)."""

from __future__ import annotations

import pytest

from gateway.codec import dcs_for, parse_dcs
from gateway.model.message import MessageClass


@pytest.mark.parametrize(
    ("encoding", "msg_class", "value"),
    [
        ("gsm7", None, 0x00),
        ("8bit", None, 0x04),
        ("ucs2", None, 0x08),
        ("gsm7", MessageClass.STANDARD, 0x00),
        ("gsm7", MessageClass.FLASH, 0x10),
        ("gsm7", MessageClass.SIM, 0x12),
        ("ucs2", MessageClass.FLASH, 0x18),
        ("ucs2", MessageClass.SIM, 0x1A),
        ("8bit", 1, 0x15),
        ("gsm7", 3, 0x13),
    ],
)
def test_dcs_for_values(encoding: str, msg_class: MessageClass | int | None, value: int) -> None:
    assert dcs_for(encoding, msg_class) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0x00, ("gsm7", None)),
        (0x08, ("ucs2", None)),
        (0x04, ("8bit", None)),
        (0x10, ("gsm7", 0)),
        (0x1A, ("ucs2", 2)),
        (0x48, ("ucs2", None)),
        (0xF0, ("gsm7", 0)),
        (0xF6, ("8bit", 2)),
        (0xC0, ("gsm7", None)),
        (0xE0, ("ucs2", None)),
        (0x0C, ("gsm7", None)),
        (0x85, ("gsm7", None)),
        (0x24, ("8bit", None)),
    ],
)
def test_parse_dcs_groups(value: int, expected: tuple[str, int | None]) -> None:
    assert parse_dcs(value) == expected


def test_round_trip_all_classes() -> None:
    for encoding in ("gsm7", "8bit", "ucs2"):
        for cls in (None, 0, 1, 2, 3):
            assert parse_dcs(dcs_for(encoding, cls)) == (encoding, cls)


def test_bad_class_rejected() -> None:
    with pytest.raises(ValueError, match="message class"):
        dcs_for("gsm7", 4)
