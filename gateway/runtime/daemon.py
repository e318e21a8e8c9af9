"""The composition root: ``smsgw run`` builds and runs the daemon.

It is the one module of ``gateway`` that imports ``drivers`` (docs/architecture.md,
imports). Everything long-running is a named task in one TaskGroup; the
daemon stops on SIGTERM/SIGINT (stop intake, let in-flight submits finish
within ``stop_timeout``, unbind, flush the store) and reloads links and routes
on SIGHUP, keeping the links whose settings did not change bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import gc
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from drivers.modem.link.config import ModemLinkConfig
from drivers.modem.link.driver import ModemLink
from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.link.driver import SmppLink
from gateway.codec import IMPLEMENTATION as CODEC_IMPLEMENTATION
from gateway.config.daemon import DaemonSettings, LinkTable, daemon_settings, driver_key
from gateway.config.file import Config, Where, load_config
from gateway.dispatch.dispatcher import Dispatcher, DispatchSettings
from gateway.dispatch.journal import AcceptJournal, journal_base
from gateway.dispatch.router import Router
from gateway.events.mqtt_bridge import MqttBridge, MqttSettings
from gateway.events.publisher import EventPublisher
from gateway.inbound.receiver import LinkEvents
from gateway.ingress.http import HttpServer, LocalOperations, build_app
from gateway.ingress.mqtt_sends import MqttSendHandler
from gateway.ingress.pipeline import SendService
from gateway.link.interface import Link, LinkHandler, LinkHealth, Receipt, ReceiptDone
from gateway.model.errors import ConfigError, UserError
from gateway.ops.metrics import Metrics, RelayedMetrics
from gateway.ops.sdnotify import Notifier, watchdog_interval, watchdog_pinger
from gateway.runtime.supervisor import slot_health, supervise
from gateway.runtime.workers import Handoffs, WorkerGone, WorkerPool, WorkerSettings
from gateway.store import open_store, sqlite_path
from gateway.store.base import Store
from gateway.store.records import InboundMessage, Lease, OutcomeRecord, QueueChanges
from gateway.store.runlock import hold_store

# composition keys of a [[link]] table, read here and not by the driver
_ROUTING_KEYS = ("weight",)


def _driver_config(
    table: LinkTable,
    where: Where | None = None,
) -> SmppLinkConfig | ModemLinkConfig:
    """The driver's settings of one link; its error points at the key's line (``where``:
    the file's lines, else the table's header line)."""
    own = {k: v for k, v in table.table.items() if k not in _ROUTING_KEYS}
    try:
        if table.driver == "smpp":
            return SmppLinkConfig.from_table(own)
        if table.driver == "modem":
            return ModemLinkConfig.from_table(own)
    except ConfigError as exc:
        key = driver_key(str(exc))
        line = where.line("link", key, table.nth) if where is not None and key else None
        at = where.at(line) if where is not None and line else table.where
        raise ConfigError(f"{at}: {exc}") from None
    msg = f"{table.where}: link {table.name!r}: unknown driver {table.driver!r}"
    raise ConfigError(msg)


def check_links(settings: DaemonSettings, *, where: Where | None = None) -> None:
    """Validate every link table with its driver, starting nothing. Every problem is
    raised together (ConfigErrors), or, with ``where``, kept there; a table's problems
    are all found: after one, its key is taken out and the table read again."""
    collect = where
    problems = where or Where("", [])
    problems.checked(lambda: Router(r for t in settings.links for r in t.routes), None)
    for table in settings.links:
        _check_link(table, problems)
    if collect is None:
        problems.raise_problems()


def _check_link(table: LinkTable, where: Where) -> None:
    """Every problem of one link table (drivers stop at the first: the key it names is
    left out, so that the next read finds the next one)."""
    own = dict(table.table)
    left_out: set[str] = set()
    for _ in range(len(own) + 1):
        try:
            _driver_config(dataclasses.replace(table, table=own), where)
        except ConfigError as exc:
            key = driver_key(str(exc).split(": ", 1)[-1])
            if key in left_out:  # missing now because it was left out: said already
                return
            where.add(exc)
            if key is None or key not in own or key in {"name", "driver"}:
                return
            left_out.add(key)
            del own[key]
        else:
            return


def build_link(table: LinkTable, handler: LinkHandler, logger: Any) -> Link:
    """One link from its ``[[link]]`` table (the driver checks its own keys)."""
    config = _driver_config(table)
    if isinstance(config, SmppLinkConfig):
        return SmppLink(config=config, handler=handler, logger=logger)
    return ModemLink(config=config, handler=handler, logger=logger)


@dataclass(slots=True)
class _Running:
    link: Link
    table: LinkTable
    task: asyncio.Task[None] | None = None
    crashed: str | None = None  # the error, while a crashed link waits to restart


@dataclass(slots=True, kw_only=True)
class Daemon:
    config: Config
    settings: DaemonSettings
    logger: Any
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    notifier: Notifier = field(default_factory=Notifier.from_environ)
    config_loader: Callable[[], Config] | None = None
    log_level: str | None = None  # `smsgw run --log-level`, passed on to workers
    # filled while running
    http_port: int | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _links: dict[str, _Running] = field(default_factory=dict)

    def stop(self) -> None:
        self._stop.set()

    @property
    def links(self) -> Mapping[str, Link]:
        return {name: r.link for name, r in self._links.items()}

    async def run(self) -> None:
        """Hold the store's run lock (gateway.store.runlock), then run until stopped."""
        url = self.config.store.url
        lock = (
            hold_store(sqlite_path(url, base=self.config.base_dir))
            if url.startswith("sqlite:")
            else None
        )
        try:
            await self._run()
        finally:
            if lock is not None:
                lock.release()

    async def _run(self) -> None:
        log = self.logger
        s = self.settings
        store = await open_store(
            self.config.store.url,
            base=self.config.base_dir,
            synchronous=self.config.store.synchronous,
            mqtt_outbox=self.config.mqtt_outbox,
            checkpoints="background",
        )
        journal = await self._open_journal(store)
        # this worker restarted: whatever it had claimed is not being sent any more
        released = await store.release_leases(s.worker)
        if released:
            log.info("leases_released", worker=s.worker, messages=released)
        metrics = Metrics(registry=self.registry)
        metrics.watch_links(self._health)
        metrics.watch_store(lambda: {"daemon": store.writer_stats()})
        operations = LocalOperations(self.registry, self._health)
        # events are published here, or by worker 0 when there are workers
        pool: WorkerPool | None = None
        events: EventPublisher | None = None
        mqtt: MqttBridge | None = None

        def wake_events() -> None:
            if pool is not None:
                pool.wake_events()
            elif events is not None:
                events.poke()

        def on_changes(changes: QueueChanges) -> None:
            for change in changes.changes:
                if change.new.final:
                    metrics.message_finished(account=change.account, status=change.new.value)
            if changes.changes:
                wake_events()

        async def on_inbound(_message: InboundMessage) -> None:
            wake_events()  # stored with its event by the store

        def record_receipt(receipt: Receipt, done: ReceiptDone) -> None:
            # with the dispatcher's outcomes; it is built below (its links need link_events)
            dispatcher.record_receipt(receipt, done)

        link_events = LinkEvents(
            store=store,
            on_inbound=on_inbound,
            record_receipt=record_receipt,
            logger=log,
            metrics=metrics,
        )
        for table in s.links:
            link = build_link(table, link_events, log)
            self._links[table.name] = _Running(link=link, table=table)

        async def record(
            outcomes: Sequence[OutcomeRecord], receipts: Sequence[Receipt], *, now: float
        ) -> QueueChanges:
            # with workers, worker 0 writes them (gateway.runtime.worker_records says why);
            # this process does while it is not running
            if pool is not None:
                with contextlib.suppress(WorkerGone):
                    return await pool.record(outcomes, receipts, now=now)
            return await store.record(outcomes, receipts, now=now)

        dispatcher = Dispatcher(
            store=store,
            router=Router(r for t in s.links for r in t.routes),
            links=self.links,
            settings=DispatchSettings(
                worker=s.worker, batch=s.batch, lease=s.lease, max_in_flight=s.max_in_flight
            ),
            on_changes=on_changes,
            logger=log,
            metrics=metrics,
            journal=journal,
            record=record,
        )
        http: HttpServer | None = None
        if s.workers:
            handoffs = Handoffs(take=dispatcher.take, adopt=dispatcher.adopt, logger=log)
            pool = WorkerPool(
                settings=WorkerSettings(
                    config=self.config.path,
                    count=s.workers,
                    host=s.http.host if s.http else None,
                    port=s.http.port if s.http else 0,
                    log_level=self.log_level,
                ),
                on_handoff=handoffs.add,
                on_exit=handoffs.adopt,
                metrics=metrics,
                logger=log,
                accepting=lambda: dispatcher.accepting,
                answer=lambda what: self._answer_worker(what, store, operations),
            )
            dispatcher.on_accepting = pool.tell_accepting
        else:
            send_service = SendService(
                store=store,
                log=log,
                national=s.national,
                callbacks=s.callbacks,
                on_crossing=lambda account: metrics.credit_low_crossed(account=account),
                lease=functools.partial(
                    _lease_if, dispatcher, Lease(worker=s.worker, seconds=s.lease)
                ),
                on_stored=dispatcher.take,
            )
            events, mqtt = build_events(
                store=store, send_service=send_service, settings=s, metrics=metrics, logger=log
            )
            if s.http is not None:
                app = build_app(
                    store=store,
                    send_service=send_service,
                    operations=operations,
                    readiness=lambda: self._readiness(store),
                    logger=log,
                    metrics=metrics,
                    max_body=s.http.max_body,
                    body_timeout=s.http.limits.body_timeout,
                )
                http = HttpServer(app, logger=log, limits=s.http.limits)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        reload = asyncio.Event()
        loop.add_signal_handler(signal.SIGHUP, reload.set)
        try:
            async with asyncio.TaskGroup() as tg:
                if http is not None and s.http is not None:
                    try:
                        self.http_port = await http.start(s.http.host, s.http.port)
                    except OSError as exc:
                        msg = f"[http] listen {s.http.host}:{s.http.port}: {exc.strerror or exc}"
                        raise ConfigError(msg) from None
                if pool is not None:
                    port = await pool.start()
                    if s.http is not None:
                        self.http_port = port
                        log.info("http_listening", host=s.http.host, port=port, workers=s.workers)
                # links start once the API listens: a taken port stops the start first
                for name, running in self._links.items():
                    self._start_link(tg, name, running, dispatcher, link_events)
                workers = [
                    tg.create_task(dispatcher.run(), name="dispatcher"),
                    tg.create_task(link_events.run_expiry(), name="reply-expiry"),
                    tg.create_task(self._gauges(store, metrics), name="gauges"),
                    tg.create_task(
                        self._receipt_sweeper(store, on_changes, metrics), name="receipt-sweeper"
                    ),
                    tg.create_task(self._announce_ready(), name="ready"),
                    tg.create_task(
                        self._reloader(reload, dispatcher, link_events, tg), name="reloader"
                    ),
                ]
                if events is not None:
                    workers.append(tg.create_task(events.run(), name="events"))
                if mqtt is not None:
                    workers.append(tg.create_task(mqtt.run(), name="mqtt"))
                if pool is not None:
                    workers.append(tg.create_task(pool.run(), name="workers"))
                interval = watchdog_interval()
                if interval:
                    workers.append(
                        tg.create_task(
                            watchdog_pinger(self.notifier, interval / 2), name="watchdog"
                        )
                    )
                await self._stop.wait()
                log.info("daemon_stopping")
                self.notifier.stopping("stopping: finishing in-flight submits")
                if mqtt is not None:
                    mqtt.stop()
                if http is not None:
                    await http.stop()
                if pool is not None:
                    await pool.stop(timeout=s.stop_timeout)
                left = await dispatcher.stop(timeout=s.stop_timeout)
                if left:
                    log.warning("dispatch_unfinished", messages=left)
                await asyncio.gather(*(r.link.stop(timeout=5) for r in self._links.values()))
                await dispatcher.close(timeout=5)
                await link_events.close()
                if events is not None:
                    await events.close(timeout=5)
                for task in workers:
                    task.cancel()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            if journal is not None:
                await journal.close()
            await store.close()
            self.notifier.close()
            log.info("daemon_stopped")

    async def _open_journal(self, store: Store) -> AcceptJournal | None:
        """The dispatcher's acceptance journal, beside the SQLite file; what a
        crash left in it is recorded in the store first."""
        path = getattr(store, "path", None)
        if path is None:
            return None
        journal, left = AcceptJournal.open(journal_base(Path(path), self.settings.worker))
        for start in range(0, len(left), 1000):
            await store.record_outcomes(left[start : start + 1000], now=time.time())
        if left:
            self.logger.info("journal_replayed", segments=len(left))
        journal.recovered()
        journal.start()
        return journal

    async def _readiness(self, store: Store) -> tuple[bool, dict[str, Any]]:
        bound = [name for name, r in self._links.items() if r.link.health().bound]
        try:
            await store.ping()
            store_ok = True
        except Exception:  # noqa: BLE001 - readiness reports, it does not raise
            store_ok = False
        return store_ok and bool(bound), {"store": store_ok, "links_bound": bound}

    def _health(self) -> list[LinkHealth]:
        return [slot_health(r) for r in self._links.values()]

    def _start_link(
        self,
        tg: asyncio.TaskGroup,
        name: str,
        running: _Running,
        dispatcher: Dispatcher,
        link_events: LinkEvents,
    ) -> None:
        """The link's task: supervised, so that its crash ends neither the task
        group nor the other links (gateway.runtime.supervisor)."""

        def rebuild() -> Link | None:
            if self._stop.is_set() or self._links.get(name) is not running:
                return None  # stopping, or a reload replaced or removed it
            running.link = build_link(running.table, link_events, self.logger)
            dispatcher.replace(
                router=Router(r for t in self.settings.links for r in t.routes), links=self.links
            )
            return running.link

        running.task = tg.create_task(
            supervise(running, rebuild=rebuild, stopping=self._stop, logger=self.logger),
            name=f"link-{name}",
        )

    async def _answer_worker(self, what: str, store: Store, operations: LocalOperations) -> Any:
        """What a worker asks for its /metrics, /readyz and /links."""
        if what == "metrics":
            return (await operations.metrics_text()).decode()
        if what == "ready":
            return list(await self._readiness(store))
        if what == "links":
            return await operations.links()
        msg = f"unknown question {what!r}"
        raise ValueError(msg)

    async def _announce_ready(self) -> None:
        """READY=1 once every link is bound, or once ready_timeout has passed."""
        deadline = time.monotonic() + self.settings.ready_timeout
        while time.monotonic() < deadline:
            if all(r.link.health().bound for r in self._links.values()):
                break
            await asyncio.sleep(0.1)
        bound = sum(1 for r in self._links.values() if r.link.health().bound)
        status = f"{bound}/{len(self._links)} links bound"
        self.notifier.ready(status)
        self.logger.info(
            "daemon_ready", links_bound=bound, links=len(self._links), codec=CODEC_IMPLEMENTATION
        )
        self.ready.set()
        while True:
            await asyncio.sleep(10)
            bound = sum(1 for r in self._links.values() if r.link.health().bound)
            self.notifier.status(f"{bound}/{len(self._links)} links bound")

    async def _receipt_sweeper(
        self,
        store: Store,
        on_changes: Callable[[QueueChanges], None],
        metrics: Metrics,
    ) -> None:
        """Submitted messages whose receipts never came end ``expired``; receipts kept
        that long without their message are dropped."""
        while True:
            before = time.time() - self.settings.receipt_timeout
            changes = await store.expire_unconfirmed(before=before)
            if changes.dropped:
                links = collections.Counter(link for link, _ in changes.dropped)
                self.logger.warning(
                    "receipts_dropped",
                    links=dict(links),
                    dropped=len(changes.dropped),
                    reason="expired",
                )
                metrics.receipts_given_up(changes.dropped)
            if changes.changes:
                self.logger.warning("receipts_missing", messages=len(changes.changes))
                on_changes(changes)
                continue
            await asyncio.sleep(60)

    async def _gauges(self, store: Store, metrics: Metrics) -> None:
        while True:
            # what other processes did (a CLI's sends and cancellations) counts here
            metrics.add_counts(await store.take_metric_counts())
            counts = await store.queue_depths()
            metrics.set_queue_depth({state.value: n for state, n in counts.items()})
            for account in await store.list_accounts():
                metrics.set_credit_balance(
                    account=account.name, balance=account.balance, alert_below=account.alert_below
                )
            await asyncio.sleep(5)

    async def _reloader(
        self,
        reload: asyncio.Event,
        dispatcher: Dispatcher,
        link_events: LinkEvents,
        tg: asyncio.TaskGroup,
    ) -> None:
        while True:
            await reload.wait()
            reload.clear()
            self.notifier.reloading("reloading configuration")
            try:
                await self._reload(dispatcher, link_events, tg)
            except ConfigError as exc:
                self.logger.error("config_reload_failed", error=str(exc))
            self.notifier.ready("reloaded")

    async def _reload(
        self, dispatcher: Dispatcher, link_events: LinkEvents, tg: asyncio.TaskGroup
    ) -> None:
        loader = self.config_loader or (lambda: load_config(self.config.path))
        settings = daemon_settings(loader())
        new = {t.name: t for t in settings.links}
        # build first: a bad table changes nothing
        fresh = {
            name: build_link(t, link_events, self.logger)
            for name, t in new.items()
            if name not in self._links or self._links[name].table != t
        }
        for name in [n for n in self._links if n not in new or n in fresh]:
            old = self._links.pop(name)
            await old.link.stop(timeout=5)
            self.logger.info("link_removed", link=name)
        for name, link in fresh.items():
            running = _Running(link=link, table=new[name])
            self._links[name] = running
            self._start_link(tg, name, running, dispatcher, link_events)
            self.logger.info("link_added", link=name)
        dispatcher.replace(
            router=Router(r for t in settings.links for r in t.routes), links=self.links
        )
        link_events.forget_owners()
        self.settings = settings
        self.logger.info("config_reloaded", links=sorted(new))


def _lease_if(dispatcher: Dispatcher, lease: Lease) -> Lease | None:
    """Hand messages straight to the dispatcher while it takes them."""
    return lease if dispatcher.accepting else None


def build_events(
    *,
    store: Store,
    send_service: SendService,
    settings: DaemonSettings,
    metrics: RelayedMetrics,
    logger: Any,
    mqtt_settings: MqttSettings | None = None,
) -> tuple[EventPublisher, MqttBridge | None]:
    """The outbox publisher (MQTT events, webhooks) and, with ``[mqtt]``, the MQTT
    bridge taking sends: in the daemon's process, or in worker 0 (gateway.runtime.workers)."""
    events = EventPublisher(
        store=store, metrics=metrics, logger=logger, callbacks=settings.callbacks
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
