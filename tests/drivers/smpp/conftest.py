"""Fixtures for the SMPP tests: a simulator on a free loopback port, a link to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.link.driver import SmppLink
from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.server import SmscSimulator
from gateway.codec import Segment
from gateway.link.interface import InboundPart, Receipt, ReceiptDone, SubmitRequest
from gateway.model.message import SenderKind


class RecordingHandler:
    """A LinkHandler that keeps what it gets; ``fail_next`` refuses that many calls."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.parts: list[InboundPart] = []
        self.fail_next = 0
        self.refused = 0

    def _maybe_fail(self) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            self.refused += 1
            msg = "store unavailable"
            raise RuntimeError(msg)

    def store_receipt(self, receipt: Receipt, done: ReceiptDone) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._maybe_fail()
        except RuntimeError as exc:
            loop.call_soon(done, exc)
            return
        self.receipts.append(receipt)
        loop.call_soon(done, None)

    async def on_inbound(self, part: InboundPart) -> None:
        self._maybe_fail()
        self.parts.append(part)


class SinkHandler(RecordingHandler):
    """A handler whose receipts are stored when the test says (``hold``, then
    :meth:`release`), or on the next loop turn; ``fail_next`` fails that many."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.held: list[tuple[Receipt, ReceiptDone]] = []

    def store_receipt(self, receipt: Receipt, done: ReceiptDone) -> None:
        loop = asyncio.get_running_loop()
        if self.hold:
            self.held.append((receipt, done))
        elif self.fail_next > 0:
            self.fail_next -= 1
            self.refused += 1
            loop.call_soon(done, RuntimeError("store unavailable"))
        else:
            self.receipts.append(receipt)
            loop.call_soon(done, None)

    def release(self) -> None:
        held, self.held = self.held, []
        for receipt, done in held:
            self.receipts.append(receipt)
            done(None)


def gsm_segment(text: str = "Hello from the test") -> Segment:
    payload = text.encode("ascii")
    return Segment(
        data_coding=0,
        esm_class=0,
        udh=b"",
        payload=payload,
        encoding="gsm7",
        packed=False,
        udl=len(payload),
    )


def request(
    text: str = "Hello from the test",
    *,
    message_id: str = "m1",
    index: int = 0,
    want_receipt: bool = True,
    destination: str = "+33612345678",
) -> SubmitRequest:
    return SubmitRequest(
        message_id=message_id,
        index=index,
        source="Shop",
        source_kind=SenderKind.ALPHA,
        destination=destination,
        segment=gsm_segment(text),
        want_receipt=want_receipt,
    )


class LinkHarness:
    """A simulator and a running link bound to it."""

    def __init__(
        self,
        sim: SmscSimulator,
        link: SmppLink,
        handler: RecordingHandler,
        task: asyncio.Task[None],
    ) -> None:
        self.sim = sim
        self.link = link
        self.handler = handler
        self.task = task


StartLink = Callable[..., Awaitable[LinkHarness]]


@pytest.fixture
async def start_link() -> AsyncIterator[StartLink]:
    """``await start_link(sim=SimConfig(...), **link_table_overrides)``."""
    harnesses: list[LinkHarness] = []

    async def start(
        sim: SimConfig | None = None, handler: RecordingHandler | None = None, **table: object
    ) -> LinkHarness:
        simulator = SmscSimulator(config=sim or SimConfig(), port=0, seed=7)
        port = await simulator.start()
        config = SmppLinkConfig.from_table(
            {
                "name": "test",
                "port": port,
                "system_id": "gw",
                "password": "pw",
                "reconnect_min": 0.05,
                "reconnect_max": 0.2,
                **table,
            }
        )
        handler = handler or RecordingHandler()
        link = SmppLink(config=config, handler=handler)
        task = asyncio.create_task(link.run(), name="link-under-test")
        harness = LinkHarness(simulator, link, handler, task)
        harnesses.append(harness)
        await link.wait_bound(5)
        return harness

    yield start
    for h in harnesses:
        await h.link.stop(timeout=2)
        await asyncio.wait_for(h.task, 5)
        await h.sim.close()
