"""``[[link]]`` tables with ``driver = "modem"`` (README: Configuration)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.model.errors import ConfigError
from gateway.model.secrets import Secret

KNOWN_KEYS = frozenset(
    {
        "name",
        "driver",
        "device",
        "baudrate",
        "pin",
        "routes",
        "smsc",
        "rate",
        "burst",
        "command_timeout",
        "send_timeout",
        "receipt_window",
        "poll_interval",
        "storage",
        "concat",
        "registration_timeout",
        "sim_busy_retries",
        "reopen_after",
        "number",
    }
)
_STORAGES = frozenset({"SM", "ME", "MT", "SR", "BM", "TA"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ModemLinkConfig:
    """Settings of one modem link; the PIN stays a :class:`Secret`."""

    name: str
    device: str
    baudrate: int = 115200
    pin: Secret | None = None
    routes: tuple[str, ...] = ("*",)
    smsc: str | None = None  # SMSC number put in each PDU; None = the SIM's
    rate: float = 20.0  # messages per minute; 0 = no limit
    burst: int = 1
    command_timeout: float = 5.0
    send_timeout: float = 60.0  # AT+CMGS can take 30-60 s on real networks
    receipt_window: float = 3 * 86400.0  # how long a status report can still be matched
    poll_interval: float = 30.0  # signal quality, registration, stored messages
    storage: str = "SM"  # AT+CPMS memory for reading, writing and receiving
    concat: str = "udh8"  # udh8 | udh16
    registration_timeout: float = 120.0
    sim_busy_retries: int = 10
    reopen_after: int = 2  # failed re-initialisations before the port is reopened
    number: str = ""  # the SIM's own number, given as the destination of replies

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> ModemLinkConfig:
        """Validate one ``[[link]]`` table; errors name the link and the key."""
        name, device = _name_and_device(table)
        where = f"link {name!r}"

        def number(key: str, default: float, *, minimum: float = 0.0) -> float:
            value = table.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
                msg = f"{where}: '{key}' must be a number >= {minimum:g}"
                raise ConfigError(msg)
            return float(value)

        def integer(key: str, default: int, *, minimum: int) -> int:
            value = table.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                msg = f"{where}: '{key}' must be an integer >= {minimum}"
                raise ConfigError(msg)
            return value

        pin = _pin(table["pin"], where) if "pin" in table else None
        routes = table.get("routes", ["*"])
        if not isinstance(routes, list) or not all(isinstance(r, str) for r in routes):
            msg = f"{where}: 'routes' must be a list of prefixes"
            raise ConfigError(msg)
        smsc = table.get("smsc")
        if smsc is not None and (not isinstance(smsc, str) or not smsc.removeprefix("+").isdigit()):
            msg = f"{where}: 'smsc' must be a phone number such as \"+33609001390\""
            raise ConfigError(msg)
        storage = table.get("storage", "SM")
        if storage not in _STORAGES:
            msg = f"{where}: 'storage' must be one of {', '.join(sorted(_STORAGES))}"
            raise ConfigError(msg)
        concat = table.get("concat", "udh8")
        if concat not in ("udh8", "udh16"):
            msg = f"{where}: 'concat' must be 'udh8' or 'udh16' for a modem"
            raise ConfigError(msg)
        own = table.get("number", "")
        if not isinstance(own, str):
            msg = f"{where}: 'number' must be a string such as \"+33612345678\""
            raise ConfigError(msg)
        return cls(
            name=name,
            number=own,
            device=device,
            baudrate=integer("baudrate", 115200, minimum=300),
            pin=pin,
            routes=tuple(routes),
            smsc=smsc,
            rate=number("rate", 20.0),
            burst=integer("burst", 1, minimum=1),
            command_timeout=number("command_timeout", 5.0, minimum=0.01),
            send_timeout=number("send_timeout", 60.0, minimum=0.01),
            receipt_window=number("receipt_window", 3 * 86400.0, minimum=1.0),
            poll_interval=number("poll_interval", 30.0, minimum=0.01),
            storage=storage,
            concat=concat,
            registration_timeout=number("registration_timeout", 120.0, minimum=0.0),
            sim_busy_retries=integer("sim_busy_retries", 10, minimum=0),
            reopen_after=integer("reopen_after", 2, minimum=1),
        )


def _name_and_device(table: Mapping[str, Any]) -> tuple[str, str]:
    """The link's name and serial device, once the table is known to be a modem link's."""
    name = table.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("link: 'name' is required (a non-empty string)")
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        msg = f"link {name!r}: unknown key {unknown[0]!r} for driver 'modem'"
        raise ConfigError(msg)
    if table.get("driver", "modem") != "modem":
        msg = f"link {name!r}: 'driver' must be 'modem' here"
        raise ConfigError(msg)
    device = table.get("device")
    if not isinstance(device, str) or not device:
        msg = f"link {name!r}: 'device' is required (e.g. \"/dev/ttyUSB0\")"
        raise ConfigError(msg)
    return name, device


def _pin(spec: object, where: str) -> Secret:
    """The SIM's PIN: the digits, or where to read them (env:NAME, file:/path)."""
    if not isinstance(spec, str | int) or isinstance(spec, bool):
        msg = f"{where}: 'pin' must be a string (env:NAME, file:/path or the digits)"
        raise ConfigError(msg)
    pin = Secret.resolve(str(spec), key=f"{where}: pin")
    if not (pin.reveal().isdigit() and 4 <= len(pin.reveal()) <= 8):
        msg = f"{where}: 'pin' ({pin.source}) must be 4 to 8 digits"
        raise ConfigError(msg)
    return pin
