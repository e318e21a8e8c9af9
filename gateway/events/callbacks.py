"""Which receivers a ``callback_url`` may name: webhooks reach public addresses only.

An account chooses its callback URLs; without a rule, any account could make
the gateway POST to its own loopback, to link-local metadata services or to
the operator's private network (SSRF). :class:`CallbackPolicy` refuses, by
default, every address that is not globally routable unicast: loopback,
unspecified, private (RFC 1918, unique local ``fc00::/7``), link-local,
carrier-grade NAT, multicast, reserved and documentation ranges, IPv4
addresses hidden in IPv6 forms (``::ffff:127.0.0.1``, 6to4, NAT64) and the
legacy numeric IPv4 forms (``0x7f000001``, ``127.1``), and ``localhost``
names. Credentials in the URL (``user:pass@``) are refused too: receivers
check the signature header instead.

The rule is applied twice: when a send names a ``callback_url``
(:meth:`CallbackPolicy.check_url`, in the send pipeline: a one-line 400 or
MQTT rejection), and when the webhook connects
(:class:`gateway.events.webhooks.GuardedResolver`, the connector's resolver, drops
every resolved address the rule refuses), so
a name that resolves to a private address, or starts to later (DNS
rebinding), is refused as well.

Operators allow internal receivers in the daemon's configuration::

    [webhooks]
    allow = ["10.0.0.0/8", "hooks.internal"]   # networks (CIDR) and host names

A host name on the list may resolve to any address; an address in a listed
network is allowed whatever name led to it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from gateway.model.errors import ConfigError, InvalidField

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the well-known prefix: an IPv4 address inside
_REFUSED_V6 = (
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated), :: and ::1 included
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # NAT64 for local use
)
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
    r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$"
)
_NUMERIC_V4 = re.compile(r"^[0-9a-fx.]+$")  # what inet_aton may read as an IPv4 address


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def public(address: IPAddress) -> bool:
    """Globally routable unicast, looking through IPv4 addresses inside IPv6 ones."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return public(address.ipv4_mapped)
        if address.sixtofour is not None:
            return public(address.sixtofour)
        if address in _NAT64:
            return public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(address in net for net in _REFUSED_V6) or address.is_site_local:
            return False
    return address.is_global and not (address.is_multicast or address.is_reserved)


def kind(address: IPAddress) -> str:
    """What sort of address it is, as an error message says it."""
    plain = _unmapped(address)
    if plain.is_loopback:
        return "a loopback address"
    if plain.is_unspecified:
        return "the unspecified address"
    if plain.is_link_local:
        return "a link-local address"
    if plain.is_multicast:
        return "a multicast address"
    if plain.is_private:
        return "a private address"
    return "not a public address"


ONLY_PUBLIC = (
    "webhooks go to public addresses only (an operator may allow internal "
    "receivers in [webhooks] allow)"
)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names literally, in any form a resolver accepts
    (``[::1]``, ``127.0.0.1``, ``0x7f000001``, ``2130706433``, ``127.1``); None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_V4.match(host.lower()):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """Public receivers, plus the operator's allowed networks and host names."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_config(
        cls,
        entries: Iterable[object],
        *,
        key: str = "[webhooks] allow",
    ) -> CallbackPolicy:
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for entry in entries:
            if not isinstance(entry, str) or not entry.strip():
                msg = f"{key}: {entry!r} is not a network (CIDR) or a host name"
                raise ConfigError(msg)
            text = entry.strip()
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
                continue
            except ValueError:
                pass
            name = text.lower().rstrip(".")
            if not _HOST_NAME.match(name) or literal_address(name) is not None:
                msg = (
                    f"{key}: {entry!r} is neither a network (CIDR, e.g. 10.0.0.0/8) "
                    "nor a host name (e.g. hooks.internal)"
                )
                raise ConfigError(msg)
            hosts.add(name)
        return cls(networks=tuple(networks), hosts=frozenset(hosts))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def address_allowed(self, address: IPAddress) -> bool:
        plain = _unmapped(address)
        if any(plain in net or address in net for net in self.networks):
            return True
        return public(address)

    def refusal(self, url: str) -> str | None:
        """Why webhooks may not POST to ``url`` as written (None: they may, as far as the
        URL tells; the address a name resolves to is checked when connecting)."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return "not a URL"
        if "@" in parts.netloc:
            return (
                "credentials in the URL are refused (receivers check the "
                "X-Smsgw-Signature header instead)"
            )
        host = (parts.hostname or "").rstrip(".")
        if not host:
            return "no host"
        if self.host_allowed(host):
            return None
        address = literal_address(host)
        if address is not None:
            if self.address_allowed(address):
                return None
            shown = host if host == str(address) else f"{host} ({address})"
            return f"{shown} is {kind(address)}; {ONLY_PUBLIC}"
        if ":" in host:
            return f"{host} is not an IPv6 address"
        if host.lower() == "localhost" or host.lower().endswith(".localhost"):
            return f"{host} names this machine; {ONLY_PUBLIC}"
        return None

    def check_url(self, url: str) -> None:
        """Raise :class:`~gateway.model.errors.InvalidField` for a callback URL refused."""
        reason = self.refusal(url)
        if reason is not None:
            shown = url if len(url) <= 60 else url[:60] + "…"
            raise InvalidField("callback_url", f"{shown!r} refused: {reason}")
