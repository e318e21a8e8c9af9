"""Worker processes (``[workers] count = N``): ingest and events beside the daemon.

With ``count = 0`` everything runs in the daemon's process and shares one CPU
core (one Python interpreter). With N >= 1 the daemon starts N processes
(``python -m gateway.runtime.worker``), so that taking messages in, publishing
events and writing outcomes run on other cores than sending:

- every worker serves the HTTP API on ``[http] listen`` (with SO_REUSEPORT
  when N > 1, the kernel spreads connections over them) and takes MQTT sends
  (``[mqtt]``; with N > 1 a shared subscription, one session per worker:
  :func:`worker_mqtt`);
- worker 0 also publishes the outbox (status, inbound and rejected events over
  MQTT, and webhooks) and writes the dispatcher's outcomes and the links'
  receipts (``record`` below; the daemon writes them itself while worker 0 is
  not running).

Worker 0 writes the outcomes and receipts rather than the daemon's own store
writer: one process then writes to SQLite (no two writers taking the write
lock in turn), and the writer's Python work no longer competes with the links
and the dispatcher for the daemon's interpreter lock, which stretched every
transaction (and the lock's hold) to several times its own CPU time.

Workers store what they accept themselves: SQLite in WAL mode takes writers
from several processes, one transaction at a time, as it does for ``smsgw``
commands run beside the daemon.

This module is the daemon's side (:class:`WorkerPool`, :class:`Handoffs`);
gateway.runtime.worker is a worker's, gateway.runtime.wire the records
between them (typed, versioned: a worker of another smsgw version is refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.link.interface import Receipt
from gateway.model.errors import ConfigError, StoreError
from gateway.model.records import Message, OutcomeRecord, QueueChanges
from gateway.ops.metrics import Metrics
from gateway.runtime.wire import (
    LINE_LIMIT,
    Accepting,
    Answer,
    Ask,
    Events,
    FromDaemon,
    FromWorker,
    Handoff,
    Hello,
    Metric,
    OncePerTurn,
    Question,
    Record,
    Recorded,
    Welcome,
    WireError,
    WireVersionError,
    decode_from_worker,
    encode,
    read_hello,
)

# how long the daemon waits for a new worker to serve before it gives up
START_TIMEOUT = 30.0
# a worker that exits on its own is started again after this delay (seconds),
# doubled after each start that fails, up to RESTART_MAX
RESTART_DELAY = 1.0
RESTART_MAX = 30.0

AnswerFn = Callable[[Question], Awaitable[Any]]
# the program a worker runs (its arguments follow)
WORKER_PROGRAM: tuple[str, ...] = (sys.executable, "-m", "gateway.runtime.worker")


class WorkerExited(ConfigError):
    """A worker exited before it was serving (bad address, port taken...)."""


class WorkerRefused(WorkerExited):
    """A worker of another smsgw or wire version (installed under a running daemon)."""


class WorkerGone(Exception):
    """Worker 0 is not running right now: the daemon writes what it would have."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    config: Path  # the daemon's configuration file: the worker reads it too
    count: int
    host: str | None  # [http] listen; None without [http]
    port: int
    log_level: str | None = None
    program: tuple[str, ...] = WORKER_PROGRAM


@dataclass(slots=True)
class _Worker:
    index: int
    proc: asyncio.subprocess.Process
    writer: asyncio.StreamWriter
    reader: asyncio.StreamReader


