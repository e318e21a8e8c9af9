"""A GSM modem on a serial port as a :class:`gateway.link.interface.Link`.

``run()`` opens the port, initialises the modem (:mod:`drivers.modem.link.startup`)
and then polls signal and registration, reads stored messages and handles
unsolicited codes until ``stop()``. A modem that stops answering is
re-initialised, then the port is reopened, then the link is marked down
(``bound`` False: submits get ``Retry("link_down")`` at once, so the router
uses another link) while reopening goes on with backoff. A segment whose
AT+CMGS got no answer resolves as ``Retry("timeout")``: never as a success.

Sending is one coroutine per segment (AT+CMGS, then its answer), run by a
:class:`gateway.link.submit_tasks.SubmitTasks`: ``room``, ``wait_room`` and
``send`` are its, one segment at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import serial
import structlog

from drivers.modem.link.config import ModemLinkConfig
from drivers.modem.link.inbound import InboundHandling
from drivers.modem.link.port import AtPort, ModemTimeout, PortClosed, info_value
from drivers.modem.link.startup import InitFailed, PinRefused, initialise
from drivers.modem.protocol.at import Command, Response, Unsolicited
from drivers.modem.protocol.status import ErrorKind, classify_cme, classify_cms
from drivers.modem.protocol.tpdu import build_submit
from drivers.modem.protocol.tracking import ReceiptMatcher, TokenBucket
from gateway.link.interface import LinkHandler, LinkHealth, OutcomeCallback, SubmitRequest
from gateway.link.submit_tasks import SubmitTasks
from gateway.model.outcomes import Accepted, Outcome, Rejected, Retry

Sleep = Callable[[float], Awaitable[None]]
WINDOW = 1  # segments sent at once: one AT+CMGS at a time


class ModemLink:
    """One modem; several modems are several links."""

    def __init__(
        self,
        *,
        config: ModemLinkConfig,
        handler: LinkHandler,
        logger: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        retry_delay: float = 1.0,
        backoff: tuple[float, float] = (1.0, 60.0),
    ) -> None:
        self._config = config
        self._handler = handler
        self._log = (logger or structlog.get_logger("smsgw.modem")).bind(link=config.name)
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._retry_delay = retry_delay
        self._backoff = backoff
        self._port: AtPort | None = None
        self._bound = False
        self._pin_refused = False
        self._detail = "not started"
        self._stopping = asyncio.Event()
        self._trouble = asyncio.Event()
        self._submit_lock = asyncio.Lock()
        self._sends = SubmitTasks(self._send_one, window=WINDOW, logger=self._log)
        self._bucket = TokenBucket(per_minute=config.rate, burst=config.burst)
        self._matcher = ReceiptMatcher(window=config.receipt_window)
        self._boot = int(wall())
        self._seq = 0
        self._counters: Counter[str] = Counter()
        self._gauges: dict[str, float] = {}
        self._inbound = InboundHandling(
            link=config.name,
            handler=handler,
            matcher=self._matcher,
            log=self._log,
            clock=clock,
            wall=wall,
            counters=self._counters,
            own_number=config.number,
            command_timeout=config.command_timeout,
        )

    # --- Link properties -----------------------------------------------------------

    @property
    def name(self) -> str:
        return self._config.name

    @property
    def concat(self) -> str:
        return self._config.concat

    @property
    def packed(self) -> bool:
        return True

    @property
    def bound(self) -> bool:
        return self._bound

    def health(self) -> LinkHealth:
        port = self._port
        return LinkHealth(
            name=self.name,
            driver="modem",
            up=port is not None and not port.closed,
            bound=self._bound,
            in_flight=1 if port is not None and port.in_flight else 0,
            window=WINDOW,
            detail=self._detail,
            counters=dict(self._counters),
            gauges=dict(self._gauges),
        )

    # --- running -------------------------------------------------------------------

    async def run(self) -> None:
        delay = self._backoff[0]
        reopen_now = False
        while not self._stopping.is_set():
            try:
                await self._open()
                await self._setup()
                delay = self._backoff[0]
                reopen_now = await self._serve()
            except PinRefused as exc:
                self._mark_down(str(exc))
                self._log.error("sim_pin_refused", detail=str(exc))
                self._close()
                await self._stopping.wait()  # never retry a PIN: the SIM locks after three
                break
            except (ModemTimeout, PortClosed, InitFailed, OSError, serial.SerialException) as exc:
                self._mark_down(str(exc))
                self._log.warning("modem_link_down", error=str(exc))
                reopen_now = False
            finally:
                self._bound = False
                self._close()
            if self._stopping.is_set():
                break
            if reopen_now:
                self._counters["reopens"] += 1
                self._log.warning("modem_port_reopening")
                continue
            await self._wait_any([self._stopping.wait()], timeout=delay)
            delay = min(delay * 2, self._backoff[1])

    async def stop(self, *, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._bound = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                async with self._submit_lock:
                    pass
        self._close()
        self._detail = "stopped"

    def _mark_down(self, detail: str) -> None:
        self._bound = False
        self._detail = detail

    def _close(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None

    async def _open(self) -> None:
        self._port = await AtPort.open(
            self._config.device, baudrate=self._config.baudrate, on_urc=self._on_urc
        )
        self._log.info("modem_port_opened", device=self._config.device)

    async def _setup(self) -> None:
        port = self._require_port()
        self._detail = "initialising"
        result = await initialise(
            port=port,
            config=self._config,
            sleep=self._sleep,
            retry_delay=self._retry_delay,
            clock=self._clock,
            log=self._log,
        )
        self._inbound.phase2plus = result.phase2plus
        self._gauges.update(result.gauges)
        await self._inbound.read_stored(port)
        self._bound = True
        self._detail = "ready"
        self._log.info("modem_bound", cnmi=result.cnmi)

    def _require_port(self) -> AtPort:
        if self._port is None or self._port.closed:
            raise PortClosed("serial port closed")
        return self._port

    async def _serve(self) -> bool:
        """Poll and handle URCs until stop (False) or until the port must be reopened (True)."""
        port = self._require_port()
        worker = asyncio.create_task(self._inbound.work(port, self._trouble), name="modem-urcs")
        failures = 0
        try:
            while not self._stopping.is_set():
                await self._wait_any(
                    [self._trouble.wait(), self._stopping.wait(), port.wait_closed()],
                    timeout=self._config.poll_interval,
                )
                if self._stopping.is_set():
                    return False
                if port.closed:
                    raise PortClosed("serial port closed")
                if self._trouble.is_set():
                    self._trouble.clear()
                    if await self._reinitialise(port):
                        failures = 0
                        continue
                    failures += 1
                    if failures >= self._config.reopen_after:
                        return True
                    self._trouble.set()
                    continue
                await self._poll(port)
            return False
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _reinitialise(self, port: AtPort) -> bool:
        self._bound = False
        self._counters["reinits"] += 1
        self._detail = "modem not answering; re-initialising"
        self._log.warning("modem_reinitialising")
        if not await port.resync(timeout=self._config.command_timeout):
            return False
        try:
            await self._setup()
        except (ModemTimeout, InitFailed):
            return False
        return True

    async def _poll(self, port: AtPort) -> None:
        timeout = self._config.command_timeout
        try:
            csq = await port.command(Command(line="AT+CSQ", expect=("+CSQ",), timeout=timeout))
            self._record_csq(csq)
            creg = await port.command(Command(line="AT+CREG?", expect=("+CREG",), timeout=timeout))
            self._record_creg(creg)
        except ModemTimeout:
            self._counters["timeouts"] += 1
            self._trouble.set()
            return
        self._inbound.request_listing()

    def _record_csq(self, response: Response) -> None:
        for line in response.lines:
            if line.startswith("+CSQ"):
                rssi = info_value(line).split(",")[0].strip()
                if rssi.isdigit() and int(rssi) != 99:
                    self._gauges["signal_dbm"] = -113.0 + 2 * int(rssi)
                else:
                    self._gauges.pop("signal_dbm", None)

    def _record_creg(self, response: Response) -> None:
        for line in response.lines:
            if line.startswith("+CREG"):
                fields = info_value(line).split(",")
                stat = fields[1] if len(fields) > 1 else fields[0]
                self._gauges["registered"] = 1.0 if stat.strip() in ("1", "5") else 0.0

    def _on_urc(self, urc: Unsolicited) -> None:
        if urc.name == "+CREG":
            stat = urc.value.split(",")[0].strip()
            self._gauges["registered"] = 1.0 if stat in ("1", "5") else 0.0
        elif urc.name in ("^RSSI", "+CSQN"):
            rssi = urc.value.split(",")[0].strip()
            if rssi.isdigit() and int(rssi) != 99:
                self._gauges["signal_dbm"] = -113.0 + 2 * int(rssi)
        self._inbound.on_urc(urc)

    async def _wait_any(
        self, waits: list[Coroutine[Any, Any, Any]], *, timeout: float | None
    ) -> None:
        tasks = [asyncio.ensure_future(w) for w in waits]
        try:
            await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()

    # --- sending -------------------------------------------------------------------

    def room(self) -> int:
        return self._sends.room()

    async def wait_room(self) -> None:
        await self._sends.wait_room()

    def send(self, request: SubmitRequest, done: OutcomeCallback) -> None:
        """Send one segment (``request.source`` is ignored: a modem sends as its SIM);
        ``done(outcome)`` once it is answered."""
        self._sends.send(request, done)

    async def _send_one(self, request: SubmitRequest) -> Outcome:
        """AT+CMGS one segment and wait for its answer."""
        self._counters["submitted"] += 1
        if not self._bound:
            return self._retry("link_down", delay=self._backoff[0])
        async with self._submit_lock:
            while (wait := self._bucket.delay(self._clock())) > 0:
                await self._sleep(wait)
            port = self._port
            if not self._bound or port is None or port.closed:
                return self._retry("link_down", delay=self._backoff[0])
            self._bucket.take(self._clock())
            segment = request.segment
            try:
                pdu = build_submit(
                    destination=request.destination,
                    data_coding=segment.data_coding,
                    udh=segment.udh,
                    payload=segment.payload,
                    udl=segment.udl,
                    validity=request.validity,
                    want_receipt=request.want_receipt,
                    smsc=self._config.smsc,
                )
            except ValueError as exc:
                self._counters["rejected"] += 1
                self._log.warning("segment_refused", msg_id=request.message_id, error=str(exc))
                return Rejected(reason="invalid_pdu")
            command = Command(
                line=f"AT+CMGS={pdu.tpdu_length}",
                expect=("+CMGS",),
                prompt=True,
                timeout=self._config.command_timeout,
            )
            try:
                response = await port.send_with_data(
                    command, pdu.hex, timeout=self._config.send_timeout
                )
            except ModemTimeout as exc:
                self._counters["timeouts"] += 1
                self._bound = False
                self._trouble.set()
                self._log.warning(
                    "segment_send_timed_out",
                    msg_id=request.message_id,
                    seq=request.index,
                    prompted=exc.prompted,
                )
                return self._retry("timeout", delay=self._backoff[0])
            except PortClosed:
                return self._retry("link_down", delay=self._backoff[0])
            return self._outcome(request, response)

    def _retry(self, reason: str, *, status: int | None = None, delay: float = 0.0) -> Retry:
        self._counters["retried"] += 1
        return Retry(reason=reason, status=status, delay=delay)

    def _outcome(self, request: SubmitRequest, response: Response) -> Outcome:
        error = response.error
        if error is None:
            reference = next(
                (info_value(line) for line in response.lines if line.startswith("+CMGS")), "?"
            ).split(",")[0]
            self._seq += 1
            smsc_id = f"{reference}:{request.destination}:{self._boot}-{self._seq}"
            if request.want_receipt and reference.isdigit():
                for early in self._matcher.remember(
                    reference=int(reference),
                    destination=request.destination,
                    smsc_id=smsc_id,
                    now=self._clock(),
                ):
                    self._inbound.replay(early)
            self._counters["accepted"] += 1
            self._log.debug("segment_accepted", msg_id=request.message_id, smsc_id=smsc_id)
            return Accepted(smsc_id=smsc_id)
        code = error.code
        if error.kind == "CMS" and code is not None:
            kind = classify_cms(code)
        elif error.kind == "CME" and code is not None:
            kind = classify_cme(code)
        else:
            kind = ErrorKind.RETRY
        self._log.info(
            "segment_refused", msg_id=request.message_id, error=error.name, kind=kind.value
        )
        if kind is ErrorKind.PERMANENT:
            self._counters["rejected"] += 1
            return Rejected(reason=error.name, status=code)
        if kind is ErrorKind.LINK_DOWN:
            self._bound = False
            self._trouble.set()
            return self._retry("link_down", status=code, delay=self._backoff[0])
        return self._retry(error.name, status=code, delay=self._retry_delay)
