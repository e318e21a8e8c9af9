"""SubmitTasks (a window of tasks, a crash answered as a retry) and the submit helper."""

from __future__ import annotations

import asyncio

import structlog
from structlog.testing import capture_logs

from gateway.codec import encode
from gateway.link.interface import LinkHealth, OutcomeCallback, SubmitRequest, submit
from gateway.link.submit_tasks import SubmitTasks
from gateway.model.message import SenderKind
from gateway.model.outcomes import Accepted, Outcome, Retry
from tests.waiting import eventually


def request(message_id: str) -> SubmitRequest:
    return SubmitRequest(
        message_id=message_id,
        index=0,
        source="ACME",
        source_kind=SenderKind.ALPHA,
        destination="+33612345678",
        segment=encode("hi")[0],
    )


class HeldLink:
    """A link over SubmitTasks; each send waits for ``release``."""

    name = "held"
    concat = "udh8"
    packed = False

    def __init__(self, window: int, *, crash: bool = False) -> None:
        self.release = asyncio.Event()
        self.started: list[str] = []
        self.crash = crash
        self._sends = SubmitTasks(self._send_one, window=window, logger=structlog.get_logger())

    def room(self) -> int:
        return self._sends.room()

    async def wait_room(self) -> None:
        await self._sends.wait_room()

    def send(self, request: SubmitRequest, done: OutcomeCallback) -> None:
        self._sends.send(request, done)

    async def _send_one(self, request: SubmitRequest) -> Outcome:
        self.started.append(request.message_id)
        await self.release.wait()
        if self.crash:
            msg = "driver bug"
            raise RuntimeError(msg)
        return Accepted(smsc_id=request.message_id)

    async def run(self) -> None:
        return None

    async def stop(self, *, timeout: float = 10.0) -> None:
        return None

    def health(self) -> LinkHealth:
        return LinkHealth(name=self.name, driver="held", up=True, bound=True)


async def test_sends_beyond_the_window_wait_for_room() -> None:
    link = HeldLink(window=2)
    waiting = [asyncio.create_task(submit(link, request(f"m{i}"))) for i in range(3)]
    await eventually(lambda: link.started == ["m0", "m1"], what="a window started")
    assert link.room() == 0
    link.release.set()
    outcomes = await asyncio.gather(*waiting)
    assert outcomes == [Accepted(smsc_id=f"m{i}") for i in range(3)]
    await eventually(lambda: link.room() == 2, what="the window free again")


async def test_a_send_that_raises_is_answered_as_a_retry_and_logged() -> None:
    link = HeldLink(window=1, crash=True)
    link.release.set()
    with capture_logs() as logs:
        outcome = await submit(link, request("m1"))
    assert outcome == Retry(reason="internal_error")
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["submit_crashed"]
    await eventually(lambda: link.room() == 1, what="the window free again")
