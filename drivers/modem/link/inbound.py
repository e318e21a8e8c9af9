"""What a modem receives: MO messages and status reports, handed over before they are let go.

A stored message (+CMTI, or found by AT+CMGL) is read with AT+CMGR, given to
the handler, and deleted with AT+CMGD only after the handler returned. A
routed one (+CMT/+CDS) is acknowledged with AT+CNMA (when the modem runs
phase 2+, AT+CSMS service 1) only after the handler returned; otherwise the
network sends it again. One worker does all of it, so a message is never
handled twice concurrently.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from typing import Any

from drivers.modem.link.port import AtPort, ModemTimeout, PortClosed, info_value, parse_fields
from drivers.modem.protocol.at import Command, Unsolicited
from drivers.modem.protocol.status import receipt_state
from drivers.modem.protocol.tpdu import Deliver, PduError, StatusReport, decode_incoming
from drivers.modem.protocol.tracking import ReceiptMatcher
from gateway.link.interface import InboundPart, LinkHandler, Receipt, stored
from gateway.model.outcomes import ReceiptState

_QUEUED_URCS = frozenset({"+CMTI", "+CDSI", "+CMT", "+CDS"})


class InboundHandling:
    """The receive side of one modem link."""

    def __init__(
        self,
        *,
        link: str,
        handler: LinkHandler,
        matcher: ReceiptMatcher,
        log: Any,
        clock: Callable[[], float],
        wall: Callable[[], float],
        counters: Counter[str],
        own_number: str = "",
        command_timeout: float = 5.0,
    ) -> None:
        self._link = link
        self._handler = handler
        self._matcher = matcher
        self._log = log
        self._clock = clock
        self._wall = wall
        self._counters = counters
        self._own_number = own_number
        self._timeout = command_timeout
        self._queue: asyncio.Queue[Unsolicited | StatusReport | None] = asyncio.Queue()
        self._listing_queued = False
        self._lock = asyncio.Lock()
        self._bad: set[int] = set()  # stored indexes whose PDU does not decode
        self.phase2plus = False

    def on_urc(self, urc: Unsolicited) -> None:
        """Called by the port as soon as a URC is parsed (never blocks)."""
        if urc.name in _QUEUED_URCS:
            self._queue.put_nowait(urc)
        else:
            self._log.debug("modem_urc_received", urc=urc.name)

    def request_listing(self) -> None:
        """Read storage on the next turn (the poll's safety net for missed +CMTI)."""
        if not self._listing_queued:
            self._listing_queued = True
            self._queue.put_nowait(None)

    def replay(self, report: StatusReport) -> None:
        """Hand over a report that overtook its send, now that the send is recorded."""
        self._queue.put_nowait(report)

    async def work(self, port: AtPort, trouble: asyncio.Event) -> None:
        while True:
            item = await self._queue.get()
            try:
                if isinstance(item, StatusReport):
                    await self._replayed(item)
                elif item is None:
                    self._listing_queued = False
                    await self.read_stored(port)
                else:
                    await self._handle(port, item)
            except ModemTimeout:
                self._counters["timeouts"] += 1
                trouble.set()
            except PortClosed:
                return

    def _cmd(self, line: str, *expect: str) -> Command:
        return Command(line=line, expect=expect, timeout=self._timeout)

    async def read_stored(self, port: AtPort) -> None:
        """Every message in storage (AT+CMGL=4: all, PDU mode), oldest first."""
        async with self._lock:
            listing = await port.command(self._cmd("AT+CMGL=4", "+CMGL"))
            if not listing.ok:
                return
            lines = list(listing.lines)
            entries: list[tuple[int, str]] = []
            for header, pdu in itertools.pairwise(lines):
                if header.startswith("+CMGL"):
                    fields = parse_fields(info_value(header))
                    # stat 0/1: received (unread/read); 2/3 are stored outgoing messages
                    if fields[0].isdigit() and fields[1:2] in (["0"], ["1"]):
                        entries.append((int(fields[0]), pdu))
            for index, pdu in entries:
                await self._stored(port, index, pdu)

    async def _handle(self, port: AtPort, urc: Unsolicited) -> None:
        if urc.name in ("+CMTI", "+CDSI"):
            fields = parse_fields(urc.value)
            if len(fields) >= 2 and fields[-1].isdigit():
                async with self._lock:
                    await self._read_one(port, int(fields[-1]))
            return
        if urc.pdu is None:
            return
        try:
            message = decode_incoming(bytes.fromhex(urc.pdu))
        except (ValueError, PduError) as exc:
            self._counters["undecodable"] += 1
            self._log.error("modem_pdu_undecodable", urc=urc.name, error=str(exc), pdu=urc.pdu)
            return
        try:
            await self._hand_over(message)
        except Exception as exc:  # noqa: BLE001 - the handler refused: no ack, the network resends
            self._log.warning("inbound_handler_failed", urc=urc.name, error=repr(exc))
            return
        if self.phase2plus:
            await port.command(self._cmd("AT+CNMA"))

    async def _replayed(self, report: StatusReport) -> None:
        try:
            await self._hand_over(report)
        except Exception as exc:  # noqa: BLE001 - already acknowledged to the modem: log it
            self._counters["receipts_lost"] += 1
            self._log.error("status_report_lost", reference=report.reference, error=repr(exc))

    async def _read_one(self, port: AtPort, index: int) -> None:
        response = await port.command(self._cmd(f"AT+CMGR={index}", "+CMGR"))
        if not response.ok or len(response.lines) < 2:
            return  # already deleted (+CMS ERROR: 321) or empty
        await self._stored(port, index, response.lines[1])

    async def _stored(self, port: AtPort, index: int, pdu: str) -> None:
        if index in self._bad:
            return
        try:
            message = decode_incoming(bytes.fromhex(pdu))
        except (ValueError, PduError) as exc:
            # kept in storage for a human to look at; not read again by this process
            self._bad.add(index)
            self._counters["undecodable"] += 1
            self._log.error("modem_pdu_undecodable", index=index, error=str(exc), pdu=pdu)
            return
        try:
            await self._hand_over(message)
        except Exception as exc:  # noqa: BLE001 - the handler refused: keep it stored, retry later
            self._log.warning("inbound_handler_failed", index=index, error=repr(exc))
            return
        await port.command(self._cmd(f"AT+CMGD={index}"))

    async def _hand_over(self, message: Deliver | StatusReport) -> None:
        if isinstance(message, Deliver):
            part = InboundPart(
                link=self._link,
                source=message.originator,
                destination=self._own_number,
                data_coding=message.data_coding,
                payload=message.payload,
                concat=message.concat,
                received_at=self._wall(),
                smsc_timestamp=message.scts,
            )
            await self._handler.on_inbound(part)
            self._counters["inbound"] += 1
            self._log.info(
                "inbound_part_received",
                source_tail=message.originator[-4:],
                concat=message.concat is not None,
            )
            return
        state = receipt_state(message.status)
        smsc_id = self._matcher.match(
            reference=message.reference,
            recipient=message.recipient,
            now=self._clock(),
            final=state.final,
        )
        if smsc_id is None:
            # no send matches (yet): it may have overtaken its +CMGS answer
            self._matcher.hold(message, now=self._clock())
            self._counters["receipts_held"] += 1
            self._log.info("status_report_held", reference=message.reference, status=message.status)
            return
        receipt = Receipt(
            link=self._link,
            smsc_id=smsc_id,
            state=state,
            error=None if state is ReceiptState.DELIVERED else f"TP-ST 0x{message.status:02X}",
            done_at=message.discharge,
            destination=message.recipient,
        )
        await stored(self._handler, receipt)
        self._counters["receipts"] += 1
