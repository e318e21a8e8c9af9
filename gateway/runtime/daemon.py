"""The composition root: ``smsgw run`` builds the daemon's object graph and runs it.

:meth:`Daemon.run` holds the store's run lock, builds every part
(:meth:`Daemon._build`: store, journal, metrics, links, dispatcher, and the
front doors: here, or in worker processes) and runs their lifecycle
(:meth:`Daemon._serve`): every long-running loop a named task in one
TaskGroup; SIGTERM/SIGINT stop intake, let in-flight submits finish within
``stop_timeout``, unbind and flush the store; SIGHUP reloads links and routes,
keeping the links whose settings did not change bound. With
gateway.runtime.links, the one part of ``gateway`` that imports ``drivers``.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from gateway.config.daemon import DaemonSettings, daemon_settings
from gateway.config.file import Config, load_config
from gateway.dispatch.dispatcher import Dispatcher, DispatchSettings
from gateway.dispatch.journal import AcceptJournal, journal_base
from gateway.events.mqtt_bridge import MqttBridge
from gateway.events.publisher import EventPublisher
from gateway.inbound.receiver import LinkEvents
from gateway.ingress.http import HttpServer, build_app
from gateway.ingress.http_operations import LocalOperations
from gateway.link.interface import Link, LinkHealth, Receipt, ReceiptDone
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.errors import ConfigError, UserError
from gateway.model.records import InboundMessage, Lease, OutcomeRecord, QueueChanges
from gateway.ops.metrics import Metrics
from gateway.ops.sdnotify import Notifier, watchdog_interval, watchdog_pinger
from gateway.runtime import housekeeping
from gateway.runtime.assembly import build_events, build_send_service, tune_gc
from gateway.runtime.links import LinkSet
from gateway.runtime.worker_pool import Handoffs, WorkerGone, WorkerPool, WorkerSettings
from gateway.store import open_store, sqlite_path
from gateway.store.base import Store
from gateway.store.runlock import hold_store

JOURNAL_REPLAY_BATCH = 1000  # segments a crash left in the journal, recorded per transaction
LINK_STOP_TIMEOUT = 5.0  # seconds each link gets to unbind when the daemon stops
CLOSE_TIMEOUT = 5.0  # seconds the outcome writer and the publisher get to finish


@dataclass(slots=True, kw_only=True)
class _Graph:
    """The parts of one daemon process, built in this order by :meth:`Daemon._build`.

    Its methods are the callbacks handed to parts built before the ones they
    call (the links report receipts to the dispatcher built after them)."""

    store: Store
    journal: AcceptJournal | None
    metrics: Metrics
    operations: LocalOperations
    link_events: LinkEvents = field(init=False)
    links: LinkSet = field(init=False)
    dispatcher: Dispatcher = field(init=False)
    pool: WorkerPool | None = None  # with [workers]: the front doors are theirs
    events: EventPublisher | None = None  # without: they are here
    mqtt: MqttBridge | None = None
    http: HttpServer | None = None

    def wake_events(self) -> None:
        """New outbox rows: the publisher (here, or worker 0's) looks now."""
        if self.pool is not None:
            self.pool.wake_events()
        elif self.events is not None:
            self.events.poke()

    def on_changes(self, changes: QueueChanges) -> None:
        for change in changes.changes:
            if change.new.final:
                self.metrics.message_finished(account=change.account, status=change.new.value)
        if changes.changes:
            self.wake_events()

    async def on_inbound(self, _message: InboundMessage) -> None:
        self.wake_events()  # stored with its event by the store

    def record_receipt(self, receipt: Receipt, done: ReceiptDone) -> None:
        self.dispatcher.record_receipt(receipt, done)  # with the dispatcher's outcomes

    async def record(
        self, outcomes: Sequence[OutcomeRecord], receipts: Sequence[Receipt], *, now: float
    ) -> QueueChanges:
        """The dispatcher's rounds: with workers, worker 0 writes them
        (gateway.runtime.worker_records says why); this process does while it is not running."""
        if self.pool is not None:
            try:
                return await self.pool.record(outcomes, receipts, now=now)
            except WorkerGone:
                pass
        return await self.store.record(outcomes, receipts, now=now)

    def lease(self, lease: Lease) -> Lease | None:
        """Hand messages straight to the dispatcher while it takes them."""
        return lease if self.dispatcher.accepting else None


@dataclass(slots=True, kw_only=True)
class Daemon:
    config: Config
    settings: DaemonSettings
    logger: Any
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    notifier: Notifier = field(default_factory=Notifier.from_environ)
    config_loader: Callable[[], Config] | None = None
    log_level: str | None = None  # `smsgw run --log-level`, passed on to workers
    clock: Clock = SYSTEM_CLOCK
    # filled while running
    http_port: int | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _graph: _Graph | None = None

    def stop(self) -> None:
        self._stop.set()

    @property
    def links(self) -> Mapping[str, Link]:
        return self._graph.links.links if self._graph is not None else {}

    async def run(self) -> None:
        """Hold the store's run lock (gateway.store.runlock), then run until stopped."""
        url = self.config.store.url
        lock = (
            hold_store(sqlite_path(url, base=self.config.base_dir))
            if url.startswith("sqlite:")
            else None
        )
        try:
            graph = await self._build()
            try:
                await self._serve(graph)
            finally:
                if graph.journal is not None:
                    await graph.journal.close()
                await graph.store.close()
                self.notifier.close()
                self.logger.info("daemon_stopped")
        finally:
            if lock is not None:
                lock.release()

    # --- the object graph ------------------------------------------------------------

    async def _build(self) -> _Graph:
        log, s = self.logger, self.settings
        store = await open_store(
            self.config.store.url,
            base=self.config.base_dir,
            synchronous=self.config.store.synchronous,
            mqtt_outbox=self.config.mqtt_outbox,
            checkpoints="background",
            clock=self.clock,
        )
        journal = await self._open_journal(store)
        # this worker restarted: whatever it had claimed is not being sent any more
        released = await store.release_leases(s.worker)
        if released:
            log.info("leases_released", worker=s.worker, messages=released)
        metrics = Metrics(registry=self.registry)
        metrics.watch_store(lambda: {"daemon": store.writer_stats()})
        g = _Graph(
            store=store,
            journal=journal,
            metrics=metrics,
            operations=LocalOperations(self.registry, self._health),
        )
        self._graph = g
        metrics.watch_links(self._health)
        g.link_events = LinkEvents(
            store=store,
            on_inbound=g.on_inbound,
            record_receipt=g.record_receipt,
            logger=log,
            metrics=metrics,
            clock=self.clock,
        )
        g.links = LinkSet(
            s.links, handler=g.link_events, stopping=self._stop, logger=log, clock=self.clock
        )
        g.dispatcher = Dispatcher(
            store=store,
            router=g.links.router(),
            links=g.links.links,
            settings=DispatchSettings(
                worker=s.worker, batch=s.batch, lease=s.lease, max_in_flight=s.max_in_flight
            ),
            on_changes=g.on_changes,
            logger=log,
            metrics=metrics,
            journal=journal,
            record=g.record,
            clock=self.clock,
        )
        g.links.on_replaced = lambda router, links: g.dispatcher.replace(router=router, links=links)
        if s.workers:
            self._build_workers(g)
        else:
            self._build_front_doors(g)
        return g

    def _build_workers(self, g: _Graph) -> None:
        """The front doors and the publisher run in worker processes."""
        s = self.settings
        handoffs = Handoffs(take=g.dispatcher.take, adopt=g.dispatcher.adopt, logger=self.logger)
        g.pool = WorkerPool(
            settings=WorkerSettings(
                config=self.config.path,
                count=s.workers,
                host=s.http.host if s.http else None,
                port=s.http.port if s.http else 0,
                log_level=self.log_level,
            ),
            on_handoff=handoffs.add,
            on_exit=handoffs.adopt,
            metrics=g.metrics,
            logger=self.logger,
            accepting=lambda: g.dispatcher.accepting,
            answer=lambda what: self._answer_worker(what, g),
        )
        g.dispatcher.on_accepting = g.pool.tell_accepting

    def _build_front_doors(self, g: _Graph) -> None:
        """The send pipeline, the publisher, MQTT and HTTP in this process."""
        s = self.settings
        lease = Lease(worker=s.worker, seconds=s.lease)
        send_service = build_send_service(
            store=g.store,
            settings=s,
            metrics=g.metrics,
            logger=self.logger,
            clock=self.clock,
            lease=lambda: g.lease(lease),
            on_stored=g.dispatcher.take,
        )
        g.events, g.mqtt = build_events(
            store=g.store,
            send_service=send_service,
            settings=s,
            metrics=g.metrics,
            logger=self.logger,
            clock=self.clock,
        )
        if s.http is not None:
            app = build_app(
                store=g.store,
                send_service=send_service,
                operations=g.operations,
                readiness=lambda: self._readiness(g),
                logger=self.logger,
                metrics=g.metrics,
                max_body=s.http.max_body,
                body_timeout=s.http.limits.body_timeout,
            )
            g.http = HttpServer(app, logger=self.logger, limits=s.http.limits)

    async def _open_journal(self, store: Store) -> AcceptJournal | None:
        """The dispatcher's acceptance journal, beside the SQLite file; what a
        crash left in it is recorded in the store first."""
        path = getattr(store, "path", None)
        if path is None:
            return None
        journal, left = AcceptJournal.open(journal_base(Path(path), self.settings.worker))
        for start in range(0, len(left), JOURNAL_REPLAY_BATCH):
            batch = left[start : start + JOURNAL_REPLAY_BATCH]
            await store.record_outcomes(batch, now=self.clock())
        if left:
            self.logger.info("journal_replayed", segments=len(left))
        journal.recovered()
        journal.start()
        return journal

    # --- the lifecycle -----------------------------------------------------------------

    async def _serve(self, g: _Graph) -> None:
        """Listen, start the links and the loops, wait for SIGTERM, stop in order."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        reload = asyncio.Event()
        loop.add_signal_handler(signal.SIGHUP, reload.set)
        try:
            async with asyncio.TaskGroup() as tg:
                await self._listen(g)
                g.links.start(tg)  # once the API listens: a taken port stops the start first
                tasks = [
                    tg.create_task(coro, name=name) for name, coro in self._loops(g, reload, tg)
                ]
                await self._stop.wait()
                await self._shutdown(g)
                for task in tasks:
                    task.cancel()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    async def _listen(self, g: _Graph) -> None:
        s = self.settings
        if g.http is not None and s.http is not None:
            try:
                self.http_port = await g.http.start(s.http.host, s.http.port)
            except OSError as exc:
                msg = f"[http] listen {s.http.host}:{s.http.port}: {exc.strerror or exc}"
                raise ConfigError(msg) from None
        if g.pool is not None:
            port = await g.pool.start()
            if s.http is not None:
                self.http_port = port
                self.logger.info("http_listening", host=s.http.host, port=port, workers=s.workers)

    def _loops(
        self, g: _Graph, reload: asyncio.Event, tg: asyncio.TaskGroup
    ) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        """Every long-running loop of the daemon, by task name."""
        loops: list[tuple[str, Coroutine[Any, Any, None]]] = [
            ("dispatcher", g.dispatcher.run()),
            ("reply-expiry", g.link_events.run_expiry()),
            ("gauges", housekeeping.refresh_gauges(g.store, g.metrics)),
            (
                "receipt-sweeper",
                housekeeping.sweep_receipts(
                    store=g.store,
                    receipt_timeout=lambda: self.settings.receipt_timeout,
                    on_changes=g.on_changes,
                    metrics=g.metrics,
                    logger=self.logger,
                    clock=self.clock,
                ),
            ),
            (
                "ready",
                housekeeping.announce_ready(
                    bound=lambda: (len(g.links.bound()), len(g.links.links)),
                    ready_timeout=self.settings.ready_timeout,
                    notifier=self.notifier,
                    ready=self.ready,
                    logger=self.logger,
                    clock=self.clock,
                ),
            ),
            ("reloader", self._reloader(reload, g, tg)),
        ]
        if g.events is not None:
            loops.append(("events", g.events.run()))
        if g.mqtt is not None:
            loops.append(("mqtt", g.mqtt.run()))
        if g.pool is not None:
            loops.append(("workers", g.pool.run()))
        interval = watchdog_interval()
        if interval:
            loops.append(("watchdog", watchdog_pinger(self.notifier, interval / 2)))
        return loops

    async def _shutdown(self, g: _Graph) -> None:
        """Intake first, then in-flight submits (bounded), the links, the writers."""
        s = self.settings
        self.logger.info("daemon_stopping")
        self.notifier.stopping("stopping: finishing in-flight submits")
        if g.mqtt is not None:
            g.mqtt.stop()
        if g.http is not None:
            await g.http.stop()
        if g.pool is not None:
            await g.pool.stop(timeout=s.stop_timeout)
        left = await g.dispatcher.stop(timeout=s.stop_timeout)
        if left:
            self.logger.warning("dispatch_unfinished", messages=left)
        await g.links.stop(timeout=LINK_STOP_TIMEOUT)
        await g.dispatcher.close(timeout=CLOSE_TIMEOUT)
        await g.link_events.close()
        if g.events is not None:
            await g.events.close(timeout=CLOSE_TIMEOUT)

    async def _reloader(self, reload: asyncio.Event, g: _Graph, tg: asyncio.TaskGroup) -> None:
        while True:
            await reload.wait()
            reload.clear()
            self.notifier.reloading("reloading configuration")
            try:
                loader = self.config_loader or (lambda: load_config(self.config.path))
                settings = daemon_settings(loader())
                names = await g.links.reload(settings.links, tg)
            except ConfigError as exc:
                self.logger.error("config_reload_failed", error=str(exc))
            else:
                g.link_events.forget_owners()
                self.settings = settings
                self.logger.info("config_reloaded", links=names)
            self.notifier.ready("reloaded")

    # --- what the API and the workers ask ---------------------------------------------

    async def _readiness(self, g: _Graph) -> tuple[bool, dict[str, Any]]:
        bound = g.links.bound()
        try:
            await g.store.ping()
            store_ok = True
        except Exception:  # noqa: BLE001 - readiness reports, it does not raise
            store_ok = False
        return store_ok and bool(bound), {"store": store_ok, "links_bound": bound}

    def _health(self) -> list[LinkHealth]:
        return self._graph.links.health() if self._graph is not None else []

    async def _answer_worker(self, what: str, g: _Graph) -> Any:
        """What a worker asks for its /metrics, /readyz and /links."""
        if what == "metrics":
            return (await g.operations.metrics_text()).decode()
        if what == "ready":
            return list(await self._readiness(g))
        if what == "links":
            return await g.operations.links()
        msg = f"unknown question {what!r}"
        raise ValueError(msg)


async def run_daemon(config: Config, logger: Any, *, log_level: str | None = None) -> None:
    daemon = Daemon(
        config=config, settings=daemon_settings(config), logger=logger, log_level=log_level
    )
    tune_gc()
    try:
        await daemon.run()
    except ExceptionGroup as group:
        # a task's UserError (a port taken, a worker that cannot start) is
        # one line for the operator, not a traceback of the task group
        found, _rest = group.split(UserError)
        if found is None:
            raise
        first: BaseException = found
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
