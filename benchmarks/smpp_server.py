"""submit_sm per second into smsgw's SMPP server, against the same client's raw wire limit.

The load generator is a bare asyncio Protocol of this file: every submit_sm
(registered_delivery 1, one GSM segment, a unique destination) is built with
drivers/smpp/protocol/pdu.py before the clock starts, and the client only
writes those bytes and reads 16-octet headers, keeping a window of submit_sm
in flight on each bind. Phases, each on a fresh SMSC simulator (``--dlr``):

1. raw: the client bound to the simulator directly, no smsgw in the middle:
   what the client and the loopback allow (the baseline);
2. esme x1 / esme xN: the daemon (SQLite store, synchronous = full, one SMPP
   link with window 64 to the simulator, ``[smpp_server]`` window 64) and one
   bind, then ``--binds`` binds of one credential (``max_binds`` N), the
   messages split between them;
3. http batched: the daemon loaded by wrk, 100 recipients per ``POST
   /v1/messages`` (benchmarks/http_single.py's batched phase), when wrk is
   installed and ``--http`` is given.

"submit/s" counts submit_sm_resp (ESME_ROK) per second from the first
submit_sm to the last answer; "delivered/s" counts messages over the time
until the last of them is ``delivered`` in the daemon's store (its receipt
from the simulator stored); for raw, until the client has every receipt.
"CPU us/msg" is the daemon's user + system CPU (/proc) from the first
submit_sm until the ESMEs hold every receipt, per message; "CPU/http" that
against the HTTP batched phase's of the same round. "e2e/s": messages over
the time until the ESMEs hold a receipt (deliver_sm) for each, counted over
all binds (a credential's receipts go to any of its binds).
``--profile`` samples the daemon (py-spy, GIL holder) during the first esme
x1 run. Usage::

    python benchmarks/smpp_server.py [--messages 20000] [--binds 4] [--rounds 2]
                                     [--window 64] [--http] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.e2e_profile import start_recording, summarize
from benchmarks.e2e_system import (
    ACCOUNT,
    SENDER,
    StoreProbe,
    cpu_seconds,
    free_port,
    prepare_store,
    start_simulator,
    stop,
    write_config,
)
from benchmarks.http_single import daemon_phase
from drivers.smpp.protocol.pdu import (
    HEADER,
    Bind,
    CommandId,
    encode,
    encode_bare,
    encode_message_resp,
    encode_submit_sm,
)
from gateway.store import open_store

SUBMIT_TARGET = 5_000.0  # submit_sm/s accepted (the target)
E2E_TARGET = 3_000.0  # msg/s with their receipts back at the ESME (the target)
TEXT = b"Your code is 482913. It expires in 10 minutes. Do not share it with anyone."
SYSTEM_ID = "bench1"
RUN_TIMEOUT = 180.0
POLL = 0.1

_SUBMIT_RESP = int(CommandId.SUBMIT_SM_RESP)
_BIND_RESP = int(CommandId.BIND_TRANSCEIVER_RESP)
_DELIVER = int(CommandId.DELIVER_SM)
_DELIVER_RESP = int(CommandId.DELIVER_SM_RESP)
_ENQUIRE = int(CommandId.ENQUIRE_LINK)
_ENQUIRE_RESP = int(CommandId.ENQUIRE_LINK_RESP)
_UNBIND = int(CommandId.UNBIND)

# the daemon's parts on the ESME path, by a frame on the stack (a sample may count in several)
AREAS = (
    ("SMPP server (drivers/smpp/server)", "drivers/smpp/server/"),
    ("ESME ingress (gateway/ingress/esme*.py)", "gateway/ingress/esme"),
    ("send pipeline (gateway/ingress/pipeline.py)", "gateway/ingress/pipeline.py:"),
    ("SMPP link to the SMSC (drivers/smpp/link)", "drivers/smpp/link/"),
    ("SMPP PDU codec (drivers/smpp/protocol)", "drivers/smpp/protocol/"),
    ("dispatcher (gateway/dispatch)", "gateway/dispatch/"),
    ("receipts in (gateway/inbound)", "gateway/inbound/"),
    ("SQLite writer thread (Engine._run)", "gateway/store/sqlite/engine.py:Engine._run"),
    ("SQLite statements (gateway/store/sqlite)", "gateway/store/sqlite/"),
    ("executor hand-off (concurrent/futures)", "concurrent/futures/"),
    ("logging (structlog, stdlib)", "structlog/"),
    ("asyncio event loop", "asyncio/"),
)


def submits(first: int, count: int) -> list[bytes]:
    """``count`` submit_sm, sequences 2.., destinations +4479<first + i>."""
    return [
        encode_submit_sm(
            i + 2,
            source_addr_ton=5,
            source_addr=SENDER,
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr=f"+4479{first + i:08d}",
            registered_delivery=1,
            short_message=TEXT,
        )
        for i in range(count)
    ]


class Esme(asyncio.Protocol):
    """One bind: a window of prebuilt submit_sm in flight; answers deliver_sm and enquire_link."""

    def __init__(self, pdus: list[bytes], *, window: int, system_id: str, password: str) -> None:
        self.pdus = pdus
        self.window = window
        self.sent = 0
        self.accepted = 0
        self.receipts = 0
        self.refused: int | None = None  # command_status of the first refused submit_sm
        self.buffer = bytearray()
        loop = asyncio.get_running_loop()
        self.bound: asyncio.Future[None] = loop.create_future()
        self.answered = asyncio.Event()  # every submit_sm answered (or one refused)
        self.received = asyncio.Event()  # a receipt for every message
        self.transport: asyncio.Transport | None = None
        self.finished = 0.0  # perf_counter of the last submit_sm_resp
        self.bind = encode(
            Bind(
                command_id=CommandId.BIND_TRANSCEIVER,
                sequence=1,
                system_id=system_id,
                password=password,
            )
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.bind)

    def start(self) -> None:
        self._send(self.window)

    def _send(self, count: int) -> None:
        assert self.transport is not None
        end = min(self.sent + count, len(self.pdus))
        if end > self.sent:
            self.transport.write(b"".join(self.pdus[self.sent : end]))
            self.sent = end

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        offset = 0
        replies: list[bytes] = []
        more = 0
        size = len(buffer)
        while size - offset >= 16:
            length, command, status, sequence = HEADER.unpack_from(buffer, offset)
            if size - offset < length:
                break
            if command == _SUBMIT_RESP:
                more += self._submit_answered(status)
            elif command == _DELIVER:
                replies.append(encode_message_resp(_DELIVER_RESP, sequence, 0, ""))
                self._receipt()
            elif command == _ENQUIRE:
                replies.append(encode_bare(_ENQUIRE_RESP, sequence))
            elif command == _BIND_RESP and not self.bound.done():
                self._bind_answered(status)
            offset += length
        del buffer[:offset]
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))
        if more:
            self._send(more)

    def _receipt(self) -> None:
        self.receipts += 1
        if self.receipts == len(self.pdus):
            self.received.set()

    def _submit_answered(self, status: int) -> int:
        if status == 0:
            self.accepted += 1
        elif self.refused is None:  # never resent: the run cannot complete
            self.refused = status
            self.answered.set()
        if self.accepted == len(self.pdus):
            self.finished = time.perf_counter()
            self.answered.set()
        return 1

    def _bind_answered(self, status: int) -> None:
        if status == 0:
            self.bound.set_result(None)
        else:
            self.bound.set_exception(RuntimeError(f"bind refused: 0x{status:08x}"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.write(encode_bare(_UNBIND, 1))
            self.transport.close()


@dataclass(slots=True, kw_only=True)
class Figures:
    label: str
    messages: int
    submit_seconds: float  # first submit_sm to the last submit_sm_resp
    seconds: float  # first submit_sm to the last delivered (or receipt in)
    cpu_us: float  # daemon CPU per message, until the last receipt at the ESMEs (0 for raw)
    load: float  # 1-minute load average at the end of the phase
    e2e_seconds: float = 0.0  # first submit_sm to the last receipt (deliver_sm) at the ESMEs
    note: str = ""

    @property
    def submit_rate(self) -> float:
        return self.messages / self.submit_seconds if self.submit_seconds else 0.0

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def e2e_rate(self) -> float:
        return self.messages / self.e2e_seconds if self.e2e_seconds else 0.0


async def connect(port: int, pdus: list[list[bytes]], *, window: int, password: str) -> list[Esme]:
    loop = asyncio.get_running_loop()
    esmes: list[Esme] = []
    for share in pdus:
        _, esme = await loop.create_connection(
            functools.partial(Esme, share, window=window, system_id=SYSTEM_ID, password=password),
            "127.0.0.1",
            port,
        )
        esmes.append(esme)
    await asyncio.wait_for(asyncio.gather(*(e.bound for e in esmes)), 10)
    return esmes


async def submit_all(esmes: list[Esme]) -> float:
    """Start every bind at once; the seconds until every submit_sm is answered."""
    start = time.perf_counter()
    for esme in esmes:
        esme.start()
    await asyncio.wait_for(asyncio.gather(*(e.answered.wait() for e in esmes)), RUN_TIMEOUT)
    for esme in esmes:
        if esme.refused is not None:
            msg = (
                f"submit_sm refused with command_status 0x{esme.refused:08x} "
                f"after {esme.accepted:,} accepted on that bind"
            )
            raise RuntimeError(msg)
    return max(e.finished for e in esmes) - start


def split(messages: int, binds: int) -> list[list[bytes]]:
    share = messages // binds
    return [submits(n * share, share) for n in range(binds)]


async def raw_phase(args: argparse.Namespace) -> Figures:
    simulator, port = start_simulator()
    try:
        esmes = await connect(port, split(args.messages, 1), window=args.window, password="pw")  # noqa: S106 - the simulator takes any
        start = time.perf_counter()
        submit_seconds = await submit_all(esmes)
        await asyncio.wait_for(asyncio.gather(*(e.received.wait() for e in esmes)), RUN_TIMEOUT)
        seconds = time.perf_counter() - start
        for esme in esmes:
            esme.close()
    finally:
        stop(simulator)
    return Figures(
        label="raw: client -> simulator",
        messages=args.messages,
        submit_seconds=submit_seconds,
        seconds=seconds,
        e2e_seconds=seconds,
        cpu_us=0.0,
        load=os.getloadavg()[0],
    )


@dataclass(slots=True)
class Daemon:
    directory: Path
    proc: subprocess.Popen[bytes]
    esme_port: int
    password: str


async def start_daemon(directory: Path, *, smsc_port: int, binds: int) -> Daemon:
    """A fresh store with one ESME credential (max_binds ``binds``), the daemon ready."""
    await prepare_store(directory, "full")
    store = await open_store("sqlite:gw.db", base=directory, synchronous="full")
    try:
        _, password = await store.create_esme_credential(ACCOUNT, SYSTEM_ID, max_binds=binds)
    finally:
        await store.close()
    esme_port = free_port()
    config = write_config(
        directory, smsc_port=smsc_port, http_port=free_port(), mqtt_port=None, synchronous="full"
    )
    with config.open("a", encoding="utf-8") as out:
        out.write(f'\n[smpp_server]\nlisten = "127.0.0.1:{esme_port}"\nwindow = 64\n')
    with (directory / "daemon.log").open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603, ASYNC220 - our interpreter, before the load
            [sys.executable, "-m", "gateway", "run", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (directory / "daemon.log").read_text(errors="replace")[-2000:]
            msg = f"the daemon exited with status {proc.returncode}:\n{tail}"
            raise RuntimeError(msg)
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", esme_port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await asyncio.sleep(0.5)  # the SMSC link binds right after the listener opens
        return Daemon(directory=directory, proc=proc, esme_port=esme_port, password=password)
    stop(proc)
    msg = "the daemon's SMPP server did not listen within 30 s"
    raise RuntimeError(msg)


async def wait_delivered(probe: StoreProbe, messages: int) -> str:
    deadline = time.perf_counter() + RUN_TIMEOUT
    while (delivered := probe.delivered()) < messages:
        if time.perf_counter() > deadline:
            return f"only {delivered} of {messages} delivered after {RUN_TIMEOUT:g} s"
        await asyncio.sleep(POLL)
    return ""


async def wait_receipts(esmes: list[Esme]) -> str:
    """Until the ESMEs have a receipt (deliver_sm) for each message: a credential's
    receipts go to any of its binds, so they are counted over all of them."""
    total = sum(len(e.pdus) for e in esmes)
    deadline = time.perf_counter() + RUN_TIMEOUT
    while (got := sum(e.receipts for e in esmes)) < total:
        if time.perf_counter() > deadline:
            return f"only {got} receipts at the ESMEs after {RUN_TIMEOUT:g} s more"
        await asyncio.sleep(0.01)
    return ""


async def esme_phase(work: Path, args: argparse.Namespace, *, binds: int, profile: bool) -> Figures:
    directory = Path(tempfile.mkdtemp(prefix=f"esme-{binds}-", dir=work))
    simulator, smsc_port = start_simulator()
    daemon: Daemon | None = None
    try:
        daemon = await start_daemon(directory, smsc_port=smsc_port, binds=binds)
        esmes = await connect(
            daemon.esme_port,
            split(args.messages, binds),
            window=args.window,
            password=daemon.password,
        )
        probe = StoreProbe(directory / "gw.db")
        raw = directory / "profile.txt"
        recording = None
        if profile:
            # about the submit phase: the expected seconds at the previous rounds' pace
            recording = start_recording(
                daemon.proc.pid, seconds=args.profile_seconds, output=raw, gil=True
            )
        before, start = cpu_seconds(daemon.proc.pid), time.perf_counter()
        submit_seconds = await submit_all(esmes)
        note = await wait_delivered(probe, binds * (args.messages // binds))
        seconds = time.perf_counter() - start
        note = note or await wait_receipts(esmes)
        e2e_seconds = time.perf_counter() - start
        cpu = cpu_seconds(daemon.proc.pid) - before
        probe.close()
        for esme in esmes:
            esme.close()
        if recording is not None:
            recording.wait()
            print_profile(raw, args.profile_keep)
    finally:
        if daemon is not None:
            stop(daemon.proc)
        stop(simulator)
    messages = binds * (args.messages // binds)
    return Figures(
        label=f"esme x{binds}: client -> smsgw -> simulator",
        messages=messages,
        submit_seconds=submit_seconds,
        seconds=seconds,
        e2e_seconds=e2e_seconds,
        cpu_us=cpu / messages * 1e6,
        load=os.getloadavg()[0],
        note=note,
    )


def _frame(raw: str) -> str:
    """py-spy's 'Engine._run (/x/gateway/store/sqlite/engine.py:88)' -> 'PATH:Engine._run'."""
    name, _, where = raw.partition(" (")
    return f"{where.rsplit(':', 1)[0]}:{name.strip()}"


