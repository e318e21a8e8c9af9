"""Several daemons on one PostgreSQL store: worker names of their own, one events leader."""

from __future__ import annotations

import pytest

from gateway.model.errors import StoreInUse
from gateway.store.postgres.store import PostgresStore


async def test_a_second_daemon_with_the_same_worker_name_is_refused(postgres_url: str) -> None:
    first = await PostgresStore.open(postgres_url)
    second = await PostgresStore.open(postgres_url)
    try:
        await first.hold_worker("gw-1")
        with pytest.raises(StoreInUse, match="worker = 'gw-1'"):
            await second.hold_worker("gw-1")
        await second.hold_worker("gw-2")  # a name of its own: fine
    finally:
        await first.close()
    third = await PostgresStore.open(postgres_url)
    try:
        await third.hold_worker("gw-1")  # the first one ended: its name is free
    finally:
        await third.close()
        await second.close()


async def test_one_daemon_leads_and_another_takes_over_when_it_ends(postgres_url: str) -> None:
    a = await PostgresStore.open(postgres_url, lead_recheck=0.0)
    b = await PostgresStore.open(postgres_url, lead_recheck=0.0)
    try:
        assert await a.lead("events")
        assert not await b.lead("events")
        assert await a.lead("events")  # it keeps leading
        assert await b.lead("other-role")  # roles are led apart
        await a.close()
        assert await b.lead("events")
    finally:
        await b.close()


async def test_an_answer_is_kept_for_the_recheck_time(postgres_url: str) -> None:
    a = await PostgresStore.open(postgres_url, lead_recheck=3600.0)
    b = await PostgresStore.open(postgres_url, lead_recheck=3600.0)
    try:
        assert await a.lead("events")
        assert not await b.lead("events")
        await a.close()
        assert not await b.lead("events")  # not asked again within the recheck time
    finally:
        await b.close()
