"""One scaling story: one daemon on SQLite, with worker processes, and 1-3 daemons on PostgreSQL.

Topologies (``--topologies``, all by default), each measured in the same run
on a fresh store, with its own SMSC simulator (``python -m drivers.smpp.simulator
--dlr --quiet``: a receipt per message) that every daemon binds to (window 64)
and its own private mosquitto:

- ``sqlite-1``: one daemon on SQLite (synchronous = full);
- ``sqlite-workers-2``: the same with ``[workers] count = 2``;
- ``pg-1``, ``pg-2``, ``pg-3``: 1, 2 or 3 daemons on one database of a private
  PostgreSQL server (tests/fixtures/postgres.py ``running_server``, durable:
  fsync, synchronous_commit and full_page_writes on), each with its own
  ``[dispatcher] worker``, HTTP port and ``[mqtt] client_id``, all in
  ``[mqtt] shared_group = "smsgw"``.

Phases (``--phases``), default settings otherwise:

- ``http100``: ``--messages`` recipients, 100 per ``POST /v1/messages``,
  12 clients spread evenly over the daemons' HTTP ports;
- ``http1``: one recipient per POST, one wrk per daemon port at the same time
  for ``--seconds`` (``--connections`` split between them), as
  benchmarks/http_single.py loads one daemon;
- ``mqtt``: ``--messages`` publishes of one recipient each, QoS 1, 32 in
  flight, on ``smsgw/bench/send`` (the broker shares them among the daemons).

For each topology and phase: messages accepted, msg/s end to end (the first
send until the store says all of them are ``delivered``, receipts stored:
a read-only SQLite connection, or a query on PostgreSQL), CPU microseconds
per message of every smsgw process (daemons and their workers, /proc), and
separately of PostgreSQL's processes (the postmaster and its children). Then
ratios: each topology against sqlite-1 in the same round, pg-N against
pg-(N-1), and against 5,000 msg/s. After each topology the daemons' logs
are searched for warnings and errors.

Usage::

    python benchmarks/cluster.py [--messages 10000] [--seconds 6] [--rounds 1]
        [--topologies sqlite-1,sqlite-workers-2,pg-1,pg-2,pg-3]
        [--phases http100,http1,mqtt] [--connections 36]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import aiohttp
import aiomqtt
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.e2e_system import (
    ACCOUNT,
    SENDER,
    ClusterMember,
    DaemonProcess,
    StoreProbe,
    cpu_seconds,
    prepare_store,
    start_daemon,
    start_mosquitto,
    start_simulator,
    stop,
    tree_cpu,
)
from benchmarks.http_single import run_wrk, wrk_script
from tests.fixtures.postgres import (
    MISSING_BINARIES,
    NoServerUser,
    PostgresServer,
    find_bindir,
    running_server,
    workspace,
)

TARGET = 5_000.0  # msg/s end to end, 3 daemons on PostgreSQL, 100 recipients per request
TEXT = "Your code is 482913. It expires in 10 minutes. Do not share it."  # one GSM segment
BATCH = 100
HTTP_CLIENTS = 12  # split evenly over 1, 2 or 3 daemons
MQTT_IN_FLIGHT = 32
POLL = 0.2  # seconds between counts on the store (the count costs the store a little)
OUTBOX_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Topology:
    name: str
    daemons: int
    workers: int  # [workers] count of each daemon
    postgres: bool


TOPOLOGIES = {
    t.name: t
    for t in (
        Topology("sqlite-1", 1, 0, postgres=False),
        Topology("sqlite-workers-2", 1, 2, postgres=False),
        Topology("pg-1", 1, 0, postgres=True),
        Topology("pg-2", 2, 0, postgres=True),
        Topology("pg-3", 3, 0, postgres=True),
    )
}
PHASES = ("http100", "http1", "mqtt")
PHASE_LABELS = {
    "http100": "HTTP, 100 per POST",
    "http1": "HTTP, 1 per POST (wrk)",
    "mqtt": "MQTT, 1 per publish",
}


class Probe(Protocol):
    def delivered(self) -> int: ...
    def outbox(self) -> int: ...
    def states(self) -> dict[str, int]: ...
    def close(self) -> None: ...


class PostgresProbe:
    """Counts on the daemons' PostgreSQL database, one autocommit connection."""

    def __init__(self, url: str) -> None:
        self._conn = psycopg.connect(url, autocommit=True)

    def _one(self, sql: str) -> int:
        row = self._conn.execute(sql).fetchone()
        return int(row[0]) if row is not None else 0

    def delivered(self) -> int:
        return self._one("SELECT count(*) FROM messages WHERE state = 'delivered'")

    def outbox(self) -> int:
        return self._one("SELECT coalesce(sum(events), 0) FROM outbox")

    def states(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT state, count(*) FROM messages GROUP BY state")
        return {str(state): int(n) for state, n in rows}

    def close(self) -> None:
        self._conn.close()


class WaitSampler:
    """What the database's active sessions wait on, sampled every POLL during a phase
    (pg_stat_activity; "CPU" when a session waits on nothing)."""

    SQL = (
        "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'), count(*) "
        "FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
        "AND pid <> pg_backend_pid() GROUP BY 1"
    )

    def __init__(self, url: str) -> None:
        self._conn = psycopg.connect(url, autocommit=True)
        self.seen: Counter[str] = Counter()
        self.samples = 0

    def sample(self) -> None:
        self.samples += 1
        for what, n in self._conn.execute(self.SQL):
            self.seen[str(what)] += int(n)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.sample)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL)

    def summary(self) -> str:
        """Mean active sessions per sample, by wait, the largest first."""
        if not self.samples:
            return ""
        top = self.seen.most_common(4)
        return ", ".join(f"{what} {n / self.samples:.1f}" for what, n in top)

    def close(self) -> None:
        self._conn.close()


