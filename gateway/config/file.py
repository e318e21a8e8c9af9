"""The configuration file (TOML, README: Configuration): ``load_config(path) -> Config``.

This module reads what the store, the ledger and the stoplist need
(``[store]``, ``[ledger]``, ``[stoplist]``) and keeps every other table as
raw data (``Config.raw``) for the parts that read their own (``[http]``,
``[mqtt]``, ``[[link]]``...). Errors name the file and the key:
``gateway.toml: [store] url: must be a string``.

A relative SQLite path (``sqlite:var/gateway.db``) is relative to the
directory of the configuration file, so the same file works from any
current directory.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gateway.accounting.ledger import DEFAULT_MIN_TOPUP
from gateway.model.errors import ConfigError, ConfigErrors
from gateway.model.secrets import Secret
from gateway.store import sqlite_path
from gateway.store.postgres.connect import SCHEMES, Target
from gateway.store.sqlite.connect import SYNCHRONOUS
from gateway.store.stoplist import DEFAULT_STOP_KEYWORDS, stop_words

T = TypeVar("T")

DEFAULT_STORE_URL = "sqlite:../var/gateway.db"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    url: str
    synchronous: str = "full"  # "full" | "normal" (SQLite; see gateway.store.sqlite.engine)
    password: Secret | None = None  # PostgreSQL: env:NAME or file:/path (never in the URL)

    @property
    def postgres(self) -> bool:
        return self.url.split(":", 1)[0] in SCHEMES


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerConfig:
    min_topup: int = DEFAULT_MIN_TOPUP


@dataclass(frozen=True, slots=True, kw_only=True)
class StoplistConfig:
    keywords: tuple[str, ...] = DEFAULT_STOP_KEYWORDS  # replies that stop their source

    @property
    def words(self) -> frozenset[str]:
        """As gateway.store.stoplist.is_stop compares them."""
        return stop_words(self.keywords)


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    path: Path
    store: StoreConfig
    ledger: LedgerConfig
    stoplist: StoplistConfig = field(default_factory=StoplistConfig)
    raw: dict[str, Any] = field(default_factory=dict)  # the whole file, for other sections

    @property
    def mqtt_outbox(self) -> bool:
        """Whether events go to MQTT: without ``[mqtt]`` no outbox rows are written."""
        return "mqtt" in self.raw

    @property
    def base_dir(self) -> Path:
        """Where relative paths in the file start from: the file's directory."""
        return self.path.resolve().parent


class Where:
    """Builds 'gateway.toml line 12: [http] listen: ...' messages and, for
    ``smsgw check-config``, collects them: each key is checked on its own, so one
    run reports every problem of the file (:meth:`checked`, :meth:`raise_problems`)."""

    def __init__(self, name: str, lines: Sequence[str]) -> None:
        self.name = name
        self.lines = list(lines)
        self.problems: list[str] = []

    @classmethod
    def of(cls, config: Config) -> Where:
        return cls.for_file(config.path)

    @classmethod
    def for_file(cls, path: Path) -> Where:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            lines = []  # load_config says why it cannot be read
        return cls(path.name, lines)

    def line(self, section: str, key: str, nth: int = 0) -> int | None:
        """The line of ``key`` in the ``nth`` ``[section]`` (or ``[[section]]``) table."""
        header = re.compile(r"^\s*\[\[?\s*" + re.escape(section) + r"\s*\]\]?\s*(#.*)?$")
        key_re = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
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
        """ "gateway.toml line 12", or the file's name alone when the line is unknown."""
        return f"{self.name} line {line}" if line else self.name

    def error(self, section: str, key: str, problem: str, nth: int = 0) -> ConfigError:
        at = self.at(self.line(section, key, nth))
        label = f"[[{section}]] #{nth + 1}" if section == "link" else f"[{section}]"
        return ConfigError(f"{at}: {label} {key}: {problem}")

    def add(self, error: ConfigError) -> None:
        self.problems.extend(getattr(error, "problems", None) or [str(error)])

    def checked(self, read: Callable[[], T], default: T) -> T:
        """``read()``, or ``default`` with its error kept for the report."""
        try:
            return read()
        except ConfigError as exc:
            self.add(exc)
            return default

    def raise_problems(self) -> None:
        if self.problems:
            raise ConfigErrors(self.problems)


