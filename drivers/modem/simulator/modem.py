"""A virtual GSM modem: the AT command set of a USB stick, with the quirks of real ones.

:class:`SimModem` is the modem itself, without I/O (bytes and ``now`` in,
bytes out, one timer for delayed status reports); what its network sends it
(MO messages, status reports) is built by :mod:`drivers.modem.simulator.network`.
:class:`~drivers.modem.simulator.pty.PtyModem` puts it on a pseudo-terminal
that pyserial opens like ``/dev/ttyUSB0``.

Quirk modes (:class:`SimConfig`): echo that ATE0 does not turn off, URCs
(+CMTI/+CDS and ``^RSSI``) placed inside other commands' replies, SIM busy
(+CME ERROR: 14) on the first commands that touch the SIM, +CMS ERROR on a
share of sends, a hang (no answer at all) after N commands, a SIM PIN, ERROR
for the ESC line a link sends to wake the modem (as many real ones answer it).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import ClassVar

from drivers.modem.protocol.tpdu import PduError
from drivers.modem.simulator.config import SIM_COMMANDS, STATIC_REPLIES, SimConfig
from drivers.modem.simulator.network import mo_parts, status_report
from drivers.modem.simulator.state import ModemState, Stored

_Handler = Callable[["SimModem", str, str], None]  # a command's: (modem, body, raw)


class SimModem:
    """The modem's behaviour: call :meth:`receive_data`, collect :meth:`take_output`."""

    def __init__(
        self, config: SimConfig | None = None, *, wall: Callable[[], float] = time.time
    ) -> None:
        self.config = config or SimConfig()
        self._wall = wall  # network timestamps; ``now`` arguments only drive timers
        cfg = self.config
        self._state = ModemState(
            echo=cfg.echo,
            pin_ok=cfg.pin is None,
            pin_attempts=cfg.pin_attempts,
            sim_busy_left=cfg.sim_busy,
        )
        self._random = random.Random(cfg.seed)
        self._input = bytearray()
        self._output = bytearray()
        self.sent: list[bytes] = []  # every SMS-SUBMIT TPDU accepted, in order
        self.commands: list[str] = []  # every command line answered (PIN hidden)
        self.acks = 0  # AT+CNMA received
        self.on_sent: Callable[[bytes], None] | None = None  # called with each accepted TPDU

    # --- test and operator controls ---------------------------------------------

    def inject_mo(self, *, originator: str, text: str, reference: int = 0) -> int:
        """Store an MO message (split in concatenated parts when long); returns parts."""
        parts = mo_parts(originator=originator, text=text, reference=reference, when=self._wall())
        for pdu in parts:
            self.inject_pdu(pdu)
        return len(parts)

    def inject_pdu(self, pdu: bytes) -> None:
        """Receive one SMS-DELIVER (with SMSC address) from the "network"."""
        st = self._state
        if st.mt == 2:
            self._urc(f"+CMT: ,{len(pdu) - 1 - pdu[0]}\r\n{pdu.hex().upper()}".encode())
            return
        index = next(i for i in range(1, 1000) if i not in st.storage)
        st.storage[index] = Stored(index=index, pdu=pdu)
        if st.mt in (1, 3):
            self._urc(f'+CMTI: "SM",{index}'.encode())

    def hang_now(self) -> None:
        """Stop answering until :meth:`resume`."""
        self._state.hanging = True
        self._state.hang_left = None

    def resume(self) -> None:
        """End a hang."""
        self._state.hanging = False
        self._state.hang_left = None

    @property
    def stored(self) -> int:
        return len(self._state.storage)

    # --- time --------------------------------------------------------------------

    def get_timer(self) -> float | None:
        return min((due for due, _ in self._state.timers), default=None)

    def handle_timer(self, now: float) -> None:
        due = [t for t in self._state.timers if t[0] <= now]
        self._state.timers = [t for t in self._state.timers if t[0] > now]
        for _, urc in due:
            self._urc(urc)

    # --- bytes ------------------------------------------------------------------

    def take_output(self) -> bytes:
        out = bytes(self._output)
        self._output.clear()
        return out

    def receive_data(self, data: bytes, *, now: float) -> None:
        self._input += data
        while True:
            st = self._state
            if st.awaiting_pdu is not None:
                end = next((i for i, b in enumerate(self._input) if b in (0x1A, 0x1B)), -1)
                if end < 0:
                    return
                text = bytes(self._input[:end]).decode("ascii", "replace").strip()
                cancel = self._input[end] == 0x1B
                del self._input[: end + 1]
                self._pdu(text, cancel=cancel, now=now)
                continue
            end = self._input.find(b"\r")
            if end < 0:
                return
            raw = bytes(self._input[:end]).decode("ascii", "replace")
            line = raw.strip("\n\x1b ")
            del self._input[: end + 1]
            if line:
                self._command(line, now=now)
            elif "\x1b" in raw and self.config.wake_error and not st.hanging:
                self._reply([], "ERROR")

    # --- internals ---------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self._output += data

    def _urc(self, line: bytes) -> None:
        if self._state.hanging:
            return
        if self.config.urc_inside_replies:
            self._state.held_urcs.append(line)
        else:
            self._write(b"\r\n" + line + b"\r\n")

    def _hang_check(self) -> bool:
        st, cfg = self._state, self.config
        st.commands += 1
        if st.hanging:
            if st.hang_left is not None:
                st.hang_left -= 1
                if st.hang_left <= 0:
                    st.hanging = False
            return True
        if cfg.hang_after is not None and st.commands == cfg.hang_after + 1:
            st.hanging = True
            st.hang_left = cfg.hang_for
            if st.hang_left is not None:
                st.hang_left -= 1
                if st.hang_left <= 0:
                    st.hanging = False
            return True
        return False

    def _reply(self, lines: list[str], final: str = "OK") -> None:
        out = bytearray()
        for line in lines:
            out += b"\r\n" + line.encode() + b"\r\n"
        if self.config.urc_inside_replies:
            out += b"\r\n^RSSI: 18\r\n"  # a vendor URC inside every reply
            for urc in self._state.held_urcs:
                out += b"\r\n" + urc + b"\r\n"
            self._state.held_urcs.clear()
        out += b"\r\n" + final.encode() + b"\r\n"
        self._write(bytes(out))

    def _error(self, kind: str, code: int) -> None:
        if self._state.cmee == 0:
            self._reply([], "ERROR")
        else:
            self._reply([], f"+{kind} ERROR: {code}")

    def _command(self, line: str, *, now: float) -> None:
        st = self._state
        if self._hang_check():
            return
        if st.echo:
            self._write(line.encode() + b"\r")
        upper = line.upper()
        shown = 'AT+CPIN="****"' if upper.startswith("AT+CPIN=") else line
        self.commands.append(shown)
        if not upper.startswith("AT"):
            self._reply([], "ERROR")
            return
        body = upper[2:]
        if body.startswith(SIM_COMMANDS):
            if st.sim_busy_left > 0:
                st.sim_busy_left -= 1
                self._error("CME", 14)
                return
            if not st.pin_ok and not body.startswith("+CPIN"):
                self._error(
                    "CMS" if body.startswith("+CM") else "CME",
                    311 if body.startswith("+CM") else 11,
                )
                return
        self._dispatch(body, line[2:])

    def _dispatch(self, body: str, raw: str) -> None:
        """Answer the command ``body`` (upper case, after "AT"; ``raw`` as typed)."""
        static = STATIC_REPLIES.get(body)
        if static is not None:
            self._reply(static)
            return
        handler = self._EXACT.get(body) or next(
            (h for prefix, h in self._PREFIXED if body.startswith(prefix)), None
        )
        if handler is None:
            self._reply([], "ERROR")
            return
        handler(self, body, raw)

    # --- the commands, one handler each (body upper case after "AT", raw as typed) ---

    def _reset(self, _body: str, _raw: str) -> None:  # ATZ
        self._state.echo = self.config.echo
        self._reply([])

    def _set_echo(self, body: str, _raw: str) -> None:  # ATE0 / ATE1
        self._state.echo = self.config.echo or body == "E1"
        self._reply([])

    def _set_cmee(self, body: str, _raw: str) -> None:
        self._state.cmee = int(body[6:] or 0)
        self._reply([])

    def _pin_status(self, _body: str, _raw: str) -> None:  # AT+CPIN?
        st = self._state
        if st.pin_ok:
            self._reply(["+CPIN: READY"])
        else:
            self._reply(["+CPIN: " + ("SIM PIN" if st.pin_attempts > 0 else "SIM PUK")])

    def _enter_pin(self, _body: str, raw: str) -> None:  # AT+CPIN="1234"
        st = self._state
        given = raw[6:].strip().strip('"')
        if st.pin_ok:
            self._error("CME", 3)
        elif st.pin_attempts <= 0:
            self._error("CME", 12)
        elif given == self.config.pin:
            st.pin_ok = True
            self._reply([])
        else:
            st.pin_attempts -= 1
            self._error("CME", 16)

    def _acknowledge(self, _body: str, _raw: str) -> None:  # AT+CNMA
        if self.config.csms_service == 1:
            self.acks += 1
            self._reply([])
        else:
            self._error("CMS", 340)  # no +CNMA acknowledgement expected

    def _set_format(self, body: str, _raw: str) -> None:  # AT+CMGF=
        self._state.cmgf = int(body[6:] or 0)
        self._reply([])

    def _service(self, _body: str, _raw: str) -> None:  # AT+CSMS?
        self._reply([f"+CSMS: {self.config.csms_service},1,1,1"])

    def _indications_offered(self, _body: str, _raw: str) -> None:  # AT+CNMI=?
        self._reply([f"+CNMI: {self.config.cnmi_offer}"])

    def _set_indications(self, body: str, _raw: str) -> None:  # AT+CNMI=
        parts = [int(p) if p else 0 for p in body[6:].split(",")] + [0] * 5
        self._state.mt, self._state.ds = parts[1], parts[3]
        self._reply([])

    def _storage_use(self, _body: str, _raw: str) -> None:  # AT+CPMS
        used = len(self._state.storage)
        self._reply([f"+CPMS: {used},30,{used},30,{used},30"])

    def _registration(self, _body: str, _raw: str) -> None:  # AT+CREG?
        self._reply([f"+CREG: 0,{1 if self.config.registered else 2}"])

    def _signal(self, _body: str, _raw: str) -> None:  # AT+CSQ
        self._reply([f"+CSQ: {self.config.csq},99"])

    def _start_send(self, body: str, _raw: str) -> None:  # AT+CMGS=<length>
        st = self._state
        if st.cmgf != 0:
            self._error("CMS", 302)
            return
        st.awaiting_pdu = int(body[6:])
        self._write(b"\r\n> ")

    def _read(self, body: str, _raw: str) -> None:  # AT+CMGR=<index>
        entry = self._state.storage.get(int(body[6:]))
        if entry is None:
            self._error("CMS", 321)
            return
        pdu = entry.pdu
        self._reply([f"+CMGR: {entry.status},,{len(pdu) - 1 - pdu[0]}", pdu.hex().upper()])
        entry.status = 1

    def _list(self, _body: str, _raw: str) -> None:  # AT+CMGL
        lines: list[str] = []
        for entry in sorted(self._state.storage.values(), key=lambda e: e.index):
            pdu = entry.pdu
            lines += [
                f"+CMGL: {entry.index},{entry.status},,{len(pdu) - 1 - pdu[0]}",
                pdu.hex().upper(),
            ]
            entry.status = 1
        self._reply(lines)

    def _delete(self, body: str, _raw: str) -> None:  # AT+CMGD=<index>[,<flag>]
        index = int(body[6:].split(",", maxsplit=1)[0])
        self._state.storage.pop(index, None)
        self._reply([])

    # commands answered by a handler: those named in full first, then by prefix
    _EXACT: ClassVar[dict[str, _Handler]] = {
        "Z": _reset,
        "E0": _set_echo,
        "E1": _set_echo,
        "+CPIN?": _pin_status,
        "+CNMA": _acknowledge,
        "+CSMS?": _service,
        "+CNMI=?": _indications_offered,
        "+CREG?": _registration,
        "+CSQ": _signal,
    }
    _PREFIXED: ClassVar[tuple[tuple[str, _Handler], ...]] = (
        ("+CMEE=", _set_cmee),
        ("+CPIN=", _enter_pin),
        ("+CMGF=", _set_format),
        ("+CNMI=", _set_indications),
        ("+CPMS", _storage_use),
        ("+CMGS=", _start_send),
        ("+CMGR=", _read),
        ("+CMGL", _list),
        ("+CMGD=", _delete),
    )

    def _pdu(self, text: str, *, cancel: bool, now: float) -> None:
        st, cfg = self._state, self.config
        length = st.awaiting_pdu
        st.awaiting_pdu = None
        if self._hang_check():
            return
        if st.echo:
            self._write(text.encode() + b"\x1a")
        if cancel:
            self._reply([])
            return
        try:
            pdu = bytes.fromhex(text)
            tpdu = pdu[1 + pdu[0] :]
            if len(tpdu) != length or tpdu[0] & 0x03 != 0x01:
                raise PduError("length or type")
        except (ValueError, IndexError, PduError):
            self._error("CMS", 304)
            return
        if cfg.cms_error_share > 0 and self._random.random() < cfg.cms_error_share:
            self._error("CMS", cfg.cms_error_code)
            return
        mr = st.next_mr
        st.next_mr = (st.next_mr + 1) % 256
        self.sent.append(tpdu)
        if self.on_sent is not None:
            self.on_sent(tpdu)
        self._reply([f"+CMGS: {mr}"])
        if tpdu[0] & 0x20 and st.ds in (1, 2):
            report = status_report(
                tpdu=tpdu,
                reference=mr,
                sent_at=self._wall(),
                delay=cfg.report_delay,
                status=cfg.report_status,
            )
            if st.ds == 2:
                index = next(i for i in range(1, 1000) if i not in st.storage)
                st.storage[index] = Stored(index=index, pdu=report)
                urc = f'+CDSI: "SR",{index}'.encode()
            else:
                urc = f"+CDS: {len(report) - 1}\r\n{report.hex().upper()}".encode()
            st.timers.append((now + cfg.report_delay, urc))