@dataclass(slots=True)
class System:
    """One topology's running processes."""

    topology: Topology
    daemons: list[DaemonProcess]
    probe: Probe
    mqtt_port: int | None
    postmaster: int | None
    work: Path
    simulator: int  # the SMSC simulator's pid
    database: str | None  # PostgreSQL's URL
    pids: list[int] = field(default_factory=list)  # smsgw processes: daemons and workers

    def smsgw_cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def server_cpu(self) -> float:
        return tree_cpu(self.postmaster) if self.postmaster is not None else 0.0


@dataclass(slots=True)
class Figures:
    topology: str
    phase: str
    messages: int
    seconds: float  # first send until all delivered (inf: not all were)
    smsgw_cpu: float  # seconds, all smsgw processes
    server_cpu: float  # seconds, PostgreSQL's processes
    simulator_cpu: float  # seconds, the SMSC simulator (a bottleneck when near one core)
    note: str = ""
    waits: str = ""  # PostgreSQL's active sessions by wait event (WaitSampler.summary)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def smsgw_us(self) -> float:
        return self.smsgw_cpu / max(self.messages, 1) * 1e6

    @property
    def server_us(self) -> float:
        return self.server_cpu / max(self.messages, 1) * 1e6

    @property
    def simulator_share(self) -> float:
        """Of one core, over the phase."""
        return self.simulator_cpu / self.seconds if self.seconds else 0.0


async def wait_delivered(
    system: System, target: int, start: float, timeout: float
) -> tuple[float, str]:
    """Seconds from ``start`` until ``target`` messages are delivered in the store."""
    deadline = time.perf_counter() + timeout
    while (delivered := await asyncio.to_thread(system.probe.delivered)) < target:
        if time.perf_counter() > deadline:
            states = await asyncio.to_thread(system.probe.states)
            return float("inf"), f"{delivered} of {target} delivered after {timeout:g} s: {states}"
        await asyncio.sleep(POLL)
    return time.perf_counter() - start, ""