def print_profile(raw: Path, keep: Path | None) -> None:
    if not raw.exists():
        print("  (py-spy wrote no profile)")
        return
    if keep is not None:
        shutil.copyfile(raw, keep)
    counts: dict[str, int] = dict.fromkeys((a for a, _ in AREAS), 0)
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        frames = [_frame(f) for f in stack.split(";")]
        for area, marker in AREAS:
            if any(marker in f for f in frames):
                counts[area] += int(count)
    print(f"  profile of esme x1 (GIL holder, {total} samples), by area (inclusive):")
    for area, n in sorted(counts.items(), key=lambda item: -item[1]):
        print(f"    {n / max(total, 1):6.1%}  {area}")
    print("  functions by own samples:")
    for name, share in summarize(raw).own[:12]:
        print(f"    {share:6.1%}  {name}")


async def http_phase(work: Path, args: argparse.Namespace) -> Figures:
    http_args = argparse.Namespace(seconds=args.http_seconds, connections=8, workers=0)
    f = await daemon_phase(work, http_args, batch=100, profile=False)
    return Figures(
        label="http: 100 recipients per POST",
        messages=f.messages,
        submit_seconds=0.0,
        seconds=f.seconds,
        cpu_us=f.cpu_us,
        load=os.getloadavg()[0],
        note=f.note,
    )


