"""Choosing new-message indications from what the modem offers."""

from __future__ import annotations

import pytest

from drivers.modem.link.startup import choose_cnmi


@pytest.mark.parametrize(
    ("offer", "chosen"),
    [
        ("+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)", "2,1,0,1,0"),
        ("+CNMI: (0,1,2),(0,1,2,3),(0,2),(0,1,2),(0,1)", "2,1,0,1,0"),
        ("+CNMI: (1,2),(0,2),(0),(0,1),(0)", "2,2,0,1,0"),
        ("+CNMI: (1),(0),(0),(2),(0)", "1,0,0,2,0"),
        ("+CNMI: (3),(1),(0),(0),(0)", "3,1,0,0,0"),
        ("garbage", "2,1,0,1,0"),
    ],
)
def test_cnmi_choice(offer: str, chosen: str) -> None:
    assert choose_cnmi(offer) == chosen
