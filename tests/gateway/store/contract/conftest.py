"""The store's contract, run against every backend.

``any_store`` is a fresh store per test on each backend: SQLite in the
test's directory, PostgreSQL in a database of its own on the session's
private server (tests/fixtures/postgres.py; skipped with the reason when the
server binaries are missing). A test here uses only the :class:`Store`
interface, so both backends must pass it as it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.store.base import Store
from gateway.store.postgres.store import PostgresStore
from tests.clock import FakeClock
from tests.gateway.store.support import fresh_store


@pytest.fixture(params=["sqlite", "postgres"])
async def any_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Store]:
    store: Store
    if request.param == "sqlite":
        store = await fresh_store(tmp_path, clock)
    else:
        url: str = request.getfixturevalue("postgres_url")
        store = await PostgresStore.open(url, clock=clock)
    try:
        yield store
    finally:
        await store.close()
