"""The configuration file (TOML, DESIGN.md 3.2): ``load_config(path) -> Config``.

This module reads what the store and the ledger need (``[store]``,
``[ledger]``) and keeps every other table as raw data (``Config.raw``) for the
parts that read their own (``[http]``, ``[mqtt]``, ``[[link]]``...). Errors
name the file and the key: ``gateway.toml: [store] url: must be a string``.

A relative SQLite path (``sqlite:var/gateway.db``) is relative to the
directory of the configuration file, so the same file works from any
current directory.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from gateway.ledger import DEFAULT_MIN_TOPUP
from gateway.store.sqlite import SYNCHRONOUS

DEFAULT_STORE_URL = "sqlite:../var/gateway.db"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    url: str
    synchronous: str = "full"  # "full" | "normal" (SQLite; see gateway.store.sqlite)


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerConfig:
    min_topup: int = DEFAULT_MIN_TOPUP


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    path: Path
    store: StoreConfig
    ledger: LedgerConfig
    raw: dict[str, Any] = field(default_factory=dict)  # the whole file, for other sections

    @property
    def mqtt_outbox(self) -> bool:
        """Whether events go to MQTT: without ``[mqtt]`` no outbox rows are written."""
        return "mqtt" in self.raw

    @property
    def base_dir(self) -> Path:
        """Where relative paths in the file start from: the file's directory."""
        return self.path.resolve().parent


def _table(doc: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    return value


def _string(table: dict[str, Any], section: str, key: str, where: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: [{section}] {key}: must be a string")
    return value


def _int(table: dict[str, Any], section: str, key: str, where: str, default: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: [{section}] {key}: must be a whole number")
    return value


def parse_config(text: str, *, path: Path) -> Config:
    where = path.name
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    store = _table(doc, "store", where)
    url = _string(store, "store", "url", where, DEFAULT_STORE_URL)
    if not url.startswith(("sqlite:", "postgresql:", "postgres:")):
        msg = f"{where}: [store] url: {url!r} is neither sqlite:PATH nor postgresql://..."
        raise ConfigError(msg)
    sync = _string(store, "store", "synchronous", where, "full").lower()
    if sync not in SYNCHRONOUS:
        msg = f"{where}: [store] synchronous: must be one of {', '.join(SYNCHRONOUS)}"
        raise ConfigError(msg)
    ledger = _table(doc, "ledger", where)
    min_topup = _int(ledger, "ledger", "min_topup", where, DEFAULT_MIN_TOPUP)
    if min_topup < 1:
        raise ConfigError(f"{where}: [ledger] min_topup: must be at least 1")
    return Config(
        path=path,
        store=StoreConfig(url=url, synchronous=sync),
        ledger=LedgerConfig(min_topup=min_topup),
        raw=doc,
    )


def load_config(path: Path) -> Config:
    """Read and check ``path``; a missing file says how to create one."""
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
    return parse_config(text, path=path)
