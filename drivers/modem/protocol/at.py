"""Sans-IO AT command channel: one command in flight, replies matched, URCs routed.

Bytes from the modem go in through :meth:`AtChannel.receive_data`; commands go
out as bytes from :meth:`AtChannel.send`; :meth:`AtChannel.next_event` yields
what happened. Time is a parameter: :meth:`get_timer` gives the current
command's deadline and :meth:`handle_timer` fires it.

What the parser copes with, because real modems do it:

- the ``> `` prompt of AT+CMGS has no line end (and arrives split in reads);
- unsolicited result codes (``+CMTI``, ``+CDS``, ``RING``, ``^RSSI``...) at any
  time, including between the lines of another command's reply;
- two-line URCs (``+CMT``/``+CDS`` header then the PDU line);
- command echo (ATE1) and PDU echo after the prompt;
- ``+CME ERROR``/``+CMS ERROR`` as numbers or, with AT+CMEE=2, as text;
- ``\\r``, ``\\n`` or ``\\r\\n`` line ends, blank lines, stray NULs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from gateway.model.errors import LocalProtocolError

CTRL_Z = b"\x1a"
ESC = b"\x1b"

# line prefixes that are unsolicited unless the command in flight asked for them
URC_PREFIXES = frozenset(
    {
        "+CMTI",
        "+CMT",
        "+CDS",
        "+CDSI",
        "+CBM",
        "+CBMI",
        "RING",
        "+CRING",
        "+CREG",
        "+CGREG",
        "+CEREG",
        "+CLIP",
        "+CUSD",
        "+CIEV",
        "NO CARRIER",
        "+CPIN",
        "RDY",
        "+CFUN",
        "+PACSP",
        "+QIND",
        "+STIN",
        "SMS READY",
        "CALL READY",
        "+CSQN",
    }
)
# URCs whose header line is followed by a PDU line
TWO_LINE_URCS = frozenset({"+CMT", "+CDS", "+CBM"})
FINAL_OK = "OK"
MAX_LINE = 4096  # an SMS PDU line is at most ~360 characters
FINAL_ERRORS = frozenset({"ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One AT command line (without the trailing CR)."""

    line: str
    expect: tuple[str, ...] = ()  # prefixes of its information responses ("+CMGS")
    prompt: bool = False  # AT+CMGS / AT+CMGW: wait for "> " before the data
    timeout: float = 5.0
    secret: bool = False  # the line holds a secret (AT+CPIN): never shown

    @property
    def shown(self) -> str:
        """The line as logs and errors may show it."""
        return self.line.split("=")[0] + "=<hidden>" if self.secret else self.line

    def __repr__(self) -> str:
        return f"Command({self.shown!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class AtError:
    """A failing final result code."""

    kind: str  # "ERROR" | "CME" | "CMS" (or "NO CARRIER"...)
    code: int | None = None  # the number of +CME/+CMS ERROR, when numeric
    text: str = ""

    @property
    def name(self) -> str:
        if self.code is not None:
            return f"{self.kind}_{self.code}"
        return self.kind.replace(" ", "_")


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """The command in flight completed (OK or an error)."""

    command: Command
    lines: tuple[str, ...]  # information responses, in order (PDU lines included)
    error: AtError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True, kw_only=True)
class Prompt:
    """The ``> `` prompt: the command in flight waits for its data."""

    command: Command


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsolicited:
    """An unsolicited result code, with its PDU line for +CMT/+CDS."""

    name: str  # "+CMTI", "RING", "^RSSI", or the whole line if it has no prefix
    value: str  # what follows "NAME:" (stripped), or "" when nothing does
    pdu: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeout:
    """The command in flight got no final result before its deadline."""

    command: Command
    lines: tuple[str, ...]
    prompted: bool  # the prompt came (the data may have reached the modem)


@dataclass(frozen=True, slots=True, kw_only=True)
class Stale:
    """A final result code that answers no command in flight (dropped, counted)."""

    line: str


Event = Response | Prompt | Unsolicited | Timeout | Stale


def changes_echo(line: str) -> bool:
    """Whether a command may switch echo on or off (ATE0/ATE1, ATZ, AT&F)."""
    basic = line.upper()[2:].partition("+")[0].partition("^")[0]
    return "E" in basic or "Z" in basic or "&F" in basic


def split_name(line: str) -> tuple[str, str]:
    """``"+CMTI: \\"SM\\",3"`` -> (``"+CMTI"``, ``"\\"SM\\",3"``)."""
    if line[:1] in "+^" and ":" in line:
        name, _, value = line.partition(":")
        return name.strip(), value.strip()
    return line.strip(), ""


def parse_final(line: str) -> tuple[bool, AtError | None]:
    """(is a final result code, its error or None for OK)."""
    if line == FINAL_OK:
        return True, None
    if line in FINAL_ERRORS:
        return True, AtError(kind=line)
    for prefix, kind in (("+CME ERROR", "CME"), ("+CMS ERROR", "CMS")):
        if line.startswith(prefix):
            value = line[len(prefix) :].lstrip(":").strip()
            code = int(value) if value.isdigit() else None
            return True, AtError(kind=kind, code=code, text=value)
    return False, None