def _row(f: Figures, raw: Figures, http: Figures | None) -> str:
    submit = f"{f.submit_rate:9,.0f}" if f.submit_seconds else f"{'-':>9}"
    cpu = f"{f.cpu_us:10,.0f}" if f.cpu_us else f"{'-':>10}"
    esme = bool(f.submit_seconds) and f is not raw
    ratios = (
        f"{f.submit_rate / raw.submit_rate:6.2f} {f.submit_rate / SUBMIT_TARGET:6.2f}"
        if esme
        else f"{'':6} {'':6}"
    )
    per_http = (
        f"{f.cpu_us / http.cpu_us:8.2f}" if esme and http is not None and http.cpu_us else " " * 8
    )
    e2e = (
        f"{f.e2e_rate:8,.0f} {f.e2e_rate / E2E_TARGET:6.2f}"
        if esme and f.e2e_seconds
        else f"{'-' if not f.e2e_seconds else f'{f.e2e_rate:,.0f}':>8} {'':6}"
    )
    return f"{f.label:40} {submit} {f.rate:11,.0f} {e2e} {cpu} {ratios} {per_http} {f.load:5.2f}"


def report(rounds: list[list[Figures]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.messages:,} messages per phase, window {args.window} per bind, "
        "registered_delivery 1, SQLite synchronous = full, one SMPP link (window 64)"
    )
    header = (
        f"{'phase':40} {'submit/s':>9} {'delivered/s':>11} {'e2e/s':>8} {'/3000':>6} "
        f"{'CPU us/msg':>10} "
        f"{'/raw':>6} {'/5000':>6} {'CPU/http':>8} {'load':>5}"
    )
    print(header)
    print("-" * len(header))
    for figures in rounds:
        raw = figures[0]
        http = next((f for f in figures if f.label.startswith("http")), None)
        for f in figures:
            print(_row(f, raw, http))
            if f.note:
                print(f"  {f.note}")
        print()


