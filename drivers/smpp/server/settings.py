"""The SMPP server's settings and what it counts (its metrics' Protocol)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from drivers.smpp.protocol.pdu import DEFAULT_MAX_PDU
from gateway.model.secrets import Secret


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """``[smpp_server]`` (config/gateway.example.toml documents each key)."""

    listen: tuple[tuple[str, int], ...] = ()
    tls_listen: tuple[tuple[str, int], ...] = ()
    tls_cert: Path | None = None
    tls_key: Secret | None = field(default=None, repr=False)
    window: int = 64
    max_connections: int = 1000  # open at once, bound or not; more are closed at once
    inactivity_timeout: float = 120.0
    enquire_link: float = 30.0
    bind_timeout: float = 30.0
    response_timeout: float = 30.0
    system_id: str = "smsgw"
    max_pdu: int = DEFAULT_MAX_PDU
    failed_binds: int = 5  # per peer address within failed_bind_period
    failed_bind_period: float = 60.0


class ServerMetrics(Protocol):
    """What the server counts (gateway/ops/metrics.py implements it)."""

    def esme_bound(self, *, system_id: str, bind_type: str) -> None: ...

    def esme_unbound(self, *, system_id: str, bind_type: str) -> None: ...

    def esme_bind_refused(self, *, status: str) -> None: ...

    def esme_submit(self, *, system_id: str, status: str) -> None: ...

    def esme_throttled(self, *, system_id: str) -> None: ...


class NoMetrics:
    def esme_bound(self, *, system_id: str, bind_type: str) -> None:
        pass

    def esme_unbound(self, *, system_id: str, bind_type: str) -> None:
        pass

    def esme_bind_refused(self, *, status: str) -> None:
        pass

    def esme_submit(self, *, system_id: str, status: str) -> None:
        pass

    def esme_throttled(self, *, system_id: str) -> None:
        pass
