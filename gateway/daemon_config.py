"""The daemon's sections of the configuration: [http], [mqtt], [dispatcher], [log], [[link]].

:func:`gateway.config.load_config` reads the file and the store/ledger
sections; this module reads the rest from ``Config.raw``. Link tables are
checked by their driver (``drivers.*.config``) in the composition root; here
only their common keys (name, driver, routes, weight). Errors name the file,
the key and, where it can be found, the line.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from typing import Any

from gateway.config import Config
from gateway.errors import ConfigError
from gateway.http_limits import HttpLimits
from gateway.mqtt import MqttSettings
from gateway.router import Route
from gateway.secrets import Secret

DRIVERS = ("smpp", "modem")
MAX_WORKERS = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body: int = 1024 * 1024
    limits: HttpLimits = field(default_factory=HttpLimits)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkTable:
    name: str
    driver: str
    table: dict[str, Any]
    routes: tuple[Route, ...]
    where: str = ""  # "gateway.toml line 40": where driver errors point


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonSettings:
    http: HttpSettings | None
    mqtt: MqttSettings | None
    links: tuple[LinkTable, ...]
    worker: str
    batch: int
    max_in_flight: int
    stop_timeout: float
    lease: float  # seconds a claimed message stays leased (taken back after a crash)
    ready_timeout: float  # READY=1 once links are bound, or after this long anyway
    receipt_timeout: float  # a submitted message with no receipt after this ends expired
    workers: int  # worker processes for ingest and events (gateway.workers); 0: none
    log_level: str
    log_json: bool | None
    national: tuple[str, ...]


class _Where:
    """Builds 'gateway.toml line 12: [http] listen: ...' messages."""

    def __init__(self, config: Config) -> None:
        self.name = config.path.name
        try:
            self.lines = config.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            self.lines = []

    def line(self, section: str, key: str, nth: int = 0) -> int | None:
        header = re.compile(r"^\s*\[\[?\s*" + re.escape(section) + r"\s*\]\]?\s*(#.*)?$")
        key_re = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        seen = -1
        inside = False
        for number, text in enumerate(self.lines, start=1):
            if text.lstrip().startswith("["):
                inside = bool(header.match(text))
                if inside:
                    seen += 1
                continue
            if inside and seen == nth and key_re.match(text):
                return number
        return None

    def header_line(self, section: str, nth: int = 0) -> int | None:
        header = re.compile(r"^\s*\[\[?\s*" + re.escape(section) + r"\s*\]\]?\s*(#.*)?$")
        seen = -1
        for number, text in enumerate(self.lines, start=1):
            if header.match(text):
                seen += 1
                if seen == nth:
                    return number
        return None

    def at(self, line: int | None) -> str:
        """"gateway.toml line 12", or the file's name alone when the line is unknown."""
        return f"{self.name} line {line}" if line else self.name

    def error(self, section: str, key: str, problem: str, nth: int = 0) -> ConfigError:
        at = self.at(self.line(section, key, nth))
        label = f"[[{section}]] #{nth + 1}" if section == "link" else f"[{section}]"
        return ConfigError(f"{at}: {label} {key}: {problem}")


