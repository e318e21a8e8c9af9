"""A bound ESME receiver as the SMPP server hands one to the delivery pump
(gateway.model.esme.DeliveryTarget), answering as a test tells it."""

from __future__ import annotations

import asyncio

from gateway.model.esme import EsmeDelivery


class Target:
    """A bound receiver as the SMPP server gives one: answers as told, in order."""

    def __init__(self, system_id: str = "esme1", answers: list[BaseException | None] | None = None):
        self._system_id = system_id
        self.answers = list(answers or [])  # then ESME_ROK for everything
        self.tried: list[EsmeDelivery] = []
        self.delivered: list[EsmeDelivery] = []
        self.hold = asyncio.Event()  # set: answer; clear: keep it waiting
        self.hold.set()

    @property
    def system_id(self) -> str:
        return self._system_id

    async def deliver(self, delivery: EsmeDelivery) -> None:
        self.tried.append(delivery)
        await self.hold.wait()
        if self.answers:
            answer = self.answers.pop(0)
            if answer is not None:
                raise answer
        self.delivered.append(delivery)
