"""Loops through a store that goes away pause and resume; the pause is capped."""

from __future__ import annotations

import asyncio

import pytest
import structlog
from structlog.testing import capture_logs

from gateway.model.errors import StoreError, StoreUnavailable
from gateway.ops import retrying
from gateway.ops.retrying import RETRY_MAX, Outage, keep_going, retry_delay


@pytest.mark.parametrize("failures", [1, 2, 16, 17, 5000])
def test_the_pause_grows_and_stays_capped(failures: int) -> None:
    assert 0.1 <= retry_delay(failures) <= RETRY_MAX
    assert retry_delay(5000) == RETRY_MAX


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends() -> None:
    outage = Outage("claims", structlog.get_logger())
    with capture_logs() as logs:
        for _ in range(5):
            outage.failed(StoreUnavailable("db: the server is unreachable (refused)"))
        outage.worked()
        outage.worked()
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("claims_paused", "warning"),
        ("claims_resumed", "info"),
    ]
    assert logs[0]["error"] == "db: the server is unreachable (refused)"
    assert logs[1]["failures"] == 5


async def test_a_loop_goes_on_through_store_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retrying, "retry_delay", lambda failures: 0.0)
    calls = 0
    done = asyncio.Event()

    async def step() -> float:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise StoreError("the store is away")
        if calls == 5:
            done.set()
        return 0.0

    with capture_logs() as logs:
        loop = asyncio.create_task(keep_going(step, what="sweep", logger=structlog.get_logger()))
        await asyncio.wait_for(done.wait(), 5)
        loop.cancel()
    assert calls >= 5
    assert [e["event"] for e in logs] == ["sweep_paused", "sweep_resumed"]


async def test_other_errors_still_end_the_loop() -> None:
    async def step() -> float:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await keep_going(step, what="sweep", logger=structlog.get_logger())