async def bench(args: argparse.Namespace) -> None:
    rounds: list[list[Figures]] = []
    with tempfile.TemporaryDirectory(prefix="smsgw-smpp-server-") as tmp:
        work = Path(tmp)
        for n in range(args.rounds):
            figures = [await raw_phase(args)]
            figures.append(await esme_phase(work, args, binds=1, profile=args.profile and n == 0))
            if args.binds > 1:
                figures.append(await esme_phase(work, args, binds=args.binds, profile=False))
            if args.http and shutil.which("wrk"):
                figures.append(await http_phase(work, args))
            rounds.append(figures)
            print(f"round {n + 1} done, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    report(rounds, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="per phase")
    parser.add_argument("--binds", type=int, default=4, help="of the second esme phase")
    parser.add_argument("--window", type=int, default=64, help="submit_sm in flight per bind")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--http", action="store_true", help="add the HTTP batched phase (wrk)")
    parser.add_argument("--http-seconds", type=float, default=5.0)
    parser.add_argument("--profile", action="store_true", help="py-spy on the first esme x1")
    parser.add_argument("--profile-seconds", type=float, default=5.0)
    parser.add_argument("--profile-keep", type=Path, help="copy py-spy's raw stacks here")
    args = parser.parse_args()
    try:
        asyncio.run(bench(args))
    except RuntimeError as exc:
        sys.exit(f"smpp_server: {exc}")


if __name__ == "__main__":
    main()
