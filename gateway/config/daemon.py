"""The daemon's sections of the configuration: [http], [mqtt], [dispatcher], [log], [[link]].

:func:`gateway.config.file.load_config` reads the file and the store/ledger
sections; this module reads the rest from ``Config.raw``. Link tables are
checked by their driver (``drivers.*.config``) in the composition root; here
only their common keys (name, driver, routes, weight). Errors name the file,
the key and, where it can be found, the line.
"""

from __future__ import annotations

import functools
import math
import re
import socket
from dataclasses import dataclass, field
from typing import Any

from gateway.accounting.ledger import DEFAULT_MIN_TOPUP
from gateway.config import smpp_server as smpp_section
from gateway.config.file import Config, Where
from gateway.console.settings import ConsoleSettings
from gateway.dispatch.router import Route
from gateway.events.callbacks import CallbackPolicy
from gateway.events.mqtt_bridge import MqttSettings
from gateway.ingress.http_limits import HttpLimits
from gateway.model.errors import ConfigError
from gateway.model.secrets import Secret
from gateway.store.stoplist import DEFAULT_STOP_WORDS

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
    where: str = ""  # "gateway.toml line 40": the table's header line
    nth: int = 0  # which [[link]] table of the file it is


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
    workers: int  # worker processes for ingest and events (gateway.runtime.worker_pool); 0: none
    log_level: str
    log_json: bool | None
    national: tuple[str, ...]
    callbacks: CallbackPolicy = field(default_factory=CallbackPolicy)  # [webhooks] allow
    min_pack: int = DEFAULT_MIN_TOPUP  # [ledger] min_topup: the smallest credit order
    stop_words: frozenset[str] = DEFAULT_STOP_WORDS  # [stoplist] keywords
    smpp_server: smpp_section.SmppServerConfig | None = None  # None: no SMPP ingress
    console: ConsoleSettings | None = None  # [console]; None: no web console
    # [smpp_server] delivery_ttl: receipts and replies wait this long for an ESME;
    # None without [smpp_server] (no delivery pump)
    esme_delivery_ttl: float | None = None


