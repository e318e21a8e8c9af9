"""Routing: longest prefix, weights, failover on down or throttled links."""

from __future__ import annotations

from collections import Counter

import pytest

from gateway.dispatch.router import Route, Router
from gateway.link.interface import LinkHealth
from gateway.model.errors import ConfigError


def health(name: str, *, bound: bool = True, throttled: bool = False) -> LinkHealth:
    return LinkHealth(name=name, driver="smpp", up=bound, bound=bound, throttled=throttled)


def test_longest_prefix_first_then_shorter_as_fallback() -> None:
    r = Router(
        [
            Route(prefix="+33", link="fr"),
            Route(prefix="+336", link="fr-mobile"),
            Route(prefix="*", link="any"),
        ]
    )
    assert r.candidates("+33612345678") == ["fr-mobile", "fr", "any"]
    assert r.candidates("+33112345678") == ["fr", "any"]
    assert r.candidates("+32470000000") == ["any"]


def test_no_route_gives_no_candidate() -> None:
    r = Router([Route(prefix="+33", link="fr")])
    assert r.candidates("+32470000000") == []
    assert not r.has_route("+32470000000")


def test_weights_spread_traffic_in_proportion() -> None:
    r = Router([Route(prefix="+33", link="a", weight=3), Route(prefix="+33", link="b", weight=1)])
    firsts = Counter(r.candidates("+33612345678")[0] for _ in range(400))
    assert firsts == {"a": 300, "b": 100}


def test_down_link_is_skipped() -> None:
    r = Router([Route(prefix="+33", link="a"), Route(prefix="*", link="b")])
    h = {"a": health("a", bound=False), "b": health("b")}
    assert r.candidates("+33612345678", h) == ["b"]


def test_unknown_health_counts_as_down() -> None:
    r = Router([Route(prefix="+33", link="a")])
    assert r.candidates("+33612345678", {}) == []


def test_throttled_link_moves_behind_but_stays_available() -> None:
    r = Router([Route(prefix="+33", link="a", weight=10), Route(prefix="+33", link="b")])
    h = {"a": health("a", throttled=True), "b": health("b")}
    assert r.candidates("+33612345678", h) == ["b", "a"]


@pytest.mark.parametrize("prefix", ["33", "+3a", "+"])
def test_malformed_prefix_is_a_config_error(prefix: str) -> None:
    with pytest.raises(ConfigError, match="routes"):
        Router([Route(prefix=prefix, link="x")])


def test_zero_weight_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="weight"):
        Router([Route(prefix="+33", link="x", weight=0)])


def test_one_link_per_prefix_orders_without_duplicates_and_keeps_a_throttled_link() -> None:
    r = Router(
        [Route(prefix="+33", link="a"), Route(prefix="+336", link="b"), Route(prefix="*", link="a")]
    )
    assert r.candidates("+33612345678") == ["b", "a"]
    assert r.candidates("+33112345678", {"a": health("a", throttled=True)}) == ["a"]
    assert r.candidates("+44712345678", {"a": health("a", bound=False)}) == []
    first = r.candidates("+33112345678")
    first.append("mutated")  # callers get their own list
    assert r.candidates("+33112345678") == ["a"]
