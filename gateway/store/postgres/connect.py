"""Opening a PostgreSQL store: the URL, the password, the pool, one-line errors.

``postgresql://USER@HOST:PORT/DATABASE`` names the database; the password is
not part of it (a URL ends up in logs and process lists) but comes from
``[store] password`` (``env:NAME`` or ``file:/path``, gateway.model.secrets)
or from libpq's own ``PGPASSWORD`` / ``~/.pgpass``. Every way opening can
fail (no server there, wrong credentials, no such database, another
application's database) is one line naming the database, never the password.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg

from gateway.model.errors import ConfigError, StoreUnavailable
from gateway.model.secrets import Secret
from gateway.store.postgres.schema import migrate

SCHEMES = ("postgresql", "postgres")
CONNECT_TIMEOUT = 10.0  # seconds for the server to answer a new connection
POOL_MIN = 2
POOL_MAX = 16  # connections per process: the daemon's writers and readers share them

# what a server that went away (stopped, restarting, the network cut) raises
SERVER_GONE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # 08: the connection failed or was closed
    asyncpg.OperatorInterventionError,  # 57: shutting down, starting up
    asyncpg.InterfaceError,  # a connection closed under the pool
)


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset of a connection given back: nothing more than asyncpg's own
    (an open transaction rolled back). Its default reset query (``RESET ALL``,
    ``UNLISTEN *``, advisory locks released...) is a round trip per acquire, and no
    store operation leaves such state on a pooled connection: the session advisory
    locks of gateway/store/postgres/daemons.py are released before their
    connections go back."""
    del conn


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A PostgreSQL database as a store URL names it."""

    dsn: str  # the URL as given (no password in it)
    where: str  # how errors name it: postgresql://user@host:port/database

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            msg = f"store url {url!r} is not postgresql://USER@HOST:PORT/DATABASE"
            raise ConfigError(msg)
        if parts.password is not None:
            shown = url.replace(f":{parts.password}@", ":***@")
            msg = (
                f"store url {shown!r}: the password does not belong in the URL; "
                'set [store] password = "env:NAME" (or file:/path)'
            )
            raise ConfigError(msg)
        database = parts.path.lstrip("/")
        if not parts.hostname or not database:
            msg = f"store url {url!r}: name the host and the database (postgresql://USER@HOST/DB)"
            raise ConfigError(msg)
        user = f"{parts.username}@" if parts.username else ""
        port = f":{parts.port}" if parts.port else ""
        return cls(dsn=url, where=f"postgresql://{user}{parts.hostname}{port}/{database}")


async def open_pool(
    url: str,
    *,
    password: Secret | None = None,
    min_size: int = POOL_MIN,
    max_size: int = POOL_MAX,
) -> tuple[asyncpg.Pool, str]:
    """A pool on the database ``url`` names, its schema migrated; and how to name it."""
    target = Target.parse(url)
    try:
        pool = await asyncpg.create_pool(
            target.dsn,
            password=password.reveal() if password is not None else None,
            min_size=min_size,
            max_size=max_size,
            timeout=CONNECT_TIMEOUT,
            reset=keep_session,
        )
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        msg = f"{target.where}: the server refused the user or its password"
        raise ConfigError(msg) from None
    except asyncpg.InvalidCatalogNameError:
        msg = f"{target.where}: no such database on the server (create it, owned by smsgw's user)"
        raise ConfigError(msg) from None
    except (OSError, TimeoutError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        msg = f"{target.where}: cannot reach the server ({reason})"
        raise StoreUnavailable(msg) from None
    except asyncpg.PostgresError as exc:
        msg = f"{target.where}: the server refused the connection ({exc.sqlstate}: {exc})"
        raise StoreUnavailable(msg) from None
    try:
        async with pool.acquire() as conn:
            await migrate(conn, where=target.where)
    except asyncpg.InsufficientPrivilegeError:
        await pool.close()
        msg = (
            f"{target.where}: this user may not create smsgw's tables; "
            "make it the database's owner (or grant it CREATE on the schema)"
        )
        raise ConfigError(msg) from None
    except BaseException:
        await pool.close()
        raise
    return pool, target.where