def _get(  # noqa: PLR0917 - a private helper called positionally throughout
    table: dict[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    default: Any,
    where: Where,
    section: str,
    nth: int = 0,
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
    names = {
        str: "a string",
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        list: "a list",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _listen(value: str, where: Where) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port
        raise where.error("http", "listen", f"{value!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


# every key each table may hold; a typo is an error naming its line
KNOWN: dict[str, frozenset[str]] = {
    "store": frozenset({"url", "synchronous", "password"}),
    "ledger": frozenset({"min_topup"}),
    "stoplist": frozenset({"keywords"}),
    "http": frozenset(
        {
            "listen",
            "max_body",
            "max_connections",
            "header_timeout",
            "body_timeout",
            "keepalive_timeout",
        }
    ),
    "workers": frozenset({"count"}),
    "mqtt": frozenset({"url", "topic_prefix", "client_id", "shared_group", "username", "password"}),
    "dispatcher": frozenset(
        {
            "worker",
            "batch",
            "max_in_flight",
            "stop_timeout",
            "lease",
            "ready_timeout",
            "receipt_timeout",
        }
    ),
    "log": frozenset({"level", "json"}),
    "codec": frozenset({"national"}),
    "webhooks": frozenset({"allow"}),
    smpp_section.SECTION: smpp_section.KEYS | {"delivery_ttl"},
    "console": frozenset({"path", "max_failures", "lock_seconds", "session_seconds"}),
}
SECTIONS = frozenset({*KNOWN, "link"})


def _check_keys(raw: dict[str, Any], where: Where) -> None:
    for section, value in raw.items():
        if section not in SECTIONS:
            at = where.at(where.header_line(section))
            known = ", ".join(sorted(SECTIONS))
            where.add(ConfigError(f"{at}: unknown section [{section}] (known: {known})"))
        elif section in KNOWN and not isinstance(value, dict):
            at = where.at(where.header_line(section))
            where.add(ConfigError(f"{at}: [{section}] must be a table"))
        elif section in KNOWN:
            for key in value:
                if key not in KNOWN[section]:
                    known = ", ".join(sorted(KNOWN[section]))
                    where.add(where.error(section, key, f"unknown key (known: {known})"))


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    return value if isinstance(value, dict) else {}  # not a table: _check_keys said so


def daemon_settings(config: Config, *, where: Where | None = None) -> DaemonSettings:
    """The daemon's sections; every problem is raised together (ConfigErrors), or, with
    ``where`` (``smsgw check-config``), kept there and the default used instead."""
    collect = where
    where = where or Where.of(config)
    raw = config.raw
    _check_keys(raw, where)
    http = _http(raw, where) if "http" in raw else None
    workers_table = _section(raw, "workers")

    def workers() -> int:
        count = _get(workers_table, "count", int, 0, where, "workers")
        if not 0 <= count <= MAX_WORKERS:
            raise where.error(
                "workers",
                "count",
                f"{count}: 0 (everything in the daemon's process) to {MAX_WORKERS}",
            )
        return int(count)

    mqtt = _mqtt(raw, where) if "mqtt" in raw else None
    links = _links(raw.get("link", []), where)
    disp = _section(raw, "dispatcher")
    log = _section(raw, "log")

    def get(
        table: dict[str, Any], section: str, key: str, kind: type | tuple[type, ...], default: Any
    ) -> Any:
        return where.checked(lambda: _get(table, key, kind, default, where, section), default)

    national = get(_section(raw, "codec"), "codec", "national", list, [])

    def callback_policy() -> CallbackPolicy:
        allow = _get(_section(raw, "webhooks"), "allow", list, [], where, "webhooks")
        try:
            return CallbackPolicy.from_config(allow)
        except ConfigError as exc:
            raise where.error("webhooks", "allow", str(exc).split(": ", 1)[-1]) from None

    callbacks = where.checked(callback_policy, CallbackPolicy.from_config([]))
    settings = DaemonSettings(
        http=http,
        mqtt=mqtt,
        links=tuple(links),
        worker=get(disp, "dispatcher", "worker", str, socket.gethostname()),
        batch=get(disp, "dispatcher", "batch", int, 500),
        max_in_flight=get(disp, "dispatcher", "max_in_flight", int, 5000),
        stop_timeout=float(get(disp, "dispatcher", "stop_timeout", (int, float), 20)),
        lease=float(get(disp, "dispatcher", "lease", (int, float), 300)),
        ready_timeout=float(get(disp, "dispatcher", "ready_timeout", (int, float), 30)),
        receipt_timeout=float(get(disp, "dispatcher", "receipt_timeout", (int, float), 72 * 3600)),
        workers=where.checked(workers, 0),
        log_level=get(log, "log", "level", str, "info"),
        log_json=get(log, "log", "json", bool, None),
        national=tuple(national),
        callbacks=callbacks,
        min_pack=config.ledger.min_topup,
        stop_words=config.stoplist.words,
        smpp_server=(
            smpp_section.smpp_server_config(_section(raw, smpp_section.SECTION), where)
            if smpp_section.SECTION in raw
            else None
        ),
        console=where.checked(lambda: _console(raw, where), None) if "console" in raw else None,
        esme_delivery_ttl=_esme_delivery_ttl(raw, where) if "smpp_server" in raw else None,
    )
    if collect is None:
        where.raise_problems()
    return settings


def _console(raw: dict[str, Any], where: Where) -> ConsoleSettings:
    table = _section(raw, "console")
    default = ConsoleSettings()
    path = _get(table, "path", str, default.path, where, "console")
    if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", path):
        raise where.error("console", "path", f"{path!r}: a path such as /console (not /)")
    failures = _get(table, "max_failures", int, default.max_failures, where, "console")
    if failures < 1:
        raise where.error("console", "max_failures", f"{failures}: at least 1")
    seconds = {}
    for key in ("lock_seconds", "session_seconds"):
        value = _get(table, key, (int, float), getattr(default, key), where, "console")
        if not 0 < value < math.inf:
            raise where.error("console", key, f"{value}: seconds, more than 0")
        seconds[key] = float(value)
    if "http" not in raw:
        raise where.error("console", "path", "the console is served by [http]: add that section")
    return ConsoleSettings(path=path, max_failures=failures, **seconds)


DELIVERY_TTL = 72 * 3600  # seconds: [smpp_server] delivery_ttl's default


def _esme_delivery_ttl(raw: dict[str, Any], where: Where) -> float:
    def ttl() -> float:
        value = float(
            _get(
                _section(raw, "smpp_server"),
                "delivery_ttl",
                (int, float),
                DELIVERY_TTL,
                where,
                "smpp_server",
            )
        )
        if value <= 0:
            raise where.error("smpp_server", "delivery_ttl", f"{value:g}: seconds, more than 0")
        return value

    return where.checked(ttl, float(DELIVERY_TTL))


def _http(raw: dict[str, Any], where: Where) -> HttpSettings:
    table = _section(raw, "http")
    default = HttpSettings()

    def listen() -> tuple[str, int]:
        return _listen(_get(table, "listen", str, "127.0.0.1:8080", where, "http"), where)

    host, port = where.checked(listen, (default.host, default.port))
    max_body = where.checked(
        lambda: _get(table, "max_body", int, default.max_body, where, "http"), default.max_body
    )
    return HttpSettings(host=host, port=port, max_body=max_body, limits=_http_limits(table, where))


def _mqtt(raw: dict[str, Any], where: Where) -> MqttSettings | None:
    table = _section(raw, "mqtt")

    def text(key: str, default: str | None) -> Any:
        return where.checked(lambda: _get(table, key, str, default, where, "mqtt"), default)

    url = text("url", None)
    if url is None:
        if "url" not in table:
            where.add(where.error("mqtt", "url", "missing (mqtt://host:port)"))
        return None
    spec = text("password", None)
    password: Secret | None = None
    if spec:
        try:
            password = Secret.resolve(spec, key="password")
        except ConfigError as exc:  # the secret cannot be read: said at its own key
            where.add(where.error("mqtt", "password", str(exc).removeprefix("password: ")))
            return None
    options = {
        "topic_prefix": text("topic_prefix", "smsgw"),
        "client_id": text("client_id", f"smsgw-{socket.gethostname()}"),
        "shared_group": text("shared_group", None),
        "username": text("username", None),
    }
    try:
        return MqttSettings.from_url(url, password=password, **options)
    except ConfigError as exc:
        where.add(where.error("mqtt", "url", str(exc).split(": ", 2)[-1]))
        return None


def _http_limits(table: dict[str, Any], where: Where) -> HttpLimits:
    default = HttpLimits()

    def count() -> int:
        value = _get(table, "max_connections", int, default.max_connections, where, "http")
        if value < 1:
            raise where.error("http", "max_connections", f"{value}: at least 1")
        return int(value)

    def seconds(key: str) -> float:
        value = _get(table, key, (int, float), getattr(default, key), where, "http")
        if not 0 < value < float("inf"):
            raise where.error("http", key, f"{value}: seconds, more than 0")
        return float(value)

    return HttpLimits(
        max_connections=where.checked(count, default.max_connections),
        **{
            key: where.checked(functools.partial(seconds, key), float(getattr(default, key)))
            for key in ("header_timeout", "body_timeout", "keepalive_timeout")
        },
    )


def _links(tables: Any, where: Where) -> list[LinkTable]:
    if not isinstance(tables, list):
        where.add(ConfigError(f"{where.name}: [[link]] must be an array of tables"))
        return []
    out: list[LinkTable] = []
    names: set[str] = set()
    for nth, table in enumerate(tables):
        link: LinkTable | None = where.checked(
            functools.partial(_link, table, nth, names, where), None
        )
        if link is not None:
            out.append(link)
    return out


def _link(table: Any, nth: int, names: set[str], where: Where) -> LinkTable:
    if not isinstance(table, dict):
        raise ConfigError(f"{where.name}: [[link]] #{nth + 1} must be a table")
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
    return LinkTable(
        name=name,
        driver=driver,
        table=dict(table),
        routes=tuple(routes),
        where=where.at(where.header_line("link", nth)),
        nth=nth,
    )


# a driver's error names its link and the key: "link 'a': window: ..." (SMPP),
# "link 'a': 'device' is required ..." or "link 'a': unknown key 'x' ..." (modem)
_DRIVER_KEY = re.compile(
    r"^link '(?:[^']|\\')*': (?:unknown key '([A-Za-z0-9_]+)'|'?([A-Za-z_][A-Za-z0-9_]*)'?[: ])"
)


def driver_key(message: str) -> str | None:
    """The key a driver's ConfigError message names, if it names one."""
    found = _DRIVER_KEY.match(message)
    return (found.group(1) or found.group(2)) if found else None
