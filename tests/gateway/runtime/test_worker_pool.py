"""The daemon's side of the worker wire against real worker processes (scripted in
tests/gateway/runtime/fake_worker.py) over real socket pairs: a worker of
another version is refused with one line, a worker's malformed lines are
refused one by one while it and the other workers keep being served."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from gateway.model.records import Message
from gateway.ops.metrics import Metrics
from gateway.runtime.wire import WIRE_VERSION, Question
from gateway.runtime.worker_pool import WorkerPool, WorkerRefused, WorkerSettings
from tests.gateway.runtime.fake_worker import BAD_LINES
from tests.waiting import eventually


def program(behaviour: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "tests.gateway.runtime.fake_worker", "--as", behaviour)


class Fakes:
    """What the pool calls: its handoffs and its metrics."""

    def __init__(self) -> None:
        self.handed: list[Message] = []
        self.registry = CollectorRegistry()
        self.metrics = Metrics(registry=self.registry)

    def accepted(self, account: str) -> float:
        value = self.registry.get_sample_value(
            "smsgw_messages_accepted_total", {"account": account, "channel": "http"}
        )
        return value or 0.0

    def on_handoff(self, messages: Sequence[Message]) -> None:
        self.handed += messages


async def answer(what: Question) -> Any:
    return {"ready": True, "detail": {"asked": what.value}}


@asynccontextmanager
async def pool_of(
    tmp_path: Path, programs: list[tuple[str, ...]], fakes: Fakes
) -> AsyncIterator[WorkerPool]:
    """A pool whose worker i runs programs[i] (one pool per program: each has its index)."""
    config = tmp_path / "gateway.toml"
    config.write_text("")
    pools = [
        WorkerPool(
            settings=WorkerSettings(config=config, count=1, host=None, port=0, program=p),
            on_handoff=fakes.on_handoff,
            on_exit=lambda: None,
            metrics=fakes.metrics,
            answer=answer,
            logger=structlog.get_logger(),
        )
        for p in programs
    ]
    started: list[WorkerPool] = []
    try:
        for pool in pools:
            await pool.start()
            started.append(pool)
        yield pools[0]
    finally:
        for pool in started:
            await pool.stop(timeout=5)


@pytest.mark.parametrize(
    ("behaviour", "says"),
    [
        (
            "other-version",
            (
                f"the worker is smsgw 0.1.0 (wire {WIRE_VERSION + 1}), "
                f"this one smsgw 0.1.0 (wire {WIRE_VERSION})"
            ),
        ),
        ("unversioned", "the worker speaks the unversioned wire of an older smsgw"),
    ],
)
async def test_a_worker_of_another_version_is_refused_with_one_clear_line(
    tmp_path: Path, behaviour: str, says: str
) -> None:
    fakes = Fakes()
    with pytest.raises(WorkerRefused) as refused:
        async with pool_of(tmp_path, [program(behaviour)], fakes):
            pass
    text = str(refused.value)
    assert text.startswith(f"worker 0 refused: {says}")
    assert text.endswith("(restart the daemon after an upgrade)")
    assert "\n" not in text


async def test_malformed_lines_are_refused_and_the_workers_keep_being_served(
    tmp_path: Path,
) -> None:
    fakes = Fakes()
    with capture_logs() as logs:
        async with pool_of(
            tmp_path, [program("handoff-on-events"), program("bad-then-good")], fakes
        ) as good:
            # the bad worker's ask, sent after all its bad lines, is answered: its
            # metric after the answer is counted
            await eventually(lambda: fakes.accepted("bad") == 1, what="the bad worker's metric")
            refused = [e for e in logs if e["event"] == "worker_line_refused"]
            assert len(refused) == len(BAD_LINES)
            assert all(e["log_level"] == "error" for e in refused)
            assert all("\n" not in e["error"] for e in refused)
            assert not [e for e in logs if e["event"] == "worker_line_failed"]
            # the other worker keeps working: its handoff and metric reach the daemon
            good.wake_events()
            await eventually(lambda: fakes.accepted("good") == 1, what="the good worker's metric")
            assert [m.id for m in fakes.handed] == ["m-after"]
    errors = {e["error"] for e in refused}
    assert "not JSON: JSONDecodeError" in errors
    assert "not JSON: UnicodeDecodeError" in errors
    assert "not JSON: RecursionError" in errors
    assert "expected an object, got list" in errors
    assert "unknown kind 'no-such-kind' from the worker" in errors
    assert "unknown kind 'record' from the worker" in errors
    assert "ask: unknown fields ['extra']" in errors
    assert "ask.id: unexpected str" in errors
    assert "ask.what: unknown question 'secrets'" in errors
    assert "metric: unknown name '__init__'" in errors
    assert "metric.values: only strings, numbers, booleans and null" in errors
    assert any(e.startswith("handoff.messages: missing fields") for e in errors)
    assert "handoff.messages: unexpected str" in errors
