"""The daemon's object graph: every part of one daemon process, built in order.

:func:`build_graph` opens the store and the acceptance journal, then builds
the metrics, the links, the dispatcher and the front doors (here, or in
worker processes with ``[workers] count``). The :class:`Graph` it returns
holds the parts; its methods are the callbacks handed to parts built before
the ones they call (the links report receipts to the dispatcher built after
them). gateway.runtime.daemon runs the graph's lifecycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from drivers.smpp.server.listener import SmppServer
from gateway.config.daemon import DaemonSettings
from gateway.config.file import Config
from gateway.console.app import build_console, mount_console
from gateway.dispatch.dispatcher import Dispatcher, DispatchSettings
from gateway.dispatch.journal import AcceptJournal, journal_base
from gateway.events.esme_deliveries import DeliveryPump, PumpSettings
from gateway.events.mqtt_bridge import MqttBridge
from gateway.events.publisher import EventPublisher
from gateway.inbound.receiver import LinkEvents
from gateway.ingress.http import HttpServer, build_app
from gateway.ingress.http_operations import LocalOperations
from gateway.link.interface import LinkHealth, Receipt, ReceiptDone
from gateway.model.clock import Clock
from gateway.model.esme import EsmeBind
from gateway.model.records import InboundMessage, Lease, OutcomeRecord, QueueChanges
from gateway.ops.esme_metrics import EsmeMetrics
from gateway.ops.metrics import Metrics
from gateway.runtime.assembly import build_events, build_send_service
from gateway.runtime.links import LinkSet
from gateway.runtime.smpp_server import build_smpp_server
from gateway.runtime.wire import Question
from gateway.runtime.worker_pool import Handoffs, WorkerGone, WorkerPool, WorkerSettings
from gateway.store import open_store, sqlite_path
from gateway.store.base import Store

JOURNAL_REPLAY_BATCH = 1000  # segments a crash left in the journal, recorded per transaction


@dataclass(slots=True, kw_only=True)
class Graph:
    """The parts of one daemon process, built in this order by :func:`build_graph`."""

    store: Store
    journal: AcceptJournal | None
    metrics: Metrics
    operations: LocalOperations = field(init=False)
    link_events: LinkEvents = field(init=False)
    links: LinkSet = field(init=False)
    dispatcher: Dispatcher = field(init=False)
    pool: WorkerPool | None = None  # with [workers]: the front doors are theirs
    events: EventPublisher | None = None  # without: they are here
    mqtt: MqttBridge | None = None
    http: HttpServer | None = None
    smpp: SmppServer | None = None  # with [smpp_server]: ESMEs bind here
    # with [smpp_server]: receipts and replies to bound ESMEs; the SMPP server is given
    # it (EsmeDeliveries: attach / detach its receiver and transceiver binds)
    esme_deliveries: DeliveryPump | None = None

    def wake_events(self) -> None:
        """New outbox rows: the publisher (here, or worker 0's) looks now."""
        if self.pool is not None:
            self.pool.wake_events()
        elif self.events is not None:
            self.events.poke()

    def on_changes(self, changes: QueueChanges) -> None:
        finals = 0
        for change in changes.changes:
            if change.new.final:
                finals += 1
                self.metrics.message_finished(account=change.account, status=change.new.value)
        if changes.changes:
            self.wake_events()
        if finals and self.esme_deliveries is not None:
            self.esme_deliveries.wake()  # final states may have stored receipts

    async def on_inbound(self, _message: InboundMessage) -> None:
        self.wake_events()  # stored with its event by the store
        if self.esme_deliveries is not None:
            self.esme_deliveries.wake()  # and with its deliveries to the account's ESMEs

    def record_receipt(self, receipt: Receipt, done: ReceiptDone) -> None:
        self.dispatcher.record_receipt(receipt, done)  # with the dispatcher's outcomes

    async def record(
        self, outcomes: Sequence[OutcomeRecord], receipts: Sequence[Receipt], *, now: float
    ) -> QueueChanges:
        """The dispatcher's rounds: with workers, worker 0 writes them
        (gateway.runtime.worker_pool says why); this process does while it is not running."""
        if self.pool is not None:
            try:
                return await self.pool.record(outcomes, receipts, now=now)
            except WorkerGone:
                pass
        return await self.store.record(outcomes, receipts, now=now)

    def lease(self, lease: Lease) -> Lease | None:
        """Hand messages straight to the dispatcher while it takes them."""
        return lease if self.dispatcher.accepting else None

    def health(self) -> list[LinkHealth]:
        return self.links.health()

    def esme_binds(self) -> list[EsmeBind]:
        return self.smpp.bound_now() if self.smpp is not None else []

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        bound = self.links.bound()
        try:
            await self.store.ping()
            store_ok = True
        except Exception:  # noqa: BLE001 - readiness reports, it does not raise
            store_ok = False
        return store_ok and bool(bound), {"store": store_ok, "links_bound": bound}

    async def answer_worker(self, what: Question) -> Any:
        """What a worker asks for its /metrics, /readyz, /links and /esme."""
        match what:
            case Question.METRICS:
                return (await self.operations.metrics_text()).decode()
            case Question.READY:
                ready, detail = await self.readiness()
                return {"ready": ready, "detail": detail}
            case Question.LINKS:
                return await self.operations.links()
            case Question.ESME:
                return await self.operations.esme()


async def build_graph(
    *,
    config: Config,
    settings: DaemonSettings,
    logger: Any,
    registry: CollectorRegistry,
    clock: Clock,
    stopping: asyncio.Event,
    log_level: str | None,
) -> Graph:
    """Open the store and build every part on it; ``stopping`` is the daemon's stop."""
    s = settings
    store = await open_store(
        config.store.url,
        base=config.base_dir,
        synchronous=config.store.synchronous,
        password=config.store.password,
        mqtt_outbox=config.mqtt_outbox,
        checkpoints="background",
        clock=clock,
    )
    try:
        await store.hold_worker(s.worker)  # no other daemon runs under this name
        journal = (
            None
            if config.store.postgres
            else await _open_journal(
                store, journal_file(config, s.worker), logger=logger, clock=clock
            )
        )
    except BaseException:
        await store.close()
        raise
    # this worker restarted: whatever it had claimed is not being sent any more
    released = await store.release_leases(s.worker)
    if released:
        logger.info("leases_released", worker=s.worker, messages=released)
    metrics = Metrics(registry=registry)
    metrics.daemon_info.info({"worker": s.worker})
    metrics.watch_store(lambda: {"daemon": store.writer_stats()})
    g = Graph(store=store, journal=journal, metrics=metrics)
    g.operations = LocalOperations(
        registry, g.health, esme=g.esme_binds if s.smpp_server is not None else None
    )
    metrics.watch_links(g.health)
    g.link_events = LinkEvents(
        store=store,
        on_inbound=g.on_inbound,
        record_receipt=g.record_receipt,
        logger=logger,
        metrics=metrics,
        clock=clock,
        stop_words=s.stop_words,
    )
    g.links = LinkSet(s.links, handler=g.link_events, stopping=stopping, logger=logger, clock=clock)
    g.dispatcher = Dispatcher(
        store=store,
        router=g.links.router(),
        links=g.links.links,
        settings=DispatchSettings(
            worker=s.worker, batch=s.batch, lease=s.lease, max_in_flight=s.max_in_flight
        ),
        on_changes=g.on_changes,
        logger=logger,
        metrics=metrics,
        journal=journal,
        record=g.record,
        clock=clock,
    )
    g.links.on_replaced = lambda router, links: g.dispatcher.replace(router=router, links=links)
    g.esme_deliveries = build_esme_deliveries(g, settings=s, logger=logger, clock=clock)
    if s.workers:
        _build_workers(g, config=config, settings=s, logger=logger, log_level=log_level)
    else:
        _build_front_doors(g, settings=s, logger=logger, clock=clock)
    if s.smpp_server is not None:
        _build_smpp_server(g, settings=s, logger=logger, clock=clock)
    return g


def _build_smpp_server(g: Graph, *, settings: DaemonSettings, logger: Any, clock: Clock) -> None:
    """The SMPP server, in this process whatever [workers] says (gateway.runtime.smpp_server)."""
    s = settings
    assert s.smpp_server is not None  # noqa: S101 - the caller checked
    assert g.esme_deliveries is not None  # noqa: S101 - built with [smpp_server]
    lease = Lease(worker=s.worker, seconds=s.lease)
    send_service = build_send_service(
        store=g.store,
        settings=s,
        metrics=g.metrics,
        logger=logger,
        clock=clock,
        lease=lambda: g.lease(lease),
        on_stored=g.dispatcher.take,
    )
    g.smpp = build_smpp_server(
        config=s.smpp_server,
        store=g.store,
        send_service=send_service,
        metrics=g.metrics,
        esme_metrics=EsmeMetrics(registry=g.metrics.registry),
        logger=logger,
        clock=clock,
        deliveries=g.esme_deliveries,
    )


def build_esme_deliveries(
    g: Graph, *, settings: DaemonSettings, logger: Any, clock: Clock
) -> DeliveryPump | None:
    """With [smpp_server]: the pump that hands stored receipts and replies to the
    ESMEs' bound receivers (gateway.events.esme_deliveries), leasing them as this
    daemon's worker name, ``[smpp_server] window`` of them in flight per bind;
    None without."""
    if settings.esme_delivery_ttl is None:
        return None
    # as many deliver_sm in flight per bind as the server lets a bind have
    window = settings.smpp_server.window if settings.smpp_server else PumpSettings().window
    return DeliveryPump(
        store=g.store,
        owner=settings.worker,
        settings=PumpSettings(ttl=settings.esme_delivery_ttl, window=window),
        metrics=g.metrics,
        logger=logger,
        clock=clock,
    )


def _build_workers(
    g: Graph, *, config: Config, settings: DaemonSettings, logger: Any, log_level: str | None
) -> None:
    """The front doors and the publisher run in worker processes."""
    s = settings
    handoffs = Handoffs(adopt=g.dispatcher.adopt, logger=logger)
    g.pool = WorkerPool(
        settings=WorkerSettings(
            config=config.path,
            count=s.workers,
            host=s.http.host if s.http else None,
            port=s.http.port if s.http else 0,
            log_level=log_level,
        ),
        on_handoff=g.dispatcher.take,
        on_exit=handoffs.adopt,
        metrics=g.metrics,
        logger=logger,
        accepting=lambda: g.dispatcher.accepting,
        answer=g.answer_worker,
    )
    g.dispatcher.on_accepting = g.pool.tell_accepting


def _build_front_doors(g: Graph, *, settings: DaemonSettings, logger: Any, clock: Clock) -> None:
    """The send pipeline, the publisher, MQTT and HTTP in this process."""
    s = settings
    lease = Lease(worker=s.worker, seconds=s.lease)
    send_service = build_send_service(
        store=g.store,
        settings=s,
        metrics=g.metrics,
        logger=logger,
        clock=clock,
        lease=lambda: g.lease(lease),
        on_stored=g.dispatcher.take,
    )
    g.events, g.mqtt = build_events(
        store=g.store,
        send_service=send_service,
        settings=s,
        metrics=g.metrics,
        logger=logger,
        clock=clock,
    )
    if s.http is not None:
        app = build_app(
            store=g.store,
            send_service=send_service,
            operations=g.operations,
            readiness=g.readiness,
            logger=logger,
            metrics=g.metrics,
            max_body=s.http.max_body,
            body_timeout=s.http.limits.body_timeout,
            daemon=s.worker,
            min_pack=s.min_pack,
            clock=clock,
        )
        if s.console is not None:
            console = build_console(
                store=g.store,
                send_service=send_service,
                settings=s.console,
                logger=logger,
                metrics=g.metrics,
                national=s.national,
                clock=clock,
                min_pack=s.min_pack,
                smpp=s.smpp_server is not None,
                operations=g.operations,
            )
            mount_console(app, console, s.console)
        g.http = HttpServer(app, logger=logger, limits=s.http.limits)


def journal_file(config: Config, worker: str) -> Path:
    """Where this daemon's acceptance journal lives: beside the SQLite store's file.

    On PostgreSQL there is none: a daemon that dies for good would take its
    journal with it, and the others could not know what the SMSC had accepted.
    There, a window's slots wait for the store's commit, so what another daemon
    sends again after a takeover is at most the dead one's window."""
    return journal_base(sqlite_path(config.store.url, base=config.base_dir), worker)


async def _open_journal(store: Store, base: Path, *, logger: Any, clock: Clock) -> AcceptJournal:
    """The dispatcher's acceptance journal; what a crash left in it is recorded in the
    store first."""
    journal, left = AcceptJournal.open(base)
    for start in range(0, len(left), JOURNAL_REPLAY_BATCH):
        batch = left[start : start + JOURNAL_REPLAY_BATCH]
        await store.record_outcomes(batch, now=clock())
    if left:
        logger.info("journal_replayed", segments=len(left))
    journal.recovered()
    journal.start()
    return journal
