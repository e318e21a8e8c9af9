"""The SMSC side of one simulated connection, sans-IO: bytes and ``now`` in, bytes out.

What it does with each PDU is decided by :class:`SimConfig` and a seeded
``random.Random`` (throttling, garbage, receipts that fail), so a test can
reproduce a run. Delayed answers and receipts are timers kept as data
(:meth:`SmscSession.get_timer` / :meth:`SmscSession.handle_timer`). Receipts
are built by :mod:`drivers.smpp.simulator.receipts`.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator
from typing import Any

from drivers.smpp.protocol import status as st
from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.decode import CommandLengthError, FrameSplitter, MalformedPdu, decode
from drivers.smpp.protocol.pdu import (
    BIND_COMMANDS,
    HEADER,
    Bind,
    BindResp,
    CommandId,
    DataSm,
    Pdu,
    ShortMessage,
    encode,
    encode_bare,
    encode_message_resp,
)
from drivers.smpp.simulator.config import BROKEN_ID_FORMS, SimConfig, message_id_text
from drivers.smpp.simulator.receipts import receipt_deliver_sm
from gateway.model.outcomes import ReceiptState

__all__ = ["REDELIVER_DELAY", "SmscSession"]

REDELIVER_DELAY = 0.2  # seconds before a refused deliver_sm is sent again


class SmscSession:
    """One ESME connection as the SMSC sees it."""

    def __init__(
        self,
        *,
        config: SimConfig,
        ids: Iterator[int],
        rng: random.Random,
        wall_offset: float = 0.0,
    ) -> None:
        self.config = config
        self._ids = ids
        self._rng = rng
        self._wall_offset = wall_offset
        self._frames = FrameSplitter()
        self._out: list[bytes] = []
        self._timers: list[tuple[float, int, bytes]] = []
        self._tiebreak = itertools.count()
        self._seq = 0
        self.bound_as: CommandId | None = None
        self.system_id = ""
        self.submits = 0
        self.close_requested = False
        self.silent = False  # answers nothing any more (silent_after)
        self.records: list[dict[str, Any]] = []
        self._delivers: dict[int, bytes] = {}  # deliver_sm awaiting their resp
        # receipts for another bind to send (config.receipts_elsewhere), taken by the server
        self.elsewhere: list[bytes] = []
        self._burst = max(1.0, config.max_rate / 10)  # max_rate's token bucket
        self._tokens = self._burst
        self._tokens_at: float | None = None
        self._unbind_seq = -1

    # --- output --------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        out = self._out
        if not out:
            return b""
        data = b"".join(out)
        out.clear()
        return data

    def get_timer(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def handle_timer(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, data = heapq.heappop(timers)
            self._out.append(data)

    def _later(self, now: float, delay: float, data: bytes) -> None:
        if delay <= 0:
            self._out.append(data)
        else:
            heapq.heappush(self._timers, (now + delay, next(self._tiebreak), data))

    def _next_seq(self) -> int:
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    @property
    def can_deliver(self) -> bool:
        return self.bound_as in (CommandId.BIND_RECEIVER, CommandId.BIND_TRANSCEIVER)

    # --- actions from the operator / tests -------------------------------------------

    def deliver(self, now: float, pdu: ShortMessage) -> int:
        """Send a deliver_sm built by the caller (sequence filled in); its sequence."""
        seq = self._next_seq()
        data = encode(pdu._replace(sequence=seq, command_id=CommandId.DELIVER_SM))
        self._delivers[seq] = data
        self._out.append(data)
        return seq

    def unacknowledged(self) -> list[bytes]:
        """The deliver_sm sent and not acknowledged (taken: the connection is gone)."""
        pending = list(self._delivers.values())
        self._delivers.clear()
        return pending

    def redeliver(self, data: bytes) -> None:
        """Send again a deliver_sm that another connection lost, under a new sequence."""
        seq = self._next_seq()
        again = HEADER.pack(*HEADER.unpack_from(data)[:3], seq) + data[HEADER.size :]
        self._delivers[seq] = again
        self._out.append(again)

    def unbind(self) -> None:
        """The SMSC asks the ESME to unbind."""
        self._unbind_seq = self._next_seq()
        self._out.append(encode_bare(CommandId.UNBIND, self._unbind_seq))

    # --- input -----------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        try:
            frames = self._frames.feed(data)
        except CommandLengthError as exc:
            self._record({"event": "garbage", "detail": str(exc)})
            self._out.append(encode_bare(CommandId.GENERIC_NACK, 0, st.ESME_RINVCMDLEN))
            self.close_requested = True
            return
        for frame in frames:
            if self.close_requested:
                return
            self._frame(frame, now)

    def _record(self, record: dict[str, Any]) -> None:
        if self.config.record:
            self.records.append(record)

    def _frame(self, frame: bytes, now: float) -> None:
        _, command_id, status, seq = HEADER.unpack_from(frame)
        if self._ignored(command_id, seq):
            return
        try:
            pdu = decode(frame)
        except MalformedPdu as exc:
            self._record({"event": "malformed", "detail": str(exc)})
            if not command_id & 0x80000000:
                self._out.append(encode_bare(CommandId.GENERIC_NACK, seq, exc.status))
            return
        self._answer(pdu, status, seq, now)

    def _ignored(self, command_id: int, seq: int) -> bool:
        """Whether the SMSC is hung (from its ``silent_after``-th submit_sm on):
        then the PDU is only recorded."""
        if not self.silent and command_id == CommandId.SUBMIT_SM:
            after = self.config.silent_after
            if after is not None and self.submits + 1 >= after:
                self.silent = True  # a hung SMSC: nothing leaves any more, not even pending
                self._timers.clear()
                self._out.clear()
        if self.silent:
            if command_id == CommandId.SUBMIT_SM:
                self.submits += 1
            self._record({"event": "ignored", "command_id": command_id, "seq": seq})
            return True
        return False

    def _answer(self, pdu: Pdu, status: int, seq: int, now: float) -> None:
        """Act on one well-formed PDU (``status`` and ``seq`` from its header)."""
        cid = pdu.command_id
        if cid is CommandId.SUBMIT_SM:
            assert isinstance(pdu, ShortMessage)  # noqa: S101 - narrowed by command_id
            self._submit(pdu, now)
        elif cid in BIND_COMMANDS:
            assert isinstance(pdu, Bind)  # noqa: S101 - narrowed by command_id
            self._bind(pdu)
        elif cid is CommandId.ENQUIRE_LINK:
            self._out.append(encode_bare(CommandId.ENQUIRE_LINK_RESP, seq))
        elif cid is CommandId.UNBIND:
            self._record({"event": "unbind", "seq": seq})
            self._out.append(encode_bare(CommandId.UNBIND_RESP, seq))
            self.close_requested = True
        elif cid is CommandId.UNBIND_RESP and seq == self._unbind_seq:
            self._record({"event": "unbind_resp", "seq": seq})
            self.close_requested = True
        elif cid is CommandId.DELIVER_SM_RESP or cid is CommandId.DATA_SM_RESP:
            self._deliver_resp(seq, status, now)
        elif cid is CommandId.GENERIC_NACK:
            self._record({"event": "generic_nack", "seq": seq, "status": st.status_name(status)})
        elif cid is CommandId.DATA_SM:
            assert isinstance(pdu, DataSm)  # noqa: S101 - narrowed by command_id
            self._out.append(encode_message_resp(CommandId.DATA_SM_RESP, seq, 0, self._new_id()))
        else:
            self._out.append(encode_bare(CommandId.GENERIC_NACK, seq, st.ESME_RINVCMDID))

    def _bind(self, pdu: Bind) -> None:
        c = self.config
        status = st.ESME_ROK
        if self.bound_as is not None:
            status = st.ESME_RALYBND
        elif c.system_id is not None and pdu.system_id != c.system_id:
            status = st.ESME_RINVSYSID
        elif c.password is not None and pdu.password != c.password:
            status = st.ESME_RINVPASWD
        self._record(
            {
                "event": "bind",
                "mode": pdu.command_id.name.lower(),
                "system_id": pdu.system_id,
                "status": st.status_name(status),
            }
        )
        resp_id = CommandId(pdu.command_id | 0x80000000)
        self._out.append(
            encode(
                BindResp(
                    command_id=resp_id, sequence=pdu.sequence, status=status, system_id="smsc-sim"
                )
            )
        )
        if status == st.ESME_ROK:
            self.bound_as = pdu.command_id
            self.system_id = pdu.system_id
        else:
            self.close_requested = True

    def _new_id(self) -> str:
        return self._id_text(next(self._ids))

    def _id_text(self, n: int) -> str:
        return message_id_text(self.config.id_form, n)

    def _submit(self, pdu: ShortMessage, now: float) -> None:
        c = self.config
        seq = pdu.sequence
        self.submits += 1
        if c.drop_after is not None and self.submits >= c.drop_after:
            self._record({"event": "dropped", "submits": self.submits})
            self._timers.clear()
            self._out.clear()
            self.close_requested = True
            return
        if self.bound_as not in (CommandId.BIND_TRANSMITTER, CommandId.BIND_TRANSCEIVER):
            self._out.append(
                encode_message_resp(CommandId.SUBMIT_SM_RESP, seq, st.ESME_RINVBNDSTS, "")
            )
            return
        rng = self._rng
        if c.garbage_share and rng.random() < c.garbage_share:
            self._record({"event": "submit_sm", "seq": seq, "answer": "garbage"})
            self._later(now, c.delay, HEADER.pack(20, 0x0000FFFF, 0, seq) + b"\xde\xad\xbe\xef")
            return
        if (c.max_rate and not self._take_token(now)) or (
            c.throttle_share and rng.random() < c.throttle_share
        ):
            self._record({"event": "submit_sm", "seq": seq, "answer": "ESME_RTHROTTLED"})
            self._later(
                now,
                c.delay,
                encode_message_resp(CommandId.SUBMIT_SM_RESP, seq, st.ESME_RTHROTTLED, ""),
            )
            return
        n = next(self._ids)
        message_id = self._id_text(n)
        if c.record:
            self._record(
                {
                    "event": "submit_sm",
                    "seq": seq,
                    "from": pdu.source_addr,
                    "from_ton": pdu.source_addr_ton,
                    "to": pdu.destination_addr,
                    "dcs": pdu.data_coding,
                    "esm": pdu.esm_class,
                    "length": len(pdu.short_message),
                    "udh": _udh(pdu.esm_class, pdu.short_message),
                    "tlvs": [tlv.TLV_NAMES.get(t, f"0x{t:04X}") for t, _ in pdu.tlvs],
                    "validity": pdu.validity_period,
                    "message_id": message_id,
                }
            )
        resp = encode_message_resp(CommandId.SUBMIT_SM_RESP, seq, 0, message_id)
        if (
            c.dlr
            and pdu.registered_delivery & 0x03
            and self.can_deliver
            and c.id_form not in BROKEN_ID_FORMS
        ):
            receipt = self._receipt(pdu, n, message_id, now)
            if c.dlr_before_resp:
                self._out.append(receipt)
                self._later(now, c.delay, resp)
                return
            self._later(now, c.delay, resp)
            if c.receipts_elsewhere:
                del self._delivers[HEADER.unpack_from(receipt)[3]]  # the other bind numbers it
                self.elsewhere.append(receipt)
                return
            self._later(now, max(c.dlr_delay, c.delay), receipt)
            return
        self._later(now, c.delay, resp)

    def _take_token(self, now: float) -> bool:
        """One submit_sm's place in max_rate: False when the rate is used up."""
        if self._tokens_at is not None:
            elapsed = now - self._tokens_at
            self._tokens = min(self._burst, self._tokens + elapsed * self.config.max_rate)
        self._tokens_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def _receipt(self, pdu: ShortMessage, n: int, message_id: str, now: float) -> bytes:
        c = self.config
        failed = bool(c.dlr_fail_share) and self._rng.random() < c.dlr_fail_share
        state = ReceiptState.UNDELIVERABLE if failed else ReceiptState.DELIVERED
        return self._receipt_pdu(
            now,
            message_id=message_id,
            text_id=str(n) if c.receipt_id_form == "decimal" else message_id,
            state=state,
            err=1 if failed else 0,
            source=(pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr),
            destination=(pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr),
        )

    def send_receipt(
        self, now: float, message_id: str, state: ReceiptState = ReceiptState.DELIVERED
    ) -> int:
        """A receipt for ``message_id``, whatever was submitted (an id the ESME may not
        know); its deliver_sm sequence."""
        data = self._receipt_pdu(
            now,
            message_id=message_id,
            text_id=message_id,
            state=state,
            err=0,
            source=(1, 1, "33612345678"),
            destination=(0, 0, ""),
        )
        self._out.append(data)
        return int(HEADER.unpack_from(data)[3])

    def _receipt_pdu(
        self,
        now: float,
        *,
        message_id: str,
        text_id: str,
        state: ReceiptState,
        err: int,
        source: tuple[int, int, str],
        destination: tuple[int, int, str],
    ) -> bytes:
        seq = self._next_seq()
        data = receipt_deliver_sm(
            seq,
            message_id=message_id,
            text_id=text_id,
            state=state,
            err=err,
            source=source,
            destination=destination,
            submitted=now + self._wall_offset,
            done_after=self.config.dlr_delay,
        )
        self._delivers[seq] = data
        return data

    @property
    def unanswered(self) -> int:
        """deliver_sm sent and not answered yet."""
        return len(self._delivers)

    def _deliver_resp(self, seq: int, status: int, now: float) -> None:
        data = self._delivers.pop(seq, None)
        if data is None:
            return
        if status != st.ESME_ROK:
            self._record(
                {"event": "deliver_sm_refused", "seq": seq, "status": st.status_name(status)}
            )
            if status == st.ESME_RX_T_APPN or status in st.DEFAULT_DISPOSITIONS:
                new_seq = self._next_seq()
                again = HEADER.pack(*HEADER.unpack_from(data)[:3], new_seq) + data[16:]
                self._delivers[new_seq] = again
                self._later(now, REDELIVER_DELAY, again)


def _udh(esm_class: int, short_message: bytes) -> str | None:
    """The user data header of a submit_sm with UDHI, in hex (None: no header)."""
    if not esm_class & 0x40 or not short_message:
        return None
    return short_message[: 1 + short_message[0]].hex()
