"""Parts built the same way in the daemon's process and in a worker's: the send
pipeline, the event publisher, the MQTT ingress; and the garbage collector's tuning.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Any

from gateway.config.daemon import DaemonSettings
from gateway.events.mqtt_bridge import MqttBridge, MqttSettings
from gateway.events.publisher import EventPublisher
from gateway.ingress.mqtt_sends import MqttSendHandler
from gateway.ingress.pipeline import SendService
from gateway.model.clock import Clock
from gateway.model.records import Lease, Message
from gateway.ops.metric_sinks import RelayedMetrics
from gateway.store.base import Store


def build_send_service(
    *,
    store: Store,
    settings: DaemonSettings,
    metrics: RelayedMetrics,
    logger: Any,
    clock: Clock,
    lease: Callable[[], Lease | None],
    on_stored: Callable[[Sequence[Message]], None],
) -> SendService:
    """The one send pipeline every front door uses; ``lease()`` gives the lease to
    store messages due now with (None: queued), ``on_stored`` hands them over."""
    return SendService(
        store=store,
        log=logger,
        national=settings.national,
        callbacks=settings.callbacks,
        on_crossing=lambda account: metrics.credit_low_crossed(account=account),
        lease=lease,
        on_stored=on_stored,
        clock=clock,
    )


def build_events(
    *,
    store: Store,
    send_service: SendService,
    settings: DaemonSettings,
    metrics: RelayedMetrics,
    logger: Any,
    clock: Clock,
    mqtt_settings: MqttSettings | None = None,
) -> tuple[EventPublisher, MqttBridge | None]:
    """The outbox publisher (MQTT events, webhooks) and, with ``[mqtt]``, the MQTT
    bridge taking sends: in the daemon's process, or in worker 0 (gateway.runtime.worker)."""
    events = EventPublisher(
        store=store, metrics=metrics, logger=logger, callbacks=settings.callbacks, clock=clock
    )
    mqtt = build_mqtt_ingress(
        store=store,
        send_service=send_service,
        settings=mqtt_settings or settings.mqtt,
        metrics=metrics,
        logger=logger,
        poke_events=events.poke,
    )
    if mqtt is not None:
        events.attach_mqtt(mqtt)
    return events, mqtt


def build_mqtt_ingress(
    *,
    store: Store,
    send_service: SendService,
    settings: MqttSettings | None,
    metrics: RelayedMetrics,
    logger: Any,
    poke_events: Callable[[], object],
) -> MqttBridge | None:
    """The MQTT bridge taking sends (None without ``[mqtt]``); ``poke_events`` wakes
    the publisher of the events those sends wrote."""
    if settings is None:
        return None
    handler = MqttSendHandler(
        store=store,
        send_service=send_service,
        poke_events=poke_events,
        metrics=metrics,
        logger=logger,
    )
    broker = f"{settings.host}:{settings.port}"
    return MqttBridge(
        settings=settings,
        on_send=handler,
        on_retained=handler.refuse_retained,
        on_too_large=handler.refuse_too_large,
        logger=logger,
        on_connection=lambda up: metrics.set_mqtt_connected(broker=broker, connected=up),
    )


# Cyclic garbage collection, tuned for a long-running daemon that allocates
# many short-lived objects per message: with CPython's default thresholds
# (700, 10, 10) collections took ~9% of the daemon's CPU at full load
# (perf, benchmarks/e2e.py), mostly traversing the same long-lived objects.
# Everything alive after start-up (modules, config, tables) is frozen out of
# collections, and the youngest generation is collected every 50,000
# allocations instead of 700. Reference counting still frees nearly
# everything at once; only cycles wait longer.
GC_THRESHOLDS = (50_000, 20, 10)


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
