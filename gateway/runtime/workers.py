"""Worker processes (``[workers] count = N``): ingest and events beside the daemon.

With ``count = 0`` everything runs in the daemon's process and shares one CPU
core (one Python interpreter). With N >= 1 the daemon starts N processes
(``python -m gateway.runtime.workers``), so that taking messages in, publishing
events and writing outcomes run on other cores than sending:

- every worker serves the HTTP API on ``[http] listen`` (with SO_REUSEPORT
  when N > 1, the kernel spreads connections over them) and takes MQTT sends
  (``[mqtt]``; with N > 1 a shared subscription, one session per worker:
  :func:`worker_mqtt`);
- worker 0 also publishes the outbox (status, inbound and rejected events over
  MQTT, and webhooks) and writes the dispatcher's outcomes and the links'
  receipts (``record`` below; the daemon writes them itself while worker 0 is
  not running).

Workers store what they accept themselves: SQLite in WAL mode takes writers
from several processes, one transaction at a time, as it does for ``smsgw``
commands run beside the daemon.

Each worker talks to the daemon over one socket pair (its end passed as a
file descriptor), newline-delimited JSON arrays:

worker -> daemon  ``["started", port]``: serving (port: the API's, or null)
                  ``["events"]``: new outbox rows (relayed to worker 0)
                  ``["handoff", [message, ...]]``: messages stored leased to
                  the daemon's dispatcher (each the list of its columns, as
                  the store gives them): it sends them, no claim
                  ``["metric", name, {kwargs}]``: counted on the daemon's
                  metrics (a method of :data:`gateway.ops.metrics.RELAYED`)
                  ``["ask", id, what]``: what is "metrics", "ready" or "links"
daemon -> worker  ``["answer", id, value]``
                  ``["events"]``: new outbox rows (to worker 0)
                  ``["accepting", bool]``: whether the dispatcher takes handovers;
                  while it does not, workers store messages queued (claimed later)
                  ``["record", id, now, outcomes, receipts]`` (to worker 0): write
                  the dispatcher's outcomes and the links' receipts
                  (gateway.runtime.worker_records), answered ``["recorded", id, changes,
                  null]`` once committed, or ``["recorded", id, null, error]``

So /metrics, /readyz and /links show the daemon's registry and links whichever
process a scrape reaches. A worker stops on SIGTERM or SIGINT (requests in
progress finish, events still queued wait in the store) and as soon as the
socket closes: it never outlives its daemon, even one killed with SIGKILL.
The daemon starts a worker again when one exits on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.link.interface import Receipt
from gateway.model.errors import ConfigError, StoreError
from gateway.model.message import MessageState
from gateway.ops.metrics import RELAYED, Metrics
from gateway.runtime.worker_records import (
    changes_from,
    changes_list,
    outcome_from,
    outcome_list,
    receipt_from,
    receipt_list,
)
from gateway.store.records import OutcomeRecord, QueueChanges
from gateway.store.sqlite.rows import message_from, message_row

if TYPE_CHECKING:
    from gateway.config.daemon import DaemonSettings
    from gateway.events.mqtt_bridge import MqttBridge, MqttSettings
    from gateway.events.publisher import EventPublisher
    from gateway.store.base import Store
    from gateway.store.records import Message

# how long the daemon waits for a new worker to serve before it gives up
START_TIMEOUT = 30.0
# a worker that exits on its own is started again after this delay (seconds),
# doubled after each start that fails, up to RESTART_MAX
RESTART_DELAY = 1.0
RESTART_MAX = 30.0
# longest line either side accepts (a /metrics answer can be large)
LINE_LIMIT = 64 * 1024 * 1024

Answer = Callable[[str], Awaitable[Any]]


class WorkerExited(ConfigError):
    """A worker exited before it was serving (bad address, port taken...)."""


class WorkerGone(Exception):
    """Worker 0 is not running right now: the daemon writes what it would have."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    config: Path  # the daemon's configuration file: the worker reads it too
    count: int
    host: str | None  # [http] listen; None without [http]
    port: int
    log_level: str | None = None