def _get(  # noqa: PLR0917 - a private helper called positionally throughout
    table: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any,
    where: _Where, section: str, nth: int = 0,
) -> Any:
    value = table.get(key, default)
    if value is default:
        return value
    if isinstance(value, bool) and kind is not bool:
        raise where.error(section, key, f"must be {_kind_name(kind)}", nth)
    if not isinstance(value, kind):
        raise where.error(section, key, f"must be {_kind_name(kind)}", nth)
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
             list: "a list"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _listen(value: str, where: _Where) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port
        raise where.error("http", "listen", f"{value!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


# every key each table may hold; a typo is an error naming its line
KNOWN: dict[str, frozenset[str]] = {
    "store": frozenset({"url", "synchronous"}),
    "ledger": frozenset({"min_topup"}),
    "http": frozenset({"listen", "max_body", "max_connections", "header_timeout",
                       "body_timeout", "keepalive_timeout"}),
    "workers": frozenset({"count"}),
    "mqtt": frozenset({"url", "topic_prefix", "client_id", "shared_group", "username",
                       "password"}),
    "dispatcher": frozenset({"worker", "batch", "max_in_flight", "stop_timeout", "lease",
                             "ready_timeout", "receipt_timeout"}),
    "log": frozenset({"level", "json"}),
    "codec": frozenset({"national"}),
}
SECTIONS = frozenset({*KNOWN, "link"})


def _check_keys(raw: dict[str, Any], where: _Where) -> None:
    for section, value in raw.items():
        if section not in SECTIONS:
            at = where.at(where.header_line(section))
            known = ", ".join(sorted(SECTIONS))
            msg = f"{at}: unknown section [{section}] (known: {known})"
            raise ConfigError(msg)
        if section in KNOWN and isinstance(value, dict):
            for key in value:
                if key not in KNOWN[section]:
                    known = ", ".join(sorted(KNOWN[section]))
                    raise where.error(section, key, f"unknown key (known: {known})")


def daemon_settings(config: Config) -> DaemonSettings:
    raw = config.raw
    where = _Where(config)
    _check_keys(raw, where)
    http: HttpSettings | None = None
    if "http" in raw:
        table = raw["http"]
        listen = _get(table, "listen", str, "127.0.0.1:8080", where, "http")
        host, port = _listen(listen, where)
        max_body = _get(table, "max_body", int, 1024 * 1024, where, "http")
        http = HttpSettings(host=host, port=port, max_body=max_body,
                            limits=_http_limits(table, where))
    workers = _get(raw.get("workers", {}), "count", int, 0, where, "workers")
    if not 0 <= workers <= MAX_WORKERS:
        raise where.error("workers", "count", f"{workers}: 0 (everything in the daemon's "
                          f"process) to {MAX_WORKERS}")
    mqtt: MqttSettings | None = None
    if "mqtt" in raw:
        table = raw["mqtt"]
        url = _get(table, "url", str, None, where, "mqtt")
        if url is None:
            raise where.error("mqtt", "url", "missing (mqtt://host:port)")
        password = _get(table, "password", str, None, where, "mqtt")
        try:
            mqtt = MqttSettings.from_url(
                url,
                topic_prefix=_get(table, "topic_prefix", str, "smsgw", where, "mqtt"),
                client_id=_get(table, "client_id", str, f"smsgw-{socket.gethostname()}",
                               where, "mqtt"),
                shared_group=_get(table, "shared_group", str, None, where, "mqtt"),
                username=_get(table, "username", str, None, where, "mqtt"),
                password=Secret.resolve(password, key="[mqtt] password") if password else None,
            )
        except ConfigError as exc:
            raise where.error("mqtt", "url", str(exc).split(": ", 2)[-1]) from None
    links = tuple(_links(raw.get("link", []), where))
    disp = raw.get("dispatcher", {})
    log = raw.get("log", {})
    log_json = _get(log, "json", bool, None, where, "log")
    return DaemonSettings(
        http=http,
        mqtt=mqtt,
        links=links,
        worker=_get(disp, "worker", str, socket.gethostname(), where, "dispatcher"),
        batch=_get(disp, "batch", int, 500, where, "dispatcher"),
        max_in_flight=_get(disp, "max_in_flight", int, 5000, where, "dispatcher"),
        stop_timeout=float(_get(disp, "stop_timeout", (int, float), 20, where, "dispatcher")),
        lease=float(_get(disp, "lease", (int, float), 300, where, "dispatcher")),
        ready_timeout=float(_get(disp, "ready_timeout", (int, float), 30, where, "dispatcher")),
        receipt_timeout=float(_get(disp, "receipt_timeout", (int, float), 72 * 3600, where,
                                   "dispatcher")),
        workers=workers,
        log_level=_get(log, "level", str, "info", where, "log"),
        log_json=log_json,
        national=tuple(_get(raw.get("codec", {}), "national", list, [], where, "codec")),
    )


def _http_limits(table: dict[str, Any], where: _Where) -> HttpLimits:
    default = HttpLimits()
    count = _get(table, "max_connections", int, default.max_connections, where, "http")
    if count < 1:
        raise where.error("http", "max_connections", f"{count}: at least 1")
    seconds: dict[str, float] = {}
    for key in ("header_timeout", "body_timeout", "keepalive_timeout"):
        value = _get(table, key, (int, float), getattr(default, key), where, "http")
        if not 0 < value < float("inf"):
            raise where.error("http", key, f"{value}: seconds, more than 0")
        seconds[key] = float(value)
    return HttpLimits(max_connections=count, **seconds)


def _links(tables: Any, where: _Where) -> list[LinkTable]:
    if not isinstance(tables, list):
        raise ConfigError(f"{where.name}: [[link]] must be an array of tables")
    out: list[LinkTable] = []
    names: set[str] = set()
    for nth, table in enumerate(tables):
        name = _get(table, "name", str, None, where, "link", nth)
        if not name:
            raise where.error("link", "name", "missing", nth)
        if name in names:
            raise where.error("link", "name", f"{name!r} is used twice", nth)
        names.add(name)
        driver = _get(table, "driver", str, None, where, "link", nth)
        if driver not in DRIVERS:
            raise where.error("link", "driver", f"must be one of {', '.join(DRIVERS)}", nth)
        prefixes = _get(table, "routes", list, ["*"], where, "link", nth)
        weight = _get(table, "weight", int, 1, where, "link", nth)
        routes = []
        for prefix in prefixes:
            if not isinstance(prefix, str):
                raise where.error("link", "routes", "must be a list of strings", nth)
            routes.append(Route(prefix=prefix, link=name, weight=weight))
        out.append(LinkTable(name=name, driver=driver, table=dict(table), routes=tuple(routes),
                             where=where.at(where.header_line("link", nth))))
    return out