def _table(doc: dict[str, Any], name: str, where: Where) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        where.add(ConfigError(f"{where.at(where.header_line(name))}: [{name}] must be a table"))
        return {}
    return value


def _string(table: dict[str, Any], section: str, key: str, where: Where, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise where.error(section, key, "must be a string")
    return value


def _int(table: dict[str, Any], section: str, key: str, where: Where, default: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(section, key, "must be a whole number")
    return value


def check_store_url(url: str) -> None:
    """A URL some command can open: ``sqlite:PATH``, ``sqlite:///ABSOLUTE`` or
    ``postgresql://USER@HOST[:PORT]/DATABASE``; ConfigError with the reason otherwise."""
    scheme = url.split(":", 1)[0] if ":" in url else ""
    if scheme in SCHEMES:
        Target.parse(url)  # the shape: a host and a database, no password in it
        return
    if scheme != "sqlite":
        raise ConfigError(
            f"{url!r} is not sqlite:PATH (e.g. sqlite:../var/gateway.db) nor "
            "postgresql://USER@HOST/DATABASE"
        )
    sqlite_path(url)  # the shape: a path, no host


def _store(doc: dict[str, Any], where: Where) -> StoreConfig:
    store = _table(doc, "store", where)

    def url() -> str:
        value = _string(store, "store", "url", where, DEFAULT_STORE_URL)
        try:
            check_store_url(value)
        except ConfigError as exc:
            raise where.error("store", "url", str(exc).removeprefix("store url ")) from None
        return value

    def sync() -> str:
        value = _string(store, "store", "synchronous", where, "full").lower()
        if value not in SYNCHRONOUS:
            raise where.error("store", "synchronous", f"must be one of {', '.join(SYNCHRONOUS)}")
        return value

    def password() -> Secret | None:
        if "password" not in store:
            return None
        spec = _string(store, "store", "password", where, "")
        try:
            return Secret.resolve(spec, key="password")
        except ConfigError as exc:
            raise where.error("store", "password", str(exc).removeprefix("password: ")) from None

    return StoreConfig(
        url=where.checked(url, DEFAULT_STORE_URL),
        synchronous=where.checked(sync, "full"),
        password=where.checked(password, None),
    )


def _ledger(doc: dict[str, Any], where: Where) -> LedgerConfig:
    ledger = _table(doc, "ledger", where)

    def min_topup() -> int:
        value = _int(ledger, "ledger", "min_topup", where, DEFAULT_MIN_TOPUP)
        if value < 1:
            raise where.error("ledger", "min_topup", "must be at least 1")
        return value

    return LedgerConfig(min_topup=where.checked(min_topup, DEFAULT_MIN_TOPUP))


def _stoplist(doc: dict[str, Any], where: Where) -> StoplistConfig:
    table = _table(doc, "stoplist", where)

    def keywords() -> tuple[str, ...]:
        value = table.get("keywords", list(DEFAULT_STOP_KEYWORDS))
        if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
            raise where.error("stoplist", "keywords", "must be a list of strings")
        words = tuple(k.strip() for k in value)
        if any(not k or len(k) > 160 for k in words):
            raise where.error("stoplist", "keywords", "each keyword: 1 to 160 characters")
        return words

    return StoplistConfig(keywords=where.checked(keywords, DEFAULT_STOP_KEYWORDS))


def parse_config(text: str, *, path: Path, where: Where | None = None) -> Config:
    """The configuration in ``text``; every problem of [store] and [ledger] is raised
    together (:class:`ConfigErrors`), or, with ``where``, kept there and the default
    used instead (``smsgw check-config`` goes on to the other sections)."""
    collect = where
    where = where or Where(path.name, text.splitlines())
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    config = Config(
        path=path,
        store=_store(doc, where),
        ledger=_ledger(doc, where),
        stoplist=_stoplist(doc, where),
        raw=doc,
    )
    if collect is None:
        where.raise_problems()
    return config


def load_config(path: Path, *, where: Where | None = None) -> Config:
    """Read and check ``path``; a missing file says how to create one (``where``: see
    :func:`parse_config`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        msg = (
            f"configuration file {path} not found: copy config/gateway.example.toml "
            "there, or pass -c PATH (or set SMSGW_CONFIG)"
        )
        raise ConfigError(msg) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc}") from None
    return parse_config(text, path=path, where=where)