class WorkerPool:
    """The daemon's side: starts the workers, serves their requests, restarts them.

    ``on_handoff`` takes the messages a worker stored leased to the
    dispatcher;
    ``on_exit`` runs when a worker exits on its own (what it stored but did not
    hand over is adopted); ``metrics`` counts what the workers report;
    ``answer`` gives the value of an ``ask`` ("metrics", "ready", "links").
    """

    def __init__(
        self,
        *,
        settings: WorkerSettings,
        on_handoff: Callable[[Sequence[Message]], object],
        on_exit: Callable[[], object],
        metrics: Metrics,
        answer: AnswerFn,
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
        self.wake_events = OncePerTurn(self._send_events)
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
            _send(worker, Accepting(accepting=accepting))

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
            _send(
                worker,
                Record(id=record_id, now=now, outcomes=tuple(outcomes), receipts=tuple(receipts)),
            )
            return await answer
        finally:
            self._recording.pop(record_id, None)

    def _recorded(self, recorded: Recorded) -> None:
        answer = self._recording.get(recorded.id)
        if answer is None or answer.done():
            return
        if recorded.error is not None:
            answer.set_exception(StoreError(f"worker 0 could not record: {recorded.error}"))
        else:
            answer.set_result(recorded.changes())

    def _send_events(self) -> None:
        worker = self._workers.get(0)
        if worker is not None:
            _send(worker, Events())

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
                event = (
                    "worker_refused" if isinstance(exc, WorkerRefused) else "worker_start_failed"
                )
                self._log.error(event, worker=index, error=str(exc), retry_in=delay)

    async def _spawn(self, index: int, port: int) -> int | None:
        ours, theirs = socket.socketpair()
        args = [
            *self._s.program,
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
                hello = read_hello(await reader.readline())
        except (TimeoutError, WireError, ValueError) as exc:
            status = await _reap(worker)
            if isinstance(exc, WireVersionError):
                msg = f"worker {index} refused: {exc} (restart the daemon after an upgrade)"
                raise WorkerRefused(msg) from None
            where = f" on {self._s.host}:{port}" if self._s.host is not None else ""
            msg = (
                f"worker {index} exited with status {status} before serving{where} "
                f"(see its log lines above)"
            )
            raise WorkerExited(msg) from None
        self._workers[index] = worker
        _send(worker, Welcome())
        if not self._accepting():
            _send(worker, Accepting(accepting=False))
        task = asyncio.create_task(self._serve(worker), name=f"worker-{index}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._log.info("worker_started", worker=index, pid=proc.pid, port=hello.port)
        return hello.port

    async def _serve(self, worker: _Worker) -> None:
        """Read what one worker sends until its socket closes; a line that is not one
        of the wire's messages is refused (one log line), the next ones are read."""
        while True:
            try:
                line = await worker.reader.readline()
            except ValueError:  # longer than LINE_LIMIT: dropped from the buffer
                self._log.error("worker_line_refused", worker=worker.index, error="line too long")
                continue
            if not line:
                return
            try:
                message = decode_from_worker(line)
            except WireError as exc:
                self._log.error(
                    "worker_line_refused", worker=worker.index, error=str(exc), line=line[:80]
                )
                continue
            try:
                self._handle(worker, message)
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the reading
                self._log.error(
                    "worker_line_failed",
                    worker=worker.index,
                    line=line[:80],
                    error=repr(exc),
                    exc_info=exc,
                )

    def _handle(self, worker: _Worker, message: FromWorker) -> None:
        match message:
            case Recorded():
                self._recorded(message)
            case Events():
                self.wake_events()  # another worker stored events: worker 0 publishes
            case Handoff(messages=messages):
                self._on_handoff(messages)
            case Metric(name=name, values=values):
                getattr(self._metrics, name)(**values)
            case Ask(id=ask_id, what=what):
                task = asyncio.create_task(self._reply(worker, ask_id, what))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            case Hello():
                self._log.warning("worker_line_refused", worker=worker.index, error="hello again")

    async def _reply(self, worker: _Worker, ask_id: int, what: Question) -> None:
        try:
            answer = Answer(id=ask_id, value=await self._answer(what))
        except Exception as exc:  # noqa: BLE001 - the worker gets the error, not silence
            answer = Answer(id=ask_id, error=type(exc).__name__)
        _send(worker, answer)


def _send(worker: _Worker, message: FromDaemon) -> None:
    if not worker.writer.is_closing():
        worker.writer.write(encode(message))


async def _reap(worker: _Worker) -> int:
    """A worker that will not serve: close its socket, wait (bounded) for its exit."""
    worker.writer.close()
    try:
        async with asyncio.timeout(5):
            return await worker.proc.wait()  # it closed its end on its way out
    except TimeoutError:
        worker.proc.kill()
        return await worker.proc.wait()


class Handoffs:
    """The messages a dead worker stored leased to the dispatcher and did not hand
    over (a ``handoff`` goes straight to the dispatcher): adopted from the store."""

    def __init__(self, *, adopt: Callable[[], Awaitable[int]], logger: Any) -> None:
        self._adopt = adopt
        self._log = logger.bind(component="workers")
        self._tasks: set[asyncio.Future[None]] = set()

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
