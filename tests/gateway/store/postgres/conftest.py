"""Fixtures of the PostgreSQL-only store tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.store.postgres.store import PostgresStore
from tests.clock import FakeClock


@pytest.fixture
async def daemons(postgres_url: str, clock: FakeClock) -> AsyncIterator[list[PostgresStore]]:
    """Two daemons' stores on one database, each with its own pool."""
    stores = [await PostgresStore.open(postgres_url, clock=clock) for _ in range(2)]
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()
