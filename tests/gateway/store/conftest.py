"""Fixtures for store tests: a fake clock and a fresh SQLite store per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.store.sqlite.store import SqliteStore
from tests.gateway.store.support import FakeClock, fresh_store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SqliteStore]:
    s = await fresh_store(tmp_path, clock)
    yield s
    await s.close()
