"""A modem link on a real pty against the simulator, and a handler that records."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from drivers.modem.link.config import ModemLinkConfig
from drivers.modem.link.driver import ModemLink
from drivers.modem.simulator.config import SimConfig
from drivers.modem.simulator.pty import PtyModem
from gateway.codec import Segment
from gateway.link.interface import InboundPart, Receipt, ReceiptDone, SubmitRequest
from gateway.model.message import SenderKind
from tests.drivers.modem.segments import gsm_segment
from tests.waiting import eventually


@dataclass
class Recorder:
    """A LinkHandler that stores what it gets; ``refuse`` makes the next calls raise."""

    receipts: list[Receipt] = field(default_factory=list)
    parts: list[InboundPart] = field(default_factory=list)
    refuse: int = 0
    refused: int = 0

    def store_receipt(self, receipt: Receipt, done: ReceiptDone) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._maybe_refuse()
        except RuntimeError as exc:
            loop.call_soon(done, exc)
            return
        self.receipts.append(receipt)
        loop.call_soon(done, None)

    async def on_inbound(self, part: InboundPart) -> None:
        self._maybe_refuse()
        self.parts.append(part)

    def _maybe_refuse(self) -> None:
        if self.refuse > 0:
            self.refuse -= 1
            self.refused += 1
            raise RuntimeError("store unavailable")


def request(
    destination: str = "+33612345678",
    *,
    segment: Segment | None = None,
    want_receipt: bool = True,
    message_id: str = "msg-1",
    index: int = 0,
    validity: int | None = None,
) -> SubmitRequest:
    return SubmitRequest(
        message_id=message_id,
        index=index,
        source="Shop",
        source_kind=SenderKind.ALPHA,
        destination=destination,
        segment=segment or gsm_segment("hello from smsgw"),
        want_receipt=want_receipt,
        validity=validity,
    )


def link_config(device: str, **overrides: Any) -> ModemLinkConfig:
    settings: dict[str, Any] = {
        "name": "modem-1",
        "device": device,
        "command_timeout": 3.0,
        "send_timeout": 5.0,
        "poll_interval": 60.0,
        "rate": 0,
        "registration_timeout": 2.0,
    }
    settings.update(overrides)
    return ModemLinkConfig(**settings)


@contextlib.asynccontextmanager
async def running_link(
    sim_config: SimConfig | None = None,
    *,
    handler: Recorder | None = None,
    wait_bound: bool = True,
    link_kw: dict[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[tuple[PtyModem, ModemLink, Recorder]]:
    """A simulator on a pty and a running link to it; stopped on exit."""
    recorder = handler or Recorder()
    async with PtyModem(sim_config) as sim:
        link = ModemLink(
            config=link_config(sim.device, **overrides),
            handler=recorder,
            retry_delay=0.01,
            backoff=(0.05, 0.2),
            **(link_kw or {}),
        )
        task = asyncio.create_task(link.run(), name="modem-link")
        try:
            if wait_bound:
                await eventually(lambda: link.bound, what="the modem link bound")
            yield sim, link, recorder
        finally:
            await link.stop(timeout=2.0)
            await asyncio.wait_for(task, 5.0)
