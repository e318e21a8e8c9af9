"""The durable store: messages, segments, accounts, ledger (docs/architecture.md).

``open_store(url)`` picks the backend from the URL:

- ``sqlite:///abs/path/gateway.db``: an absolute path (three slashes, then the path);
- ``sqlite:relative/path.db``: relative to ``base`` (the directory of the
  configuration file when the CLI or daemon opens it), else the current directory.

- ``postgresql://USER@HOST[:PORT]/DATABASE``: a PostgreSQL database that
  several daemons share (gateway.store.postgres); its password is
  ``[store] password``, never part of the URL.

A SQLite file and its directory are created when missing, private to the
daemon's user (:mod:`gateway.store.files`); either schema is migrated on open.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.errors import ConfigError
from gateway.model.secrets import Secret
from gateway.store.base import KEEP, Keep, Store
from gateway.store.files import make_dir
from gateway.store.postgres.connect import SCHEMES
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.engine import Engine
from gateway.store.sqlite.schema import APPLICATION_ID
from gateway.store.sqlite.store import SqliteStore

__all__ = ["KEEP", "Keep", "Store", "check_openable", "open_store", "sqlite_path"]


def sqlite_path(url: str, *, base: Path | None = None) -> Path:
    """The database file a ``sqlite:`` URL names."""
    if url.startswith("sqlite:///"):
        return Path("/" + url.removeprefix("sqlite:///"))
    if url.startswith("sqlite://"):
        msg = f"store url {url!r}: use sqlite:///absolute/path or sqlite:relative/path"
        raise ConfigError(msg)
    rest = url.removeprefix("sqlite:")
    if not rest:
        raise ConfigError(f"store url {url!r}: the database path is missing")
    path = Path(rest)
    return path if path.is_absolute() else (base or Path.cwd()) / path


_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_openable(url: str, *, base: Path | None = None) -> str | None:
    """Why the commands could not open the store ``url`` names (None: they can),
    found without creating or changing anything (``smsgw check-config``; a
    PostgreSQL server is not asked: the daemon's start says what it answers)."""
    if url.split(":", 1)[0] in SCHEMES:
        return None
    path = sqlite_path(url, base=base)
    return _check_existing(path) if path.exists() else _check_creatable(path)


def _check_existing(path: Path) -> str | None:
    if not path.is_file():
        return f"{path} is not a file"
    if not os.access(path, os.R_OK | os.W_OK):
        return f"{path}: no permission to read and write it"
    try:
        with path.open("rb") as f:
            head = f.read(100)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if head and not head.startswith(_SQLITE_MAGIC):
        return f"{path} is not a smsgw database (not an SQLite file)"
    app_id = int.from_bytes(head[68:72], "big") if len(head) >= 72 else 0
    if app_id not in {0, APPLICATION_ID}:
        return f"{path} is not a smsgw database (another application's SQLite file)"
    return None


def _check_creatable(path: Path) -> str | None:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot create {path}: {parent} is not a directory"
    if os.statvfs(parent).f_flag & os.ST_RDONLY:
        return f"cannot create {path}: {parent} is on a read-only file system"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create {path}: no permission to write in {parent}"
    return None


async def open_store(
    url: str,
    *,
    base: Path | None = None,
    clock: Clock = SYSTEM_CLOCK,
    synchronous: str = "full",
    mqtt_outbox: bool = True,
    checkpoints: str = "inline",
    password: Secret | None = None,
) -> Store:
    """Open (creating and migrating when needed) the store that ``url`` names.

    SQLite: ``synchronous`` and ``checkpoints``: "inline" (commands),
    "background" (the daemon), "elsewhere" (its workers): see
    :data:`gateway.store.sqlite.engine.CHECKPOINTS`. PostgreSQL: ``password``.
    """
    scheme = url.split(":", 1)[0]
    if scheme in SCHEMES:
        return await PostgresStore.open(
            url, password=password, clock=clock, mqtt_outbox=mqtt_outbox
        )
    if scheme != "sqlite":
        msg = f"store url {url!r}: use sqlite:PATH or postgresql://USER@HOST/DATABASE"
        raise ConfigError(msg)
    path = sqlite_path(url, base=base)
    try:
        make_dir(path.parent)
    except OSError as exc:
        msg = f"cannot create the store directory {path.parent}: {exc.strerror}"
        raise ConfigError(msg) from None
    engine = await asyncio.to_thread(
        Engine, str(path), synchronous=synchronous, checkpoints=checkpoints
    )
    return SqliteStore(engine=engine, clock=clock, mqtt_outbox=mqtt_outbox)