async def wait_outbox(system: System) -> str:
    """The status events of a phase are published before the next one starts."""
    deadline = time.perf_counter() + OUTBOX_TIMEOUT
    while (left := await asyncio.to_thread(system.probe.outbox)) > 0:
        if time.perf_counter() > deadline:
            return f"{left} status events still in the outbox after {OUTBOX_TIMEOUT:g} s"
        await asyncio.sleep(POLL)
    return ""


def recipient(n: int) -> str:
    return f"+336{n:08d}"


async def load_http_batched(system: System, n: int, first: int) -> tuple[int, list[str]]:
    batches = iter(range(first, first + n, BATCH))
    accepted = 0
    errors: list[str] = []

    async def client(http: aiohttp.ClientSession, d: DaemonProcess) -> None:
        nonlocal accepted
        headers = {"Authorization": f"Bearer {d.token}"}
        for lo in batches:
            to = [recipient(i) for i in range(lo, min(lo + BATCH, first + n))]
            body = {"from": SENDER, "to": to, "text": TEXT}
            async with http.post(f"{d.base}/v1/messages", json=body, headers=headers) as r:
                doc = await r.json()
                if r.status == 202:
                    accepted += len(doc["messages"])
                else:
                    errors.append(f"{r.status} {doc}")

    connector = aiohttp.TCPConnector(limit=HTTP_CLIENTS)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(
            *(client(http, system.daemons[i % len(system.daemons)]) for i in range(HTTP_CLIENTS))
        )
    return accepted, errors


async def load_wrk(system: System, args: argparse.Namespace) -> tuple[int, list[str]]:
    """One wrk per daemon, all at once; the messages accepted counted in the store."""
    before = sum((await asyncio.to_thread(system.probe.states)).values())
    count = len(system.daemons)
    runs = []
    for i, d in enumerate(system.daemons):
        # wrk threads number 1, 2 per wrk: distinct recipient prefixes for each wrk
        script = wrk_script(system.work, token=d.token, batch=1, offset=2 * i)
        connections = args.connections // count + (1 if i < args.connections % count else 0)
        runs.append(
            asyncio.to_thread(
                run_wrk,
                f"{d.base}/v1/messages",
                script,
                seconds=args.seconds,
                connections=connections,
            )
        )
    results = await asyncio.gather(*runs)
    failed = sum(f for _, f in results)
    after = sum((await asyncio.to_thread(system.probe.states)).values())
    errors = [f"{failed} requests failed or refused (wrk)"] if failed else []
    return after - before, errors


async def load_mqtt(system: System, n: int, first: int) -> tuple[int, list[str]]:
    assert system.mqtt_port is not None
    numbers = iter(range(first, first + n))
    quiet = logging.getLogger("bench.mqtt")
    quiet.setLevel(logging.ERROR)  # aiomqtt warns about every publish past 10 pending
    async with aiomqtt.Client(
        "127.0.0.1",
        system.mqtt_port,
        identifier=f"bench-publisher-{first}",
        max_inflight_messages=MQTT_IN_FLIGHT * 2,
        logger=quiet,
    ) as client:

        async def publisher() -> None:
            for i in numbers:
                payload = json.dumps({"from": SENDER, "to": [recipient(i)], "text": TEXT})
                await client.publish(f"smsgw/{ACCOUNT}/send", payload.encode(), qos=1)

        await asyncio.gather(*(publisher() for _ in range(MQTT_IN_FLIGHT)))
    return n, []