class AtChannel:
    """The AT conversation with one modem, without I/O."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._events: deque[Event] = deque()
        self._command: Command | None = None
        self._lines: list[str] = []
        self._deadline: float | None = None
        self._prompted = False
        self._skip_space = False
        self._data_echo: str | None = None
        self._urc_waiting_pdu: Unsolicited | None = None
        self._echoed = False  # the command in flight has been echoed
        self._echo_on = False  # the last command was echoed and nothing since changed echo

    # --- commands out ------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._command is not None

    @property
    def command(self) -> Command | None:
        return self._command

    def send(self, command: Command, *, now: float) -> bytes:
        """Start ``command``; returns the bytes to write."""
        if self._command is not None:
            msg = f"a command is in flight ({self._command.shown})"
            raise LocalProtocolError(msg)
        self._command = command
        self._lines = []
        self._prompted = False
        self._data_echo = None
        self._echoed = False
        self._deadline = now + command.timeout
        return command.line.encode("ascii") + b"\r"

    def send_data(self, data: str, *, now: float, timeout: float) -> bytes:
        """After :class:`Prompt`: the PDU hex, terminated by Ctrl-Z."""
        if self._command is None or not self._prompted:
            raise LocalProtocolError("no prompt to answer")
        self._data_echo = data
        self._deadline = now + timeout
        return data.encode("ascii") + CTRL_Z

    def abandon(self) -> None:
        """Forget the command in flight (after a timeout the link resynchronises).

        What the modem does about echo is unknown again until the next answer.
        """
        self._finish()
        self._echo_on = False

    def discard_input(self) -> None:
        """Drop a partial line (what a wake-up left behind); complete lines are parsed."""
        self._buffer.clear()
        self._skip_space = False

    def _finish(self) -> None:
        self._command = None
        self._deadline = None
        self._lines = []
        self._prompted = False
        self._echoed = False

    # --- time --------------------------------------------------------------

    def get_timer(self) -> float | None:
        return self._deadline

    def handle_timer(self, now: float) -> None:
        if self._command is None or self._deadline is None or now < self._deadline:
            return
        self._events.append(
            Timeout(command=self._command, lines=tuple(self._lines), prompted=self._prompted)
        )
        self.abandon()

    # --- bytes in ----------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        self._buffer += data.replace(b"\x00", b"")
        while self._step():
            pass

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def _step(self) -> bool:
        buf = self._buffer
        self._drop_separators()
        if not buf:
            return False
        if (
            buf[:1] == b">"
            and self._command is not None
            and self._command.prompt
            and not self._prompted
        ):
            del buf[:1]
            self._prompted = True
            self._skip_space = True
            self._events.append(Prompt(command=self._command))
            return True
        end = -1
        for i, octet in enumerate(buf):
            if octet in b"\r\n":
                end = i
                break
        if end < 0:
            if len(buf) > MAX_LINE:  # noise with no line end: do not grow without bound
                del buf[:]
            return False
        raw = bytes(buf[:end])
        del buf[: end + 1]
        line = raw.decode("ascii", errors="replace").strip().rstrip("\x1a").strip()
        if line:
            self._line(line)
        return True

    def _drop_separators(self) -> None:
        """Drop the space after a prompt and the line ends before a line."""
        buf = self._buffer
        if self._skip_space and buf[:1] == b" ":
            del buf[:1]
        if buf[:1] and buf[:1] != b" ":
            self._skip_space = False
        # leading line ends separate lines; drop them
        stripped = 0
        while stripped < len(buf) and buf[stripped] in b"\r\n":
            stripped += 1
        if stripped:
            del buf[:stripped]

    def _line(self, line: str) -> None:
        if self._urc_waiting_pdu is not None:
            urc = self._urc_waiting_pdu
            self._urc_waiting_pdu = None
            self._events.append(Unsolicited(name=urc.name, value=urc.value, pdu=line))
            return
        command = self._command
        if command is not None:
            if self._answered(command, line):
                return
        elif line not in URC_PREFIXES and parse_final(line)[0]:
            self._events.append(Stale(line=line))
            return
        name, value = split_name(line)
        expected = command is not None and name in command.expect
        if not expected and (name in URC_PREFIXES or name.startswith("^") or command is None):
            urc = Unsolicited(name=name, value=value)
            if name in TWO_LINE_URCS:
                self._urc_waiting_pdu = urc
            else:
                self._events.append(urc)
            return
        self._lines.append(line)

    def _answered(self, command: Command, line: str) -> bool:
        """Whether ``line`` is an echo of ``command`` or of its data, or its final
        result (then the command is done); False for any other line."""
        if line == command.line:
            self._echoed = True
            return True  # echo (ATE1)
        if self._data_echo is not None and line == self._data_echo:
            return True  # the PDU echoed after the prompt
        if line.startswith(">") and command.prompt and self._data_echo is not None:
            return True  # a prompt redisplayed with the echoed data on the same line
        final, error = parse_final(line)
        if final and self._echo_on and not self._echoed:
            self._events.append(Stale(line=line))  # answers a line sent before ours
            return True
        if final:
            self._events.append(Response(command=command, lines=tuple(self._lines), error=error))
            self._echo_on = self._echoed and not changes_echo(command.line)
            self._finish()
            return True
        return False
