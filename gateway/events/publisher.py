"""Status, reply and rejection events: from the store's outbox to MQTT and webhooks.

The store writes an event row in the same transaction as the change it
reports (a message state change, a reply stored, a send refused), so no
event is lost to a crash or to a broker that is down: this publisher reads
the outbox, publishes each MQTT event with QoS 1 and deletes it once the
broker acknowledged it, and posts webhooks with back-off until they are
delivered or given up. Delivery is at-least-once; events carry ids so that
consumers can drop duplicates. With several daemons on one PostgreSQL store,
one of them publishes (:meth:`~gateway.store.base.Store.lead`); when it ends,
another takes over within about a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import Any

import aiohttp

from gateway.events import webhooks
from gateway.events.callbacks import CallbackPolicy
from gateway.events.mqtt_bridge import MqttBridge, MqttUnavailable
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.errors import StoreError
from gateway.model.records import WebhookEvent
from gateway.ops.metric_sinks import EventMetrics
from gateway.ops.retrying import Outage
from gateway.store.base import Store

BATCH = 500
# MQTT events per round (one outbox read, one pipelined publish, one delete),
# about: whole outbox rows are read, so a round may hold one row's worth more
MQTT_BATCH = 1000
SECRET_TTL = 60.0  # seconds a webhook secret is cached
# with several daemons on one store, the one leading this role publishes (Store.lead)
LEAD_ROLE = "events"


class EventPublisher:
    """Two loops that never wait for each other: MQTT events, and webhooks.

    The webhook loop reads due webhooks in turns (an id cursor through the
    due list), holds them per host in a :class:`~gateway.events.webhooks.HookQueue`
    and starts attempts as slots free up: a receiver that never answers
    holds its host's slots for :data:`~gateway.events.webhooks.ATTEMPT_TIMEOUT`
    each, never other hosts' nor the MQTT events.
    """

    def __init__(
        self,
        *,
        store: Store,
        metrics: EventMetrics,
        logger: Any,  # a structlog bound logger
        clock: Clock = SYSTEM_CLOCK,
        webhook_concurrency: int = webhooks.CONCURRENCY,
        webhook_host_concurrency: int = webhooks.HOST_CONCURRENCY,
        webhook_timeout: float = webhooks.ATTEMPT_TIMEOUT,
        callbacks: CallbackPolicy | None = None,  # receivers webhooks may reach
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._log = logger.bind(component="events")
        self._clock = clock
        self._mqtt: MqttBridge | None = None
        self._mqtt_wake = asyncio.Event()
        self._hooks_wake = asyncio.Event()
        self._closing = False
        self._hooks = webhooks.HookQueue(
            concurrency=webhook_concurrency, per_host=webhook_host_concurrency
        )
        self._webhook_concurrency = webhook_concurrency
        self._webhook_host_concurrency = webhook_host_concurrency
        self._webhook_timeout = webhook_timeout
        self._callbacks = callbacks if callbacks is not None else CallbackPolicy()
        self._attempts: set[asyncio.Task[None]] = set()
        self._secrets: dict[str, tuple[float, bytes]] = {}  # account -> (read at, secret)
        self._outbox_cleared = False  # no broker, and the outbox was emptied once

    def attach_mqtt(self, bridge: MqttBridge) -> None:
        self._mqtt = bridge

    def poke(self) -> None:
        """New outbox or webhook rows (already committed): publish now, not at the next poll."""
        self._mqtt_wake.set()
        self._hooks_wake.set()

    # --- the publisher ------------------------------------------------------------

    async def run(self) -> None:
        connector = webhooks.connector(
            self._callbacks,
            limit=self._webhook_concurrency,
            limit_per_host=self._webhook_host_concurrency,
        )
        async with aiohttp.ClientSession(connector=connector) as session:
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._mqtt_loop(), name="events-mqtt")
                    tg.create_task(self._webhook_loop(session), name="events-webhooks")
            finally:
                # attempts cut short stay pending in the store: tried again later
                for task in self._attempts:
                    task.cancel()
                await asyncio.gather(*self._attempts, return_exceptions=True)

    async def close(self, *, timeout: float) -> None:
        """Publish what can be published within ``timeout``, let webhook attempts under
        way finish in that time; the rest waits in the store."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while await self._publish_mqtt():
                    pass
                self._closing = True  # no new attempts
                if self._attempts:
                    await asyncio.wait(set(self._attempts))
        self._closing = True
        self.poke()

    @staticmethod
    async def _idle(wake: asyncio.Event, seconds: float = 1.0) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await wake.wait()

    async def _mqtt_loop(self) -> None:
        outage = Outage("events_publishing", self._log)
        while not self._closing:
            # cleared before reading: a poke during this round means another round
            self._mqtt_wake.clear()
            try:
                more = await self._publish_mqtt()
            except StoreError as exc:  # the store away: the rows wait there
                await asyncio.sleep(outage.failed(exc))
                continue
            outage.worked()
            if not more and not self._mqtt_wake.is_set():
                await self._idle(self._mqtt_wake)

    async def _publish_mqtt(self) -> bool:
        """One batch of MQTT events; True when there may be more."""
        mqtt = self._mqtt
        if mqtt is None and self._outbox_cleared:
            return False  # without [mqtt] the store writes no outbox rows
        if not await self._store.lead(LEAD_ROLE):
            return False  # another daemon on this store publishes (Store.lead)
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
                [
                    (topic(account, kind), payload)
                    for b in batches
                    for kind, account, payload in b.events
                ]
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

    async def _webhook_loop(self, session: aiohttp.ClientSession) -> None:
        after = 0  # the due list is read in turns, from this id on
        outage = Outage("webhook_delivery", self._log)
        while not self._closing:
            self._hooks_wake.clear()  # a poke or a freed slot from here on: read again
            try:
                if not await self._store.lead(LEAD_ROLE):  # another daemon delivers them
                    await self._idle(self._hooks_wake)
                    continue
                due = await self._store.due_webhooks(now=self._clock(), limit=BATCH, after=after)
            except StoreError as exc:  # the store away: the webhooks wait there
                await asyncio.sleep(outage.failed(exc))
                continue
            outage.worked()
            for hook in due:
                self._hooks.offer(hook)  # one held already, or its host's FIFO full: later
            after = due[-1].id if len(due) == BATCH else 0
            self._start_attempts(session)
            if not after and not self._hooks_wake.is_set():
                await self._idle(self._hooks_wake)

    def _start_attempts(self, session: aiohttp.ClientSession) -> None:
        while not self._closing and (hook := self._hooks.take()) is not None:
            task = asyncio.create_task(self._attempt(session, hook), name="webhook")
            self._attempts.add(task)
            task.add_done_callback(functools.partial(self._attempted, session, hook))

    def _attempted(
        self, session: aiohttp.ClientSession, hook: WebhookEvent, task: asyncio.Task[None]
    ) -> None:
        self._attempts.discard(task)
        drained = self._hooks.done(hook)
        self._start_attempts(session)  # the host's next one, or another host's
        if drained:
            self._hooks_wake.set()  # read what is due now rather than at the next poll

    async def _attempt(self, session: aiohttp.ClientSession, hook: WebhookEvent) -> None:
        try:
            secret = await self._secret(hook.account)
            attempt = await webhooks.post(
                session,
                hook.url,
                hook.payload,
                secret=secret,
                now=self._clock(),
                policy=self._callbacks,
                timeout=self._webhook_timeout,
            )
            attempts = hook.attempts + 1
            if attempt.delivered:
                self._metrics.webhook_delivered(account=hook.account)
                await self._store.webhook_done(hook.id)
            elif attempt.permanent or attempts >= webhooks.MAX_ATTEMPTS:
                self._metrics.webhook_failed(account=hook.account, final=True)
                self._log.warning(
                    "webhook_abandoned",
                    account=hook.account,
                    event_id=hook.id,
                    error=attempt.error,
                    attempts=attempts,
                )
                await self._store.webhook_failed(hook.id, error=attempt.error or "")
            else:
                self._metrics.webhook_failed(account=hook.account, final=False)
                await self._store.webhook_retry(
                    hook.id,
                    at=self._clock() + webhooks.retry_delay(attempts),
                    error=attempt.error or "",
                )
        except Exception as exc:  # noqa: BLE001 - one webhook's trouble ends with it
            # its outcome not stored: it stays due, and is tried again
            self._log.error(
                "webhook_attempt_failed", account=hook.account, event_id=hook.id, error=repr(exc)
            )

    async def _secret(self, account: str) -> bytes:
        """The account's webhook key, read again after a minute (`--rotate` takes effect)."""
        now = self._clock()
        cached = self._secrets.get(account)
        if cached is not None and now - cached[0] < SECRET_TTL:
            return cached[1]
        secret = await self._store.webhook_secret(account)
        self._secrets[account] = (now, secret)
        return secret