@dataclass(slots=True)
class _Worker:
    index: int
    proc: asyncio.subprocess.Process
    writer: asyncio.StreamWriter
    reader: asyncio.StreamReader


class WorkerPool:
    """The daemon's side: starts the workers, serves their requests, restarts them.

    ``on_handoff`` takes the rows of the messages a worker stored leased to the
    dispatcher;
    ``on_exit`` runs when a worker exits on its own (what it stored but did not
    hand over is adopted); ``metrics`` counts what the workers report;
    ``answer`` gives the value of an ``ask`` ("metrics", "ready", "links").
    """

    def __init__(
        self,
        *,
        settings: WorkerSettings,
        on_handoff: Callable[[list[list[Any]]], object],
        on_exit: Callable[[], object],
        metrics: Metrics,
        answer: Answer,
        logger: Any,
        accepting: Callable[[], bool] = lambda: True,
    ) -> None:
        self._s = settings
        self._accepting = accepting
        self._on_handoff = on_handoff
        self._on_exit = on_exit
        self._metrics = metrics
        self._answer = answer
        self._log = logger.bind(component="workers")
        self._workers: dict[int, _Worker] = {}
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port: int | None = None
        # new outbox rows: worker 0 publishes them (one line per loop turn)
        self.wake_events = _OncePerTurn(self._send_events)
        self._records = itertools.count(1)
        self._recording: dict[int, asyncio.Future[QueueChanges]] = {}  # id -> its answer

    async def start(self) -> int | None:
        """Start every worker; return the port the API listens on (None: no [http]).

        The first one binds the configured port (0: any free one); the others
        then join it. Raises :class:`WorkerExited` if one exits instead.
        """
        port = self._s.port
        for index in range(self._s.count):
            port = await self._spawn(index, port) or port
        self.port = port if self._s.host is not None else None
        return self.port

    async def run(self) -> None:
        """Keep every worker running until :meth:`stop` (a TaskGroup task)."""
        await asyncio.gather(*(self._supervise(index) for index in range(self._s.count)))

    def tell_accepting(self, accepting: bool) -> None:
        """The dispatcher started or stopped taking handovers: every worker hears it."""
        for worker in self._workers.values():
            if not worker.writer.is_closing():
                worker.writer.write(_encode(["accepting", accepting]))

    async def record(
        self, outcomes: Sequence[OutcomeRecord], receipts: Sequence[Receipt], *, now: float
    ) -> QueueChanges:
        """Have worker 0 write outcomes and receipts; its changes once committed.

        Raises :class:`WorkerGone` when worker 0 is not running (write them
        here), ConnectionError when it exits before answering (unknown whether
        they were written: writing them again changes nothing).
        """
        worker = self._workers.get(0)
        if worker is None or worker.writer.is_closing() or self._stopping.is_set():
            raise WorkerGone
        record_id = next(self._records)
        answer: asyncio.Future[QueueChanges] = asyncio.get_running_loop().create_future()
        self._recording[record_id] = answer
        try:
            worker.writer.write(
                _encode(
                    [
                        "record",
                        record_id,
                        now,
                        [outcome_list(o) for o in outcomes],
                        [receipt_list(r) for r in receipts],
                    ]
                )
            )
            return await answer
        finally:
            self._recording.pop(record_id, None)

    def _recorded(self, item: list[Any]) -> None:
        answer = self._recording.get(item[1])
        if answer is None or answer.done():
            return
        if item[3] is not None:
            answer.set_exception(StoreError(f"worker 0 could not record: {item[3]}"))
        else:
            answer.set_result(changes_from(item[2]))

    def _send_events(self) -> None:
        worker = self._workers.get(0)
        if worker is not None and not worker.writer.is_closing():
            worker.writer.write(_encode(["events"]))

    async def stop(self, *, timeout: float) -> None:
        """SIGTERM every worker; wait (bounded) for them to finish their requests."""
        self._stopping.set()
        for worker in self._workers.values():
            if worker.proc.returncode is None:
                worker.proc.send_signal(signal.SIGTERM)
        waits = [w.proc.wait() for w in self._workers.values()]
        if waits:
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.gather(*waits)
            except TimeoutError:
                for worker in self._workers.values():
                    if worker.proc.returncode is None:
                        self._log.warning("worker_killed", worker=worker.index, pid=worker.proc.pid)
                        worker.proc.kill()
                        await worker.proc.wait()
        for worker in self._workers.values():
            worker.writer.close()
        for task in list(self._tasks):
            task.cancel()
        self._workers.clear()
        self._fail_records("worker 0 stopped")  # the daemon writes them again itself

    def _fail_records(self, why: str) -> None:
        """Records worker 0 will not answer: unknown whether they were written (writing
        them again changes nothing)."""
        for answer in self._recording.values():
            if not answer.done():
                answer.set_exception(ConnectionError(why))

    # --- one worker -------------------------------------------------------------

    async def _supervise(self, index: int) -> None:
        """Start worker ``index`` again whenever it exits, backing off while it cannot."""
        delay = RESTART_DELAY
        while not self._stopping.is_set():
            worker = self._workers.get(index)
            if worker is not None:
                status = await worker.proc.wait()
                if self._stopping.is_set():
                    return
                del self._workers[index]
                self._log.error("worker_exited", worker=index, pid=worker.proc.pid, status=status)
                if index == 0:
                    self._fail_records("worker 0 exited")
                self._on_exit()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return
            try:
                await self._spawn(index, self.port or self._s.port)
                delay = RESTART_DELAY
            except (OSError, ConfigError) as exc:
                delay = min(delay * 2, RESTART_MAX)
                self._log.error("worker_start_failed", worker=index, error=str(exc), retry_in=delay)

    async def _spawn(self, index: int, port: int) -> int | None:
        ours, theirs = socket.socketpair()
        args = [
            sys.executable,
            "-m",
            "gateway.runtime.workers",
            "--config",
            str(self._s.config),
            "--fd",
            str(theirs.fileno()),
            "--index",
            str(index),
            "--port",
            str(port),
        ]
        if self._s.count > 1:
            args.append("--reuse-port")
        if self._s.log_level:
            args += ["--log-level", self._s.log_level]
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
            )
        finally:
            theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours, limit=LINE_LIMIT)
        worker = _Worker(index=index, proc=proc, writer=writer, reader=reader)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                line = await reader.readline()
        except TimeoutError:
            line = b""
        first = _decode(line)
        if not first or first[0] != "started":
            writer.close()
            try:
                async with asyncio.timeout(5):
                    status = await proc.wait()  # it closed its end on its way out
            except TimeoutError:
                proc.kill()
                status = await proc.wait()
            where = f" on {self._s.host}:{port}" if self._s.host is not None else ""
            msg = (
                f"worker {index} exited with status {status} before serving{where} "
                f"(see its log lines above)"
            )
            raise WorkerExited(msg)
        bound: int | None = first[1]
        self._workers[index] = worker
        if not self._accepting():
            writer.write(_encode(["accepting", False]))
        task = asyncio.create_task(self._serve(worker), name=f"worker-{index}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._log.info("worker_started", worker=index, pid=proc.pid, port=bound)
        return bound

    async def _serve(self, worker: _Worker) -> None:
        """Read what one worker sends until its socket closes."""
        while line := await worker.reader.readline():
            try:
                self._handle(worker, line)
            except Exception as exc:  # noqa: BLE001 - one bad line must not stop the reading
                self._log.error(
                    "worker_line_failed",
                    worker=worker.index,
                    line=line[:80],
                    error=repr(exc),
                    exc_info=exc,
                )

    def _handle(self, worker: _Worker, line: bytes) -> None:
        item = _decode(line)
        kind = item[0] if item else None
        if kind == "recorded" and item and len(item) == 4:
            self._recorded(item)
        elif kind == "events":
            self.wake_events()  # another worker stored events: worker 0 publishes
        elif kind == "handoff" and item:
            self._on_handoff(item[1])
        elif kind == "metric" and item and item[1] in RELAYED:
            getattr(self._metrics, item[1])(**item[2])
        elif kind == "ask" and item:
            task = asyncio.create_task(self._reply(worker, item[1], item[2]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._log.warning("worker_bad_line", worker=worker.index, line=line[:80])

    async def _reply(self, worker: _Worker, ask_id: int, what: str) -> None:
        try:
            value = await self._answer(what)
        except Exception as exc:  # noqa: BLE001 - the worker gets the error, not silence
            value = {"error": type(exc).__name__}
        if not worker.writer.is_closing():
            worker.writer.write(_encode(["answer", ask_id, value]))


class Handoffs:
    """The daemon's side of ``handoff``: the messages the workers stored leased to the
    dispatcher go to it; those a dead worker stored and did not hand over are
    adopted from the store."""

    def __init__(
        self,
        *,
        take: Callable[[list[Message]], object],
        adopt: Callable[[], Awaitable[int]],
        logger: Any,
    ) -> None:
        self._take = take
        self._adopt = adopt
        self._log = logger.bind(component="workers")
        self._tasks: set[asyncio.Future[None]] = set()

    def add(self, rows: list[list[Any]]) -> None:
        try:
            messages = [message_from(row) for row in rows]
        except (KeyError, IndexError, TypeError) as exc:  # their leases bring them back
            self._log.error("handoff_unread", messages=len(rows), error=repr(exc))
            return
        self._take(messages)

    def adopt(self) -> None:
        """A worker exited: what it stored and did not hand over is taken too."""
        self._spawn(self._adopt_now())

    async def _adopt_now(self) -> None:
        try:
            adopted = await self._adopt()
        except Exception as exc:  # noqa: BLE001 - their leases bring them back later
            self._log.error("messages_unadopted", error=repr(exc))
            return
        if adopted:
            self._log.info("messages_adopted", messages=adopted)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _OncePerTurn:
    """Calls ``fn`` once at the end of the event loop's turn, however often asked."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self._fn = fn
        self._due = False

    def __call__(self) -> None:
        if not self._due:
            self._due = True
            asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        self._due = False
        self._fn()


def _encode(item: list[Any]) -> bytes:
    return json.dumps(item, separators=(",", ":")).encode() + b"\n"


def _decode(line: bytes) -> list[Any] | None:
    try:
        item = json.loads(line)
    except ValueError:
        return None
    return item if isinstance(item, list) and item and isinstance(item[0], str) else None


# --- the worker's side -------------------------------------------------------------


class DaemonLink:
    """A worker's end of the socket pair: reports, asks, and the daemon's answers.

    It stands in for the daemon's metrics (the methods of ``RELAYED``), its
    dispatcher (:meth:`handoff`) and its /metrics, /readyz and /links
    (:meth:`metrics_text`, :meth:`readiness`, :meth:`links`).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.on_events: Callable[[], object] | None = None  # the daemon says: new outbox rows
        self.accepting = True  # the daemon's dispatcher takes handovers
        # new outbox rows written here: worker 0 publishes them (one line per loop turn)
        self.wake_events = _OncePerTurn(lambda: self.send(["events"]))
        # worker 0: the daemon's "record" requests (id, now, outcomes, receipts)
        self.on_record: Callable[[int, float, list[Any], list[Any]], object] | None = None
        self._ids = itertools.count(1)
        self._asked: dict[int, asyncio.Future[Any]] = {}

    def handoff(self, messages: Sequence[Message]) -> None:
        """Stored leased to the daemon's dispatcher: it takes them from here (as they
        were stored: no read of its own)."""
        rows = [message_row(m) for m in messages if m.state is MessageState.DISPATCHING]
        if rows:
            self.send(["handoff", rows])

    def send(self, item: list[Any]) -> None:
        if not self._writer.is_closing():
            self._writer.write(_encode(item))

    async def ask(self, what: str, *, timeout: float = 10.0) -> Any:
        ask_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._asked[ask_id] = future
        try:
            self.send(["ask", ask_id, what])
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._asked.pop(ask_id, None)

    async def read(self) -> None:
        """Take the daemon's lines until the socket closes (the daemon is gone)."""
        while line := await self._reader.readline():
            item = _decode(line)
            if item and item[0] == "answer" and len(item) == 3:
                future = self._asked.get(item[1])
                if future is not None and not future.done():
                    future.set_result(item[2])
            elif item and item[0] == "events" and self.on_events is not None:
                self.on_events()
            elif item and item[0] == "accepting" and len(item) == 2:
                self.accepting = bool(item[1])
            elif item and item[0] == "record" and len(item) == 5 and self.on_record:
                self.on_record(item[1], item[2], item[3], item[4])
        for future in self._asked.values():
            if not future.done():
                future.set_exception(ConnectionError("the daemon is gone"))

    # --- the daemon's metrics --------------------------------------------------------

    def _metric(self, name: str, **kwargs: Any) -> None:
        self.send(["metric", name, kwargs])

    def message_accepted(self, *, account: str, channel: str, count: int = 1) -> None:
        self._metric("message_accepted", account=account, channel=channel, count=count)

    def message_rejected(self, *, account: str, reason: str, count: int = 1) -> None:
        self._metric("message_rejected", account=account, reason=reason, count=count)

    def credit_low_crossed(self, *, account: str, count: int = 1) -> None:
        self._metric("credit_low_crossed", account=account, count=count)

    def message_finished(self, *, account: str, status: str, count: int = 1) -> None:
        self._metric("message_finished", account=account, status=status, count=count)

    def webhook_delivered(self, *, account: str) -> None:
        self._metric("webhook_delivered", account=account)

    def webhook_failed(self, *, account: str, final: bool) -> None:
        self._metric("webhook_failed", account=account, final=final)

    def set_mqtt_connected(self, *, broker: str, connected: bool) -> None:
        self._metric("set_mqtt_connected", broker=broker, connected=connected)

    def set_writer_stats(
        self,
        *,
        process: str,
        transactions: int,
        busy_seconds: float,
        lock_wait_seconds: float,
        commit_seconds: float,
        cpu_seconds: float = 0.0,
    ) -> None:
        self._metric(
            "set_writer_stats",
            process=process,
            transactions=transactions,
            busy_seconds=busy_seconds,
            lock_wait_seconds=lock_wait_seconds,
            commit_seconds=commit_seconds,
            cpu_seconds=cpu_seconds,
        )

    # --- the daemon's operations pages -----------------------------------------------

    async def metrics_text(self) -> bytes:
        text = await self.ask("metrics")
        if not isinstance(text, str):
            raise ConnectionError(f"the daemon could not give its metrics: {text}")
        return text.encode()

    async def links(self) -> list[dict[str, Any]]:
        links = await self.ask("links")
        if not isinstance(links, list):
            raise ConnectionError(f"the daemon could not give its links: {links}")
        return links

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        answer = await self.ask("ready")
        if not isinstance(answer, list) or len(answer) != 2:
            raise ConnectionError(f"the daemon could not say whether it is ready: {answer}")
        return bool(answer[0]), dict(answer[1])


async def run_worker(
    *, config_path: Path, fd: int, index: int, port: int, reuse_port: bool, logger: Any
) -> None:
    """One worker: serve until SIGTERM/SIGINT or until the daemon is gone."""
    # the same composition as the daemon's own process when it has no workers
    from gateway.config.daemon import daemon_settings  # noqa: PLC0415
    from gateway.config.file import load_config  # noqa: PLC0415
    from gateway.ingress.http import HttpServer, build_app  # noqa: PLC0415
    from gateway.ingress.pipeline import SendService  # noqa: PLC0415
    from gateway.runtime.daemon import (  # noqa: PLC0415 - a light module to import
        build_events,
        build_mqtt_ingress,
        tune_gc,
    )
    from gateway.store import open_store  # noqa: PLC0415
    from gateway.store.records import Lease  # noqa: PLC0415

    config = load_config(config_path)
    settings = daemon_settings(config)
    lease = Lease(worker=settings.worker, seconds=settings.lease)
    log = logger.bind(worker=index)
    reader, writer = await asyncio.open_connection(sock=socket.socket(fileno=fd), limit=LINE_LIMIT)
    daemon = DaemonLink(reader, writer)
    store = await open_store(
        config.store.url,
        base=config.base_dir,
        synchronous=config.store.synchronous,
        mqtt_outbox=config.mqtt_outbox,
        checkpoints="elsewhere",
    )  # the daemon's checkpointer copies the WAL
    try:
        send_service = SendService(
            store=store,
            log=log,
            national=settings.national,
            callbacks=settings.callbacks,
            on_crossing=lambda account: daemon.credit_low_crossed(account=account),
            lease=lambda: lease if daemon.accepting else None,
            on_stored=daemon.handoff,
        )
        events: EventPublisher | None = None
        mqtt: MqttBridge | None = None
        recorder: _Recorder | None = None
        mqtt_settings = worker_mqtt(settings, index)
        if index == 0:  # the outbox's one publisher, the one writer of outcomes
            events, mqtt = build_events(
                store=store,
                send_service=send_service,
                settings=settings,
                metrics=daemon,
                logger=log,
                mqtt_settings=mqtt_settings,
            )
            daemon.on_events = events.poke
            daemon.on_record = recorder = _Recorder(store, daemon, events)
        else:  # MQTT sends too, shared with the others; worker 0 publishes their events
            mqtt = build_mqtt_ingress(
                store=store,
                send_service=send_service,
                settings=mqtt_settings,
                metrics=daemon,
                logger=log,
                poke_events=daemon.wake_events,
            )
        http: HttpServer | None = None
        bound: int | None = None
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
            )
            http = HttpServer(app, logger=log, limits=settings.http.limits)
            bound = await http.start(settings.http.host, port, reuse_port=reuse_port)
        daemon.send(["started", bound])
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: None)  # the daemon reloads, not us
        async with asyncio.TaskGroup() as tg:
            reading = tg.create_task(daemon.read(), name="daemon-link")
            reading.add_done_callback(lambda _task: stop.set())
            tasks = [
                reading,
                tg.create_task(_report_writer(store, daemon, index), name="writer-stats"),
            ]
            if events is not None:
                tasks.append(tg.create_task(events.run(), name="events"))
            if mqtt is not None:
                tasks.append(tg.create_task(mqtt.run(), name="mqtt"))
            tune_gc()
            await stop.wait()
            if reading.done():
                log.warning("worker_orphaned", detail="the daemon is gone: stopping")
            if mqtt is not None:
                mqtt.stop()
            if http is not None:
                await http.stop()
            if recorder is not None and recorder.writing:
                # records being written: their answers go out before the socket closes
                await asyncio.wait(set(recorder.writing), timeout=5)
            if events is not None:
                await events.close(timeout=5)
            for task in tasks:
                task.cancel()
    finally:
        writer.close()
        await store.close()


def worker_mqtt(settings: DaemonSettings, index: int) -> MqttSettings | None:
    """Worker ``index``'s MQTT session: with several workers, each takes a share of the
    sends (a shared subscription) under a client id of its own (worker 0 keeps the
    configured one, and its persistent session)."""
    from gateway.events.mqtt_bridge import SHARED_GROUP  # noqa: PLC0415 (paho: only where MQTT runs)

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

    def __call__(
        self, record_id: int, now: float, outcomes: list[Any], receipts: list[Any]
    ) -> None:
        task = asyncio.get_running_loop().create_task(
            self._write(record_id, now, outcomes, receipts), name="record"
        )
        self.writing.add(task)
        task.add_done_callback(self.writing.discard)

    async def _write(
        self, record_id: int, now: float, outcomes: list[Any], receipts: list[Any]
    ) -> None:
        try:
            changes = await self._store.record(
                [outcome_from(o) for o in outcomes], [receipt_from(r) for r in receipts], now=now
            )
        except Exception as exc:  # noqa: BLE001 - the daemon gets the error and retries
            self._daemon.send(["recorded", record_id, None, repr(exc)])
            return
        self._daemon.send(["recorded", record_id, changes_list(changes), None])
        self._events.poke()


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
    from gateway.ops.logs import configure_logging, get_logger  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog="python -m gateway.runtime.workers",
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
        from gateway.config.daemon import daemon_settings  # noqa: PLC0415
        from gateway.config.file import load_config  # noqa: PLC0415

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
