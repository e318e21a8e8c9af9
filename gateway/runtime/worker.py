"""A worker process (``python -m gateway.runtime.worker``), started by the daemon's
gateway.runtime.worker_pool when ``[workers] count`` is 1 or more: it serves the
HTTP API and takes MQTT sends, and worker 0 publishes the outbox and writes the
dispatcher's outcomes (gateway.runtime.worker_pool says why; gateway.runtime.wire
gives the records it exchanges with the daemon).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config.daemon import DaemonSettings, daemon_settings
from gateway.config.file import load_config
from gateway.console.app import build_console, mount_console
from gateway.events.mqtt_bridge import SHARED_GROUP, MqttBridge, MqttSettings
from gateway.events.publisher import EventPublisher
from gateway.ingress.http import HttpServer, build_app
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.errors import ConfigError
from gateway.model.records import Lease
from gateway.ops.logs import configure_logging, get_logger
from gateway.runtime.assembly import build_events, build_mqtt_ingress, build_send_service, tune_gc
from gateway.runtime.daemon_link import DaemonLink
from gateway.runtime.wire import LINE_LIMIT, Hello, Record, Recorded
from gateway.store import open_store
from gateway.store.base import Store


@dataclass(slots=True, kw_only=True)
class _Parts:
    """A worker's object graph: the front doors, and worker 0's publisher and recorder."""

    store: Store
    daemon: DaemonLink
    events: EventPublisher | None = None
    mqtt: MqttBridge | None = None
    http: HttpServer | None = None
    recorder: _Recorder | None = None


async def run_worker(
    *,
    config_path: Path,
    fd: int,
    index: int,
    port: int,
    reuse_port: bool,
    logger: Any,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """One worker: serve until SIGTERM/SIGINT or until the daemon is gone (the same
    composition as the daemon's own process when it has no workers)."""
    config = load_config(config_path)
    settings = daemon_settings(config)
    log = logger.bind(worker=index)
    reader, writer = await asyncio.open_connection(sock=socket.socket(fileno=fd), limit=LINE_LIMIT)
    daemon = DaemonLink(reader, writer, logger=log)
    store = await open_store(
        config.store.url,
        base=config.base_dir,
        synchronous=config.store.synchronous,
        password=config.store.password,
        mqtt_outbox=config.mqtt_outbox,
        checkpoints="elsewhere",
        clock=clock,
    )  # the daemon's checkpointer copies the WAL
    try:
        parts = _build(store, daemon, settings, index=index, log=log, clock=clock)
        bound: int | None = None
        if parts.http is not None and settings.http is not None:
            bound = await parts.http.start(settings.http.host, port, reuse_port=reuse_port)
        daemon.send(Hello(port=bound))
        await _serve(parts, index, log)
    finally:
        writer.close()
        await store.close()


def _build(
    store: Store,
    daemon: DaemonLink,
    settings: DaemonSettings,
    *,
    index: int,
    log: Any,
    clock: Clock,
) -> _Parts:
    lease = Lease(worker=settings.worker, seconds=settings.lease)
    parts = _Parts(store=store, daemon=daemon)
    send_service = build_send_service(
        store=store,
        settings=settings,
        metrics=daemon,
        logger=log,
        clock=clock,
        lease=lambda: lease if daemon.accepting else None,
        on_stored=daemon.handoff,
    )
    mqtt_settings = worker_mqtt(settings, index)
    if index == 0:  # the outbox's one publisher, the one writer of outcomes
        parts.events, parts.mqtt = build_events(
            store=store,
            send_service=send_service,
            settings=settings,
            metrics=daemon,
            logger=log,
            clock=clock,
            mqtt_settings=mqtt_settings,
        )
        daemon.on_events = parts.events.poke
        daemon.on_record = parts.recorder = _Recorder(store, daemon, parts.events)
    else:  # MQTT sends too, shared with the others; worker 0 publishes their events
        parts.mqtt = build_mqtt_ingress(
            store=store,
            send_service=send_service,
            settings=mqtt_settings,
            metrics=daemon,
            logger=log,
            poke_events=daemon.wake_events,
        )
    if settings.http is not None:
        app = build_app(
            store=store,
            send_service=send_service,
            readiness=daemon.readiness,
            logger=log,
            metrics=daemon,
            max_body=settings.http.max_body,
            operations=daemon,
            body_timeout=settings.http.limits.body_timeout,
            daemon=settings.worker,
            min_pack=settings.min_pack,
            clock=clock,
        )
        if settings.console is not None:
            console = build_console(
                store=store,
                send_service=send_service,
                settings=settings.console,
                logger=log,
                metrics=daemon,
                national=settings.national,
                min_pack=settings.min_pack,
                smpp=settings.smpp_server is not None,
                operations=daemon,
            )
            mount_console(app, console, settings.console)
        parts.http = HttpServer(app, logger=log, limits=settings.http.limits)
    return parts


async def _serve(parts: _Parts, index: int, log: Any) -> None:
    """The worker's named tasks until SIGTERM/SIGINT or the daemon's end; then stop
    intake, let records being written answer, flush the publisher."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)  # the daemon reloads, not us
    async with asyncio.TaskGroup() as tg:
        reading = tg.create_task(parts.daemon.read(), name="daemon-link")
        reading.add_done_callback(lambda _task: stop.set())
        tasks = [
            reading,
            tg.create_task(_report_writer(parts.store, parts.daemon, index), name="writer-stats"),
        ]
        if parts.events is not None:
            tasks.append(tg.create_task(parts.events.run(), name="events"))
        if parts.mqtt is not None:
            tasks.append(tg.create_task(parts.mqtt.run(), name="mqtt"))
        tune_gc()
        await stop.wait()
        if reading.done():
            log.warning("worker_orphaned", detail="the daemon is gone: stopping")
        if parts.mqtt is not None:
            parts.mqtt.stop()
        if parts.http is not None:
            await parts.http.stop()
        if parts.recorder is not None and parts.recorder.writing:
            # records being written: their answers go out before the socket closes
            await asyncio.wait(set(parts.recorder.writing), timeout=CLOSE_TIMEOUT)
        if parts.events is not None:
            await parts.events.close(timeout=CLOSE_TIMEOUT)
        for task in tasks:
            task.cancel()


def worker_mqtt(settings: DaemonSettings, index: int) -> MqttSettings | None:
    """Worker ``index``'s MQTT session: with several workers, each takes a share of the
    sends (a shared subscription) under a client id of its own (worker 0 keeps the
    configured one, and its persistent session)."""
    mqtt = settings.mqtt
    if mqtt is None or settings.workers < 2:
        return mqtt
    client_id = mqtt.client_id if index == 0 else f"{mqtt.client_id}-{index}"
    return dataclasses.replace(
        mqtt, client_id=client_id, shared_group=mqtt.shared_group or SHARED_GROUP
    )


class _Recorder:
    """Worker 0's side of ``record``: write the daemon's outcomes and receipts, answer,
    publish their events."""

    def __init__(self, store: Store, daemon: DaemonLink, events: EventPublisher) -> None:
        self._store = store
        self._daemon = daemon
        self._events = events
        self.writing: set[asyncio.Task[None]] = set()

    def __call__(self, record: Record) -> None:
        task = asyncio.get_running_loop().create_task(self._write(record), name="record")
        self.writing.add(task)
        task.add_done_callback(self.writing.discard)

    async def _write(self, record: Record) -> None:
        try:
            changes = await self._store.record(record.outcomes, record.receipts, now=record.now)
        except Exception as exc:  # noqa: BLE001 - the daemon gets the error and retries
            self._daemon.send(Recorded(id=record.id, error=repr(exc)))
            return
        self._daemon.send(Recorded.of(record.id, changes))
        self._events.poke()


CLOSE_TIMEOUT = 5.0  # seconds records being written and the publisher get at the stop
WRITER_STATS_EVERY = 1.0  # seconds between a worker's reports of its store writer


async def _report_writer(store: Store, daemon: DaemonLink, index: int) -> None:
    """The worker's store-writer figures, on the daemon's /metrics."""
    while True:
        stats = store.writer_stats()
        daemon.set_writer_stats(
            process=f"worker-{index}",
            transactions=stats.transactions,
            busy_seconds=stats.busy_seconds,
            lock_wait_seconds=stats.lock_wait_seconds,
            commit_seconds=stats.commit_seconds,
            cpu_seconds=stats.cpu_seconds,
        )
        await asyncio.sleep(WRITER_STATS_EVERY)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.runtime.worker",
        description="A worker process; the daemon starts it when [workers] count is 1 or more.",
    )
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--fd", type=int, required=True, help="the daemon's socket")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reuse-port", action="store_true")
    parser.add_argument("--log-level", default=None)
    args = parser.parse_args(argv)
    try:
        settings = daemon_settings(load_config(args.config))
        configure_logging(json=settings.log_json, level=args.log_level or settings.log_level)
        asyncio.run(
            run_worker(
                config_path=args.config,
                fd=args.fd,
                index=args.index,
                port=args.port,
                reuse_port=args.reuse_port,
                logger=get_logger("smsgw"),
            )
        )
    except (ConfigError, OSError) as exc:
        sys.stderr.write(f"smsgw worker {args.index}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
