"""``[[link]]`` tables with ``driver = "smpp"``, read into :class:`SmppLinkConfig`.

Every problem is a :class:`gateway.model.errors.ConfigError` naming the link and the
key: ``link 'operator-a': window: must be an integer 1..1000``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from drivers.smpp.addresses import is_region
from drivers.smpp.protocol.receipts import ID_FORMS
from drivers.smpp.protocol.states import BindMode
from drivers.smpp.protocol.status import Disposition, parse_status
from gateway.model.errors import ConfigError
from gateway.model.message import SenderKind
from gateway.model.secrets import Secret

CONCAT_MODES = ("udh8", "udh16", "sar", "payload")

DEFAULT_SOURCE_TON = {SenderKind.ALPHA: 5, SenderKind.SHORTCODE: 3, SenderKind.NUMBER: 1}
DEFAULT_SOURCE_NPI = {SenderKind.ALPHA: 0, SenderKind.SHORTCODE: 0, SenderKind.NUMBER: 1}

KNOWN_KEYS = frozenset(
    {
        "name",
        "driver",
        "host",
        "port",
        "system_id",
        "password",
        "system_type",
        "bind",
        "window",
        "throughput",
        "concat",
        "packed",
        "routes",
        "tls",
        "tls_ca",
        "enquire_link",
        "response_timeout",
        "bind_timeout",
        "reconnect_min",
        "reconnect_max",
        "dead_after_timeouts",
        "throttle_delay",
        "min_throughput",
        "source_ton",
        "source_npi",
        "service_type",
        "receipt_id",
        "receipt_id_text",
        "status_map",
        "country",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SmppLinkConfig:
    name: str
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    system_type: str = ""
    bind: BindMode = BindMode.TRANSCEIVER
    window: int = 64
    throughput: float = 0.0  # submit_sm per second; 0 = unlimited
    # the lowest rate throttling answers slow the link to (at most throughput)
    min_throughput: float = 1.0
    concat: str = "udh8"
    packed: bool = False
    routes: tuple[str, ...] = ()
    tls: bool = False
    tls_ca: str | None = None
    enquire_link: float = 30.0
    response_timeout: float = 30.0
    bind_timeout: float = 30.0
    # submit_sm unanswered in a row (no submit/deliver answer between) that end the session
    dead_after_timeouts: int = 3
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    throttle_delay: float = 1.0  # seconds a throttled segment waits before it is sent again
    source_ton: dict[SenderKind, int] = field(default_factory=lambda: dict(DEFAULT_SOURCE_TON))
    source_npi: dict[SenderKind, int] = field(default_factory=lambda: dict(DEFAULT_SOURCE_NPI))
    service_type: str = ""
    receipt_id: str = "as-is"  # form of submit_sm_resp ids
    receipt_id_text: str | None = None  # form of ids in receipt text (default: receipt_id)
    status_map: dict[int, Disposition] = field(default_factory=dict)
    country: str | None = None  # ISO 3166 alpha-2: how the SMSC's national numbers read

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> SmppLinkConfig:
        """Validate one ``[[link]]`` table (already parsed TOML)."""
        name = table.get("name")
        if not isinstance(name, str) or not name:
            msg = "link: name: must be a non-empty string"
            raise ConfigError(msg)
        r = _Reader(name, table)
        unknown = sorted(set(table) - KNOWN_KEYS)
        if unknown:
            raise r.error(unknown[0], f"unknown key (known: {', '.join(sorted(KNOWN_KEYS))})")
        driver = table.get("driver", "smpp")
        if driver != "smpp":
            raise r.error("driver", f"must be 'smpp' for this driver, not {driver!r}")
        bind_text = r.choice("bind", ("transmitter", "receiver", "transceiver"), "transceiver")
        password = r.string("password", "", limit=8)
        receipt_id = r.choice("receipt_id", ID_FORMS, "as-is")
        throughput = r.number("throughput", 0.0, 0.0, 1_000_000.0)
        min_throughput = r.number("min_throughput", 1.0, 0.01, 1_000_000.0)
        if throughput and "min_throughput" in table and min_throughput > throughput:
            raise r.error("min_throughput", f"must not be above throughput ({throughput:g})")
        return cls(
            name=name,
            host=r.string("host", "127.0.0.1"),
            port=r.integer("port", 2775, 1, 65535),
            system_id=r.string("system_id", "", limit=15),
            password=_secret(r, password),
            system_type=r.string("system_type", "", limit=12),
            bind=BindMode(bind_text),
            window=r.integer("window", 64, 1, 1000),
            throughput=throughput,
            min_throughput=min_throughput,
            concat=r.choice("concat", CONCAT_MODES, "udh8"),
            packed=r.boolean("packed", default=False),
            routes=r.routes(),
            tls=r.boolean("tls", default=False),
            tls_ca=r.optional_string("tls_ca"),
            enquire_link=r.number("enquire_link", 30.0, 0.1, 3600.0),
            response_timeout=r.number("response_timeout", 30.0, 0.1, 600.0),
            bind_timeout=r.number("bind_timeout", 30.0, 0.1, 600.0),
            dead_after_timeouts=r.integer("dead_after_timeouts", 3, 1, 1000),
            reconnect_min=r.number("reconnect_min", 1.0, 0.01, 3600.0),
            reconnect_max=r.number("reconnect_max", 60.0, 0.01, 86400.0),
            throttle_delay=r.number("throttle_delay", 1.0, 0.0, 600.0),
            source_ton=r.kind_table("source_ton", DEFAULT_SOURCE_TON),
            source_npi=r.kind_table("source_npi", DEFAULT_SOURCE_NPI),
            service_type=r.string("service_type", "", limit=5),
            receipt_id=receipt_id,
            receipt_id_text=(
                r.choice("receipt_id_text", ID_FORMS, receipt_id)
                if "receipt_id_text" in table
                else None
            ),
            status_map=r.status_map(),
            country=r.country(),
        )


def _secret(r: _Reader, spec: str) -> Secret:
    secret = Secret.resolve(spec, key=f"link {r.name!r}: password")
    if len(secret.reveal()) > 8:
        raise r.error("password", f"the value from {secret.source} is longer than 8 characters")
    return secret


class _Reader:
    """Typed access to one link table, with errors naming link and key."""

    def __init__(self, name: str, table: Mapping[str, Any]) -> None:
        self.name = name
        self.table = table

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"link {self.name!r}: {key}: {problem}")

    def string(self, key: str, default: str, *, limit: int | None = None) -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str):
            raise self.error(key, "must be a string")
        if limit is not None and not value.startswith(("env:", "file:")) and len(value) > limit:
            raise self.error(key, f"must be at most {limit} characters (SMPP 3.4)")
        return value

    def optional_string(self, key: str) -> str | None:
        value = self.table.get(key)
        if value is not None and not isinstance(value, str):
            raise self.error(key, "must be a string")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(key, f"must be an integer {low}..{high}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number {low:g}..{high:g}")
        if not low <= value <= high:
            raise self.error(key, f"must be a number {low:g}..{high:g}")
        return float(value)

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.table.get(key, default)
        if value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}, not {value!r}")
        return str(value)

    def routes(self) -> tuple[str, ...]:
        value = self.table.get("routes", [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error("routes", 'must be a list of prefixes like ["+33", "*"]')
        return tuple(value)

    def kind_table(self, key: str, defaults: dict[SenderKind, int]) -> dict[SenderKind, int]:
        value = self.table.get(key, {})
        if not isinstance(value, Mapping):
            raise self.error(key, "must be a table like {alpha = 5, shortcode = 3, number = 1}")
        out = dict(defaults)
        for kind_name, number in value.items():
            try:
                kind = SenderKind(kind_name)
            except ValueError:
                raise self.error(key, f"{kind_name!r} is not alpha, shortcode or number") from None
            if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 255:
                raise self.error(key, f"{kind_name}: must be an integer 0..255")
            out[kind] = number
        return out

    def country(self) -> str | None:
        value = self.table.get("country")
        if value is None:
            return None
        if not isinstance(value, str) or not is_region(value):
            raise self.error(
                "country",
                f'must be a country code such as "GB" or "FR" (ISO 3166 alpha-2), not {value!r}',
            )
        return value.upper()

    def status_map(self) -> dict[int, Disposition]:
        value = self.table.get("status_map", {})
        if not isinstance(value, Mapping):
            raise self.error("status_map", 'must be a table like {ESME_RX_P_APPN = "retry"}')
        out: dict[int, Disposition] = {}
        for status_text, disp_text in value.items():
            try:
                code = parse_status(str(status_text))
            except ValueError as exc:
                raise self.error("status_map", str(exc)) from None
            try:
                out[code] = Disposition(disp_text)
            except ValueError:
                choices = ", ".join(d.value for d in Disposition)
                raise self.error(
                    "status_map", f"{status_text}: must be one of {choices}, not {disp_text!r}"
                ) from None
        return out
