"""Longest-prefix prices, account list over the default list."""

from __future__ import annotations

import pytest

from gateway.accounting.pricing import PriceList, normalize_prefix
from gateway.model.errors import NoPrice, UserError
from gateway.model.records import Price


def _p(prefix: str, credits_: int, account: str | None = None) -> Price:
    return Price(account=account, prefix=prefix, credits=credits_)


def test_longest_matching_prefix_wins() -> None:
    prices = PriceList(default=[_p("+", 9), _p("+33", 2), _p("+3361", 3)])
    assert prices.price("+33612345678") == 3
    assert prices.price("+33712345678") == 2
    assert prices.price("+4915112345678") == 9


def test_account_list_comes_before_the_default_list() -> None:
    prices = PriceList(own=[_p("+33", 1, "acme")], default=[_p("+3361", 3)])
    assert prices.price("+33612345678") == 1
    with pytest.raises(NoPrice):
        prices.price("+4915112345678")


def test_no_match_raises_with_a_hint() -> None:
    with pytest.raises(NoPrice, match=r"no price for \+4915112345678: set one with"):
        PriceList(default=[_p("+33", 1)]).price("+4915112345678")


@pytest.mark.parametrize(
    ("raw", "expected"), [("33", "+33"), ("+33 61", "+3361"), ("*", "+"), ("+", "+")]
)
def test_prefix_forms(raw: str, expected: str) -> None:
    assert normalize_prefix(raw) == expected


@pytest.mark.parametrize("raw", ["", "+33a", "0033x", "+" + "1" * 16])
def test_bad_prefix_is_refused(raw: str) -> None:
    with pytest.raises(UserError, match="bad prefix"):
        normalize_prefix(raw)
