"""Status, reply and rejection events: from the store's outbox to MQTT and webhooks.

The store writes an event row in the same transaction as the change it
reports (a message state change, a reply stored, a send refused), so no
event is lost to a crash or to a broker that is down: this publisher reads
the outbox, publishes each MQTT event with QoS 1 and deletes it once the
broker acknowledged it, and posts webhooks with back-off until they are
delivered or given up. Delivery is at-least-once; events carry ids so that
consumers can drop duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from gateway import webhooks
from gateway.metrics import EventMetrics
from gateway.mqtt import MqttBridge, MqttUnavailable
from gateway.store.base import Store

BATCH = 500
# MQTT events per round (one outbox read, one pipelined publish, one delete),
# about: whole outbox rows are read, so a round may hold one row's worth more
MQTT_BATCH = 1000
SECRET_TTL = 60.0  # seconds a webhook secret is cached


class EventPublisher:
    def __init__(
        self,
        *,
        store: Store,
        metrics: EventMetrics,
        logger: Any,  # a structlog bound logger
        clock: Callable[[], float] = time.time,
        webhook_concurrency: int = 32,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._log = logger.bind(component="events")
        self._clock = clock
        self._mqtt: MqttBridge | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self._webhook_slots = asyncio.Semaphore(webhook_concurrency)
        self._secrets: dict[str, tuple[float, bytes]] = {}  # account -> (read at, secret)
        self._outbox_cleared = False  # no broker, and the outbox was emptied once

    def attach_mqtt(self, bridge: MqttBridge) -> None:
        self._mqtt = bridge

    def poke(self) -> None:
        """New outbox or webhook rows (already committed): publish now, not at the next poll."""
        self._wake.set()

    # --- the publisher ------------------------------------------------------------

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while not self._closing:
                # cleared before reading: a poke during this round means another round
                self._wake.clear()
                busy = await self._publish_mqtt()
                busy = await self._post_webhooks(session) or busy
                if not busy and not self._wake.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await self._wake.wait()

    async def close(self, *, timeout: float) -> None:
        """Publish what can be published within ``timeout``; the rest waits in the store."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while await self._publish_mqtt():
                    pass
        self._closing = True
        self._wake.set()

    async def _publish_mqtt(self) -> bool:
        """One batch of MQTT events; True when there may be more."""
        mqtt = self._mqtt
        if mqtt is None and self._outbox_cleared:
            return False  # without [mqtt] the store writes no outbox rows
        batches = await self._store.pending_mqtt_events(limit=MQTT_BATCH)
        events = sum(len(b.events) for b in batches)
        if mqtt is None:
            # rows from a run that had a broker: they have nowhere to go now
            await self._store.ack_mqtt_events([b.id for b in batches])
            self._outbox_cleared = events < MQTT_BATCH
            return not self._outbox_cleared
        if not batches:
            return False
        topic = mqtt.topic
        try:
            # QoS 1 publishes pipeline: send the batch, then wait for the PUBACKs
            acked = await mqtt.publish_many(
                [(topic(account, kind), payload)
                 for b in batches for kind, account, payload in b.events]
            )
        except MqttUnavailable:
            acked = []
        # a batch published in part waits whole: its events go out again later
        done: list[int] = []
        start = 0
        for b in batches:
            end = start + len(b.events)
            if end <= len(acked) and all(acked[start:end]):
                done.append(b.id)
            start = end
        if done:
            await self._store.ack_mqtt_events(done)
        if len(done) < len(batches):
            await asyncio.sleep(0.5)  # broker away: the rows wait, nothing is lost
            return False
        return events >= MQTT_BATCH

    async def _post_webhooks(self, session: aiohttp.ClientSession) -> bool:
        now = self._clock()
        due = await self._store.due_webhooks(now=now, limit=BATCH)
        if not due:
            return False

        async def one(hook: Any) -> None:
            async with self._webhook_slots:
                secret = await self._secret(hook.account)
                attempt = await webhooks.post(session, hook.url, hook.payload, secret=secret,
                                              now=self._clock())
            attempts = hook.attempts + 1
            if attempt.delivered:
                self._metrics.webhook_delivered(account=hook.account)
                await self._store.webhook_done(hook.id)
            elif attempt.permanent or attempts >= webhooks.MAX_ATTEMPTS:
                self._metrics.webhook_failed(account=hook.account, final=True)
                self._log.warning("webhook_abandoned", account=hook.account, event_id=hook.id,
                                  error=attempt.error, attempts=attempts)
                await self._store.webhook_failed(hook.id, error=attempt.error or "")
            else:
                self._metrics.webhook_failed(account=hook.account, final=False)
                await self._store.webhook_retry(
                    hook.id, at=self._clock() + webhooks.retry_delay(attempts),
                    error=attempt.error or "",
                )

        await asyncio.gather(*(one(h) for h in due))
        return len(due) == BATCH

    async def _secret(self, account: str) -> bytes:
        """The account's webhook key, read again after a minute (`--rotate` takes effect)."""
        now = self._clock()
        cached = self._secrets.get(account)
        if cached is not None and now - cached[0] < SECRET_TTL:
            return cached[1]
        secret = await self._store.webhook_secret(account)
        self._secrets[account] = (now, secret)
        return secret