async def run_phase(system: System, phase: str, args: argparse.Namespace, first: int) -> Figures:
    base = await asyncio.to_thread(system.probe.delivered)
    cpu, server = system.smsgw_cpu(), system.server_cpu()
    simulator = cpu_seconds(system.simulator)
    sampler = WaitSampler(system.database) if system.database else None
    stop_sampling = asyncio.Event()
    sampling = asyncio.create_task(sampler.run(stop_sampling)) if sampler else None
    start = time.perf_counter()
    if phase == "http100":
        accepted, errors = await load_http_batched(system, args.messages, first)
    elif phase == "http1":
        accepted, errors = await load_wrk(system, args)
    else:
        accepted, errors = await load_mqtt(system, args.messages, first)
    timeout = 60.0 + accepted / 100
    seconds, note = await wait_delivered(system, base + accepted, start, timeout)
    figures = Figures(
        topology=system.topology.name,
        phase=phase,
        messages=accepted,
        seconds=seconds,
        smsgw_cpu=system.smsgw_cpu() - cpu,
        server_cpu=system.server_cpu() - server,
        simulator_cpu=cpu_seconds(system.simulator) - simulator,
    )
    stop_sampling.set()
    if sampling is not None and sampler is not None:
        await sampling
        figures.waits = sampler.summary()
        sampler.close()
    notes = [note, f"{len(errors)} refused, first: {errors[0][:160]}" if errors else ""]
    notes.append(await wait_outbox(system))
    figures.note = "; ".join(n for n in notes if n)
    return figures


def log_findings(directory: Path) -> list[str]:
    """Warnings and errors in the daemons' logs (JSON lines), counted by event."""
    found: Counter[str] = Counter()
    for log in sorted(directory.glob("**/daemon.log")):
        for line in log.read_text(errors="replace").splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                if line.strip():
                    found[f"{log.parent.name}: (not JSON) {line.strip()[:100]}"] += 1
                continue
            if not isinstance(doc, dict):
                continue
            level = str(doc.get("level", "")).lower()
            if level in {"warning", "error", "critical", "exception"}:
                found[f"{log.parent.name}: {level} {doc.get('event')}"] += 1
    return [f"{n} x {what}" for what, n in found.most_common(12)]


async def measure_topology(
    topology: Topology,
    work: Path,
    server: PostgresServer | None,
    round_: int,
    args: argparse.Namespace,
) -> tuple[list[Figures], list[str]]:
    directory = work / f"{topology.name}-r{round_}"
    directory.mkdir(parents=True)
    simulator, smsc_port = start_simulator()
    broker = start_mosquitto(directory / "mosquitto") if "mqtt" in args.phases else None
    mqtt_port = broker[1] if broker is not None else None
    daemons: list[DaemonProcess] = []
    probe: Probe | None = None
    findings: list[str] = []
    url = ""
    try:
        if topology.postgres:
            assert server is not None
            url = server.create_database(f"bench_{topology.name.replace('-', '_')}_{round_}")
            token = await prepare_store(directory / "prepare", "full", url)
            members = [
                ClusterMember(store_url=url, worker=f"gw-{i + 1}", token=token)
                for i in range(topology.daemons)
            ]
            daemons = list(
                await asyncio.gather(
                    *(
                        start_daemon(
                            directory / m.worker,
                            smsc_port=smsc_port,
                            mqtt_port=mqtt_port,
                            synchronous="full",
                            cluster=m,
                        )
                        for m in members
                    )
                )
            )
            probe = PostgresProbe(url)
        else:
            daemons = [
                await start_daemon(
                    directory / "gw",
                    smsc_port=smsc_port,
                    mqtt_port=mqtt_port,
                    synchronous="full",
                    workers=topology.workers,
                )
            ]
            probe = StoreProbe(daemons[0].db)
        system = System(
            topology=topology,
            daemons=daemons,
            probe=probe,
            mqtt_port=mqtt_port,
            postmaster=server.process.pid
            if topology.postgres and server and server.process
            else None,
            work=directory,
            simulator=simulator.pid,
            database=url if topology.postgres else None,
            pids=[pid for d in daemons for pid in (d.pid, *d.children())],
        )
        results = []
        for k, phase in enumerate(args.phases):
            if phase == "mqtt" and mqtt_port is None:
                print("  mqtt: mosquitto is not installed, phase skipped")
                continue
            print(f"  {topology.name} {phase}...", flush=True)
            figures = await run_phase(system, phase, args, first=(k + 1) * 10_000_000)
            print(
                f"    {figures.messages:,} messages, {figures.rate:,.0f} msg/s,"
                f" smsgw {figures.smsgw_us:,.0f} us/msg ({len(system.pids)} processes),"
                f" PostgreSQL {figures.server_us:,.0f} us/msg,"
                f" simulator {figures.simulator_share:.0%} of a core"
                + (f" ({figures.note})" if figures.note else "")
                + (f"\n    PostgreSQL sessions by wait: {figures.waits}" if figures.waits else ""),
                flush=True,
            )
            results.append(figures)
        return results, findings
    finally:
        for d in daemons:
            status = d.stop()
            if status not in {0, None}:
                findings.append(f"{d.directory.name} exited with status {status}")
        if probe is not None:
            probe.close()
        if broker is not None:
            stop(broker[0])
        stop(simulator)
        findings += log_findings(directory)


