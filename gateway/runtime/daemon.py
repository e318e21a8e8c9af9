"""The composition root: ``smsgw run`` builds the daemon's object graph and runs it.

:meth:`Daemon.run` holds the store's run lock, builds every part
(gateway.runtime.graph: store, journal, metrics, links, dispatcher, and the
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
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from gateway.config.daemon import DaemonSettings, daemon_settings
from gateway.config.file import Config, load_config
from gateway.events.esme_deliveries import DeliveryPump
from gateway.link.interface import Link
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.errors import ConfigError, UserError
from gateway.ops.sdnotify import Notifier, watchdog_interval, watchdog_pinger
from gateway.runtime import housekeeping
from gateway.runtime.assembly import tune_gc
from gateway.runtime.graph import Graph, build_graph
from gateway.store import sqlite_path
from gateway.store.runlock import hold_store

LINK_STOP_TIMEOUT = 5.0  # seconds each link gets to unbind when the daemon stops
CLOSE_TIMEOUT = 5.0  # seconds the outcome writer and the publisher get to finish


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
    _graph: Graph | None = None

    def stop(self) -> None:
        self._stop.set()

    @property
    def smpp_addresses(self) -> list[tuple[str, int, bool]]:
        """(host, port, tls) where the SMPP server listens (empty: no [smpp_server])."""
        g = self._graph
        return g.smpp.addresses if g is not None and g.smpp is not None else []

    @property
    def links(self) -> Mapping[str, Link]:
        return self._graph.links.links if self._graph is not None else {}

    @property
    def esme_deliveries(self) -> DeliveryPump | None:
        """With [smpp_server], once running: the pump the SMPP server's binds attach to."""
        return self._graph.esme_deliveries if self._graph is not None else None

    async def run(self) -> None:
        """Hold the store's run lock (gateway.store.runlock), then run until stopped."""
        url = self.config.store.url
        lock = (
            hold_store(sqlite_path(url, base=self.config.base_dir))
            if url.startswith("sqlite:")
            else None
        )
        try:
            graph = await build_graph(
                config=self.config,
                settings=self.settings,
                logger=self.logger,
                registry=self.registry,
                clock=self.clock,
                stopping=self._stop,
                log_level=self.log_level,
            )
            self._graph = graph
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

    # --- the lifecycle -----------------------------------------------------------------

    async def _serve(self, g: Graph) -> None:
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

    async def _listen(self, g: Graph) -> None:
        s = self.settings
        if g.http is not None and s.http is not None:
            try:
                self.http_port = await g.http.start(s.http.host, s.http.port)
            except OSError as exc:
                msg = f"[http] listen {s.http.host}:{s.http.port}: {exc.strerror or exc}"
                raise ConfigError(msg) from None
        if g.smpp is not None:
            await g.smpp.start()
        if g.pool is not None:
            port = await g.pool.start()
            if s.http is not None:
                self.http_port = port
                self.logger.info("http_listening", host=s.http.host, port=port, workers=s.workers)

    def _loops(
        self, g: Graph, reload: asyncio.Event, tg: asyncio.TaskGroup
    ) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        """Every long-running loop of the daemon, by task name."""
        loops: list[tuple[str, Coroutine[Any, Any, None]]] = [
            ("dispatcher", g.dispatcher.run()),
            ("reply-expiry", g.link_events.run_expiry()),
            ("gauges", housekeeping.refresh_gauges(g.store, g.metrics, self.logger)),
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
        if g.esme_deliveries is not None:
            loops.append(("esme-deliveries", g.esme_deliveries.run()))
        if g.mqtt is not None:
            loops.append(("mqtt", g.mqtt.run()))
        if g.pool is not None:
            loops.append(("workers", g.pool.run()))
        interval = watchdog_interval()
        if interval:
            loops.append(("watchdog", watchdog_pinger(self.notifier, interval / 2)))
        return loops

    async def _shutdown(self, g: Graph) -> None:
        """Intake first, then in-flight submits (bounded), the links, the writers."""
        s = self.settings
        self.logger.info("daemon_stopping")
        self.notifier.stopping("stopping: finishing in-flight submits")
        if g.mqtt is not None:
            g.mqtt.stop()
        if g.http is not None:
            await g.http.stop()
        if g.smpp is not None:  # the ESMEs are asked to unbind; their submits finish
            await g.smpp.stop()
        if g.pool is not None:
            await g.pool.stop(timeout=s.stop_timeout)
        left = await g.dispatcher.stop(timeout=s.stop_timeout)
        if left:
            self.logger.warning("dispatch_unfinished", messages=left)
        await g.links.stop(timeout=LINK_STOP_TIMEOUT)
        await g.dispatcher.close(timeout=CLOSE_TIMEOUT)
        if g.events is not None:
            await g.events.close(timeout=CLOSE_TIMEOUT)

    async def _reloader(self, reload: asyncio.Event, g: Graph, tg: asyncio.TaskGroup) -> None:
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
