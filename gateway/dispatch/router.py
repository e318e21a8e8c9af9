"""Destination routing: longest prefix to links, weights, failover.

Each link declares the destination prefixes it serves (``routes``, ``"*"`` for
any) and a weight. For a destination, the links of the longest matching
prefix come first, spread by smooth weighted round-robin; links of shorter
matching prefixes follow as fallbacks. Links that are not bound drop out;
links backing off after throttling move behind the others, so traffic fails
over while they recover and returns when they do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.link.interface import LinkHealth
from gateway.model.errors import ConfigError

ANY = "*"


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    prefix: str  # "+33", "+3361", or "*" for any destination
    link: str
    weight: int = 1


class _Group:
    """Links sharing one prefix, ordered by smooth weighted round-robin."""

    __slots__ = ("current", "links", "total", "weights")

    def __init__(self) -> None:
        self.links: list[str] = []
        self.weights: list[int] = []
        self.current: list[int] = []
        self.total = 0

    def add(self, link: str, weight: int) -> None:
        self.links.append(link)
        self.weights.append(weight)
        self.current.append(0)
        self.total += weight

    def order(self) -> list[str]:
        """The links, the one whose turn it is first (nginx-style smooth WRR)."""
        if len(self.links) == 1:
            return list(self.links)
        cur = self.current
        for i, w in enumerate(self.weights):
            cur[i] += w
        best = max(range(len(cur)), key=cur.__getitem__)
        cur[best] -= self.total
        rest = sorted((i for i in range(len(cur)) if i != best), key=lambda i: -self.weights[i])
        return [self.links[best], *(self.links[i] for i in rest)]


class Router:
    """Picks the ordered links to try for a destination."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._groups: dict[str, _Group] = {}
        for route in routes:
            prefix = "" if route.prefix == ANY else route.prefix
            if prefix and not (prefix.startswith("+") and prefix[1:].isdigit()):
                msg = f"link {route.link!r}: routes: {route.prefix!r} is not '+digits' or '*'"
                raise ConfigError(msg)
            if route.weight < 1:
                msg = f"link {route.link!r}: weight must be >= 1"
                raise ConfigError(msg)
            self._groups.setdefault(prefix, _Group()).add(route.link, route.weight)
        # longest first, so the first matching prefix is the longest
        self._prefixes = sorted(self._groups, key=len, reverse=True)
        # when every prefix has one link, the order depends on the longest matching
        # prefix only: computed once per prefix instead of once per message
        self._fixed: dict[str, tuple[str, ...]] | None = None
        if all(len(g.links) == 1 for g in self._groups.values()):
            self._fixed = {p: tuple(self._ordered(p)) for p in self._prefixes}

    @property
    def links(self) -> frozenset[str]:
        return frozenset(link for g in self._groups.values() for link in g.links)

    def candidates(
        self, destination: str, health: Mapping[str, LinkHealth] | None = None
    ) -> list[str]:
        """Links to try, in order; empty when no route matches or none is bound."""
        if self._fixed is None:
            ordered: Sequence[str] = self._ordered(destination)
        else:
            longest = next((p for p in self._prefixes if destination.startswith(p)), None)
            ordered = () if longest is None else self._fixed[longest]
        if health is None:
            return list(ordered)
        if len(ordered) == 1:  # the common case: one link, no list building
            return [ordered[0]] if _bound(health.get(ordered[0])) else []
        ready = [name for name in ordered if _bound(health.get(name))]
        calm = [name for name in ready if not health[name].throttled]
        return calm + [name for name in ready if health[name].throttled]

    def _ordered(self, destination: str) -> list[str]:
        ordered: list[str] = []
        for prefix in self._prefixes:
            if destination.startswith(prefix):
                for link in self._groups[prefix].order():
                    if link not in ordered:
                        ordered.append(link)
        return ordered

    def has_route(self, destination: str) -> bool:
        return any(destination.startswith(p) for p in self._prefixes)


def _bound(h: LinkHealth | None) -> bool:
    return h is not None and h.bound
