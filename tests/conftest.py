"""Fixtures shared by the whole suite: a clock tests move by hand, a fresh store,
and the private servers of end-to-end tests (mosquitto_broker, postgres_server,
postgres_url)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.store.sqlite.store import SqliteStore
from tests.clock import FakeClock
from tests.gateway.store.support import fresh_store

pytest_plugins = ["tests.fixtures.mosquitto", "tests.fixtures.postgres"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SqliteStore]:
    """A fresh SQLite store of its own per test, on ``clock``."""
    s = await fresh_store(tmp_path, clock)
    yield s
    await s.close()