Results = dict[tuple[int, str, str], Figures]  # (round, topology, phase)


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}" if base else ""


def table(results: Results, args: argparse.Namespace) -> str:
    lines = [
        (
            "| round | topology | phase | messages | msg/s | smsgw CPU us/msg | PostgreSQL CPU"
            " us/msg | simulator | /sqlite-1 | /pg-(N-1) | /5,000 |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for round_ in range(args.rounds):
        for phase in args.phases:
            for name in args.topologies:
                f = results.get((round_, name, phase))
                if f is None:
                    continue
                sqlite = results.get((round_, "sqlite-1", phase))
                previous = None
                if name.startswith("pg-") and name != "pg-1":
                    previous = results.get((round_, f"pg-{int(name[3:]) - 1}", phase))
                pg = f"{f.server_us:,.0f}" if TOPOLOGIES[name].postgres else ""
                lines.append(
                    f"| {round_ + 1} | {name} | {PHASE_LABELS[phase]} | {f.messages:,}"
                    f" | {f.rate:,.0f} | {f.smsgw_us:,.0f} | {pg} | {f.simulator_share:.0%}"
                    f" | {_ratio(f.rate, sqlite.rate if sqlite and name != 'sqlite-1' else None)}"
                    f" | {_ratio(f.rate, previous.rate if previous else None)}"
                    f" | {f.rate / TARGET:.2f} |"
                )
    return "\n".join(lines)


def means(results: Results, args: argparse.Namespace) -> str:
    """Over all rounds: messages over seconds, CPU over messages."""
    lines = [
        (
            "| topology | phase | msg/s (each round) | smsgw CPU us/msg | PostgreSQL CPU us/msg"
            " | /sqlite-1 | /pg-(N-1) | /5,000 |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    rate: dict[tuple[str, str], float] = {}
    for phase in args.phases:
        for name in args.topologies:
            runs = [r for (_, t, p), r in results.items() if (t, p) == (name, phase)]
            if runs:
                rate[name, phase] = sum(r.messages for r in runs) / sum(r.seconds for r in runs)
    for phase in args.phases:
        for name in args.topologies:
            runs = [r for (_, t, p), r in sorted(results.items()) if (t, p) == (name, phase)]
            if not runs:
                continue
            messages = sum(r.messages for r in runs)
            each = " / ".join(f"{r.rate:,.0f}" for r in runs)
            smsgw = sum(r.smsgw_cpu for r in runs) / messages * 1e6
            pg = (
                f"{sum(r.server_cpu for r in runs) / messages * 1e6:,.0f}"
                if TOPOLOGIES[name].postgres
                else ""
            )
            previous = (
                rate.get((f"pg-{int(name[3:]) - 1}", phase))
                if name.startswith("pg-") and name != "pg-1"
                else None
            )
            sqlite = rate.get(("sqlite-1", phase)) if name != "sqlite-1" else None
            r = rate[name, phase]
            lines.append(
                f"| {name} | {PHASE_LABELS[phase]} | {r:,.0f} ({each}) | {smsgw:,.0f} | {pg}"
                f" | {_ratio(r, sqlite)} | {_ratio(r, previous)} | {r / TARGET:.2f} |"
            )
    return "\n".join(lines)


@contextlib.contextmanager
def postgres_server(wanted: bool) -> Iterator[PostgresServer | None]:
    """The private durable server, when a topology needs one."""
    if not wanted:
        yield None
        return
    bindir = find_bindir()
    if bindir is None:
        sys.exit(MISSING_BINARIES)
    try:
        directory, run_as, _ = workspace(lambda: Path(tempfile.mkdtemp(prefix="smsgw-pg-")))
    except NoServerUser as exc:
        sys.exit(str(exc))
    try:
        with running_server(
            bindir=bindir, directory=directory, run_as=run_as, durable=True
        ) as server:
            yield server
    finally:  # a directory of our own, root or not
        shutil.rmtree(directory, ignore_errors=True)


async def bench(server: PostgresServer | None, args: argparse.Namespace) -> Results:
    results: Results = {}
    with tempfile.TemporaryDirectory(prefix="smsgw-cluster-") as tmp:
        for round_ in range(args.rounds):
            for name in args.topologies:
                print(f"round {round_ + 1}: {name}", flush=True)
                figures, findings = await measure_topology(
                    TOPOLOGIES[name], Path(tmp), server, round_, args
                )
                for f in figures:
                    results[round_, name, f.phase] = f
                for line in findings:
                    print(f"    log: {line}")
    return results


def _names(text: str, known: tuple[str, ...] | list[str]) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        msg = f"unknown {', '.join(unknown) or '(none)'}; choose from {', '.join(known)}"
        raise argparse.ArgumentTypeError(msg)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=10_000, help="per http100 and mqtt phase")
    parser.add_argument("--seconds", type=float, default=6.0, help="of wrk load (http1 phase)")
    parser.add_argument("--connections", type=int, default=36, help="wrk's, split over daemons")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--topologies",
        type=lambda t: _names(t, list(TOPOLOGIES)),
        default=list(TOPOLOGIES),
        help=f"comma-separated, of {','.join(TOPOLOGIES)}",
    )
    parser.add_argument(
        "--phases",
        type=lambda t: _names(t, PHASES),
        default=list(PHASES),
        help=f"comma-separated, of {','.join(PHASES)}",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None and "http1" in args.phases:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    wanted = any(TOPOLOGIES[t].postgres for t in args.topologies)
    started = time.perf_counter()
    with postgres_server(wanted) as server:
        if server is not None:
            version = server.psql("SHOW server_version")
            fsync = server.psql("SHOW fsync")
            sync = server.psql("SHOW synchronous_commit")
            print(
                f"PostgreSQL {version} on 127.0.0.1:{server.port},"
                f" fsync={fsync}, synchronous_commit={sync}"
            )
        print(
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start;"
            f" {args.messages:,} messages per http100/mqtt phase, wrk {args.seconds:g} s"
            f" with {args.connections} connections, receipts on, window 64",
            flush=True,
        )
        results = asyncio.run(bench(server, args))
    print(
        f"\nload average {os.getloadavg()[0]:.2f} at the end, {time.perf_counter() - started:.0f} s"
    )
    print()
    print(table(results, args))
    if args.rounds > 1:
        print()
        print(means(results, args))
    print(
        "\nmsg/s: first send until all delivered (receipts stored); CPU: user + system"
        " of every smsgw process (daemons and workers) and of PostgreSQL's processes, per"
        " message; /sqlite-1: against sqlite-1 in the same round; /pg-(N-1): pg-N against"
        " pg-(N-1); /5,000: against the target; simulator: the SMSC simulator's CPU, share of"
        " one core"
    )


if __name__ == "__main__":
    main()
