"""``[smpp_server]``: where smsgw's SMPP server listens and how its binds behave.

Absent: no SMPP ingress. The runtime turns :class:`SmppServerConfig` into the
server's own settings (``drivers/smpp/server/settings.py``); the example
configuration documents each key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config.file import Where
from gateway.model.errors import ConfigError
from gateway.model.secrets import Secret

SECTION = "smpp_server"
KEYS = frozenset(
    {
        "listen",
        "tls_listen",
        "tls_cert",
        "tls_key",
        "window",
        "max_connections",
        "inactivity_timeout",
        "enquire_link",
        "response_timeout",
        "system_id",
        "bind_timeout",
        "failed_binds",
        "failed_bind_period",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SmppServerConfig:
    listen: tuple[tuple[str, int], ...] = ()
    tls_listen: tuple[tuple[str, int], ...] = ()
    tls_cert: Path | None = None
    tls_key: Secret | None = field(default=None, repr=False)
    window: int = 64  # requests of one bind awaiting their answer
    max_connections: int = 1000  # open at once, bound or not
    inactivity_timeout: float = 120.0  # a bind that sends nothing this long is closed
    enquire_link: float = 30.0  # smsgw asks after this long of silence
    response_timeout: float = 30.0  # for deliver_sm_resp, unbind_resp, enquire_link_resp
    system_id: str = "smsgw"  # what bind responses name
    bind_timeout: float = 30.0  # a connection that has not bound by then is closed
    failed_binds: int = 5  # per peer address within failed_bind_period, then refused
    failed_bind_period: float = 60.0  # seconds


def _addresses(value: Any, key: str, where: Where) -> tuple[tuple[str, int], ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise where.error(SECTION, key, "must be HOST:PORT or a list of them")
    out: list[tuple[str, int]] = []
    for item in items:
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port
            raise where.error(SECTION, key, f"{item!r} is not HOST:PORT")
        out.append((host.strip("[]") or "0.0.0.0", int(port)))  # noqa: S104 - as configured
    return tuple(out)


def _seconds(table: dict[str, Any], key: str, default: float, where: Where) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 86_400:
        raise where.error(SECTION, key, "seconds, more than 0 (and less than a day)")
    return float(value)


def smpp_server_config(table: dict[str, Any], where: Where) -> SmppServerConfig:
    d = SmppServerConfig()
    none: tuple[tuple[str, int], ...] = ()
    listen = where.checked(lambda: _addresses(table.get("listen", []), "listen", where), none)
    tls = where.checked(lambda: _addresses(table.get("tls_listen", []), "tls_listen", where), none)
    if not listen and not tls:
        where.add(where.error(SECTION, "listen", "missing: give listen and/or tls_listen"))
    cert = table.get("tls_cert")
    key_spec = table.get("tls_key")
    key: Secret | None = None
    if tls and (not isinstance(cert, str) or not isinstance(key_spec, str)):
        where.add(where.error(SECTION, "tls_listen", "needs tls_cert (a path) and tls_key"))
    elif isinstance(key_spec, str):
        try:
            key = Secret.resolve(key_spec, key="tls_key")
        except ConfigError as exc:
            where.add(where.error(SECTION, "tls_key", str(exc).removeprefix("tls_key: ")))

    def count(key: str, default: int, high: int) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise where.error(SECTION, key, f"a whole number, 1 to {high}")
        return value

    def system_id() -> str:
        value = table.get("system_id", d.system_id)
        if not isinstance(value, str) or not 0 < len(value) <= 15:
            raise where.error(SECTION, "system_id", "1 to 15 characters")
        return value

    return SmppServerConfig(
        listen=listen,
        tls_listen=tls,
        tls_cert=Path(cert) if isinstance(cert, str) else None,
        tls_key=key,
        window=where.checked(lambda: count("window", d.window, 10_000), d.window),
        max_connections=where.checked(
            lambda: count("max_connections", d.max_connections, 100_000), d.max_connections
        ),
        inactivity_timeout=where.checked(
            lambda: _seconds(table, "inactivity_timeout", d.inactivity_timeout, where),
            d.inactivity_timeout,
        ),
        enquire_link=where.checked(
            lambda: _seconds(table, "enquire_link", d.enquire_link, where), d.enquire_link
        ),
        response_timeout=where.checked(
            lambda: _seconds(table, "response_timeout", d.response_timeout, where),
            d.response_timeout,
        ),
        system_id=where.checked(system_id, d.system_id),
        bind_timeout=where.checked(
            lambda: _seconds(table, "bind_timeout", d.bind_timeout, where), d.bind_timeout
        ),
        failed_binds=where.checked(
            lambda: count("failed_binds", d.failed_binds, 10_000), d.failed_binds
        ),
        failed_bind_period=where.checked(
            lambda: _seconds(table, "failed_bind_period", d.failed_bind_period, where),
            d.failed_bind_period,
        ),
    )
