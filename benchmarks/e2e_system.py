"""Processes for the end-to-end benchmark: SMSC simulator, Mosquitto, the daemon.

Each runs as its own process with its files in one temporary directory; the
benchmark process only generates load and reads the SQLite file read-only.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from gateway.model.message import SenderKind, SenderStatus
from gateway.store import open_store
from gateway.store.sqlite.events import pending_event_count

ACCOUNT = "bench"
SENDER = "BENCH"
TOPUP = 100_000_000
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None) -> int | None:
    """SIGTERM, then SIGKILL after 20 s; the exit status."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def start_simulator(*, delay: float = 0.0) -> tuple[subprocess.Popen[str], int]:
    """``python -m drivers.smpp.simulator --dlr --quiet``; its first line gives the port."""
    args = [sys.executable, "-m", "drivers.smpp.simulator", "--port", "0", "--dlr", "--quiet"]
    if delay:
        args += ["--delay", str(delay)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)  # noqa: S603 - own command
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        stop(proc)
        msg = "the SMSC simulator exited before announcing its port"
        raise RuntimeError(msg)
    return proc, int(json.loads(line)["port"])


def start_mosquitto(directory: Path) -> tuple[subprocess.Popen[bytes], int] | None:
    """A private broker on a free port, or None when mosquitto is not installed."""
    exe = next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    ) or shutil.which("mosquitto")
    if exe is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = directory / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                f"listener {port} 127.0.0.1",
                "allow_anonymous true",
                "persistence false",
                f"log_dest file {directory / 'mosquitto.log'}",
                "log_type error",
                "log_type warning",
                # the daemon's persistent session may lag behind the publisher: queue everything
                "max_queued_messages 0",
                "max_queued_bytes 0",
                *(["user root"] if _is_root() else []),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(  # noqa: S603
        [exe, "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.02)
    stop(proc)
    msg = f"mosquitto did not start (see {directory / 'mosquitto.log'})"
    raise RuntimeError(msg)


def _is_root() -> bool:
    return os.geteuid() == 0


def write_config(
    directory: Path,
    *,
    smsc_port: int,
    http_port: int,
    mqtt_port: int | None,
    synchronous: str,
    workers: int = 0,
    cluster: ClusterMember | None = None,
) -> Path:
    """The daemon's configuration; ``cluster``: one of several daemons on PostgreSQL."""
    client_id = cluster.worker if cluster else "gw-bench"
    shared = f'shared_group = "{cluster.shared_group}"\n' if cluster else ""
    mqtt = (
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{mqtt_port}"\nclient_id = "{client_id}"\n{shared}'
        if mqtt_port
        else ""
    )
    store = (
        f'url = "{cluster.store_url}"'
        if cluster
        else f'url = "sqlite:gw.db"\nsynchronous = "{synchronous}"'
    )
    path = directory / "gateway.toml"
    path.write_text(
        f"""
[store]
{store}

[http]
listen = "127.0.0.1:{http_port}"

[workers]
count = {workers}

[dispatcher]
worker = "{cluster.worker if cluster else "bench"}"
ready_timeout = 10

[log]
level = "info"
json = true

{mqtt}
[[link]]
name = "smsc-1"
driver = "smpp"
host = "127.0.0.1"
port = {smsc_port}
system_id = "gw"
password = "secret"
window = 64
routes = ["*"]
""",
        encoding="utf-8",
    )
    return path


async def prepare_store(directory: Path, synchronous: str, url: str = "sqlite:gw.db") -> str:
    """Account, credit, approved sender, price 1 for every destination; the API token."""
    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before any load
    store = await open_store(url, base=directory, synchronous=synchronous)
    try:
        await store.create_account(ACCOUNT)
        await store.topup(ACCOUNT, TOPUP, reference="bench-topup")
        await store.add_sender(ACCOUNT, SENDER, SenderKind.ALPHA)
        await store.set_sender_status(ACCOUNT, SENDER, SenderStatus.APPROVED)
        await store.set_price("+", 1)
        _, token = await store.create_token(ACCOUNT)
        return token
    finally:
        await store.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterMember:
    """One of several daemons on one PostgreSQL store (benchmarks/cluster.py)."""

    store_url: str
    worker: str  # [dispatcher] worker and [mqtt] client_id
    token: str  # the store is prepared once, by the caller
    shared_group: str = "smsgw"


@dataclass
class DaemonProcess:
    """``python -m gateway run -c CONFIG`` with its log in the directory."""

    directory: Path
    http_port: int
    token: str
    proc: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def db(self) -> Path:
        return self.directory / "gw.db"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> int | None:
        return stop(self.proc)

    def children(self) -> list[int]:
        """The daemon's child processes (its workers), from Linux /proc."""
        found: list[int] = []
        for task in Path(f"/proc/{self.pid}/task").glob("*/children"):
            try:
                found += [int(pid) for pid in task.read_text().split()]
            except OSError:
                continue
        return found


def _spawn(args: list[str], directory: Path) -> subprocess.Popen[bytes]:
    with (directory / "daemon.log").open("wb") as log:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )


async def start_daemon(
    directory: Path,
    *,
    smsc_port: int,
    mqtt_port: int | None,
    synchronous: str,
    python_args: Sequence[str] = (),
    workers: int = 0,
    cluster: ClusterMember | None = None,
) -> DaemonProcess:
    """Prepare a fresh store, start the daemon, wait for /readyz (link bound).

    ``python_args`` go between the interpreter and ``-m gateway`` (e.g. cProfile).
    ``cluster``: a daemon on a PostgreSQL store already prepared (its token given).
    """
    if cluster is None:
        token = await prepare_store(directory, synchronous)
    else:
        directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before any load
        token = cluster.token
    http_port = free_port()
    config = write_config(
        directory,
        smsc_port=smsc_port,
        http_port=http_port,
        mqtt_port=mqtt_port,
        synchronous=synchronous,
        workers=workers,
        cluster=cluster,
    )
    proc = _spawn(
        [sys.executable, *python_args, "-m", "gateway", "run", "-c", str(config)], directory
    )
    daemon = DaemonProcess(directory=directory, http_port=http_port, token=token, proc=proc)
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as http:
        while True:
            if proc.poll() is not None:
                tail = (directory / "daemon.log").read_text(errors="replace")[-2000:]
                msg = f"the daemon exited with status {proc.returncode}:\n{tail}"
                raise RuntimeError(msg)
            try:
                async with http.get(f"{daemon.base}/readyz") as r:
                    if r.status == 200:
                        return daemon
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                daemon.stop()
                msg = f"the daemon was not ready after {START_TIMEOUT} s"
                raise RuntimeError(msg)
            await asyncio.sleep(0.05)


class StoreProbe:
    """Read-only counts on the daemon's SQLite file (WAL: never blocks the writer)."""

    def __init__(self, db: Path) -> None:
        self._conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)

    def delivered(self) -> int:
        row = self._conn.execute(
            "SELECT count(*) FROM messages WHERE state = 'delivered'"
        ).fetchone()
        return int(row[0])

    def submitted(self) -> int:
        row = self._conn.execute(
            "SELECT count(*) FROM segments WHERE submitted_at IS NOT NULL"
        ).fetchone()
        return int(row[0])

    def outbox(self) -> int:
        """Status events not yet published (the publisher deletes a row on PUBACK)."""
        return pending_event_count(self._conn)

    def states(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT state, count(*) FROM messages GROUP BY state")
        return {str(state): int(n) for state, n in rows}

    def latencies(self, since: float) -> list[float]:
        """submitted_at - created_at of the segments of messages created after ``since``."""
        rows = self._conn.execute(
            "SELECT s.submitted_at - m.created_at FROM messages m "
            "JOIN segments s ON s.message_id = m.id "
            "WHERE m.created_at >= ? AND s.submitted_at IS NOT NULL",
            (since,),
        )
        return sorted(float(r[0]) for r in rows)

    def close(self) -> None:
        self._conn.close()


WRITER_FIGURES = ("busy_seconds", "lock_wait_seconds", "cpu_seconds", "commit_seconds")


async def writer_seconds(http: aiohttp.ClientSession, base: str) -> dict[str, list[float]]:
    """Each process's store writer figures (WRITER_FIGURES, cumulative seconds), from the
    daemon's /metrics (workers report theirs every second)."""
    async with http.get(f"{base}/metrics") as r:
        text = await r.text()
    found: dict[str, list[float]] = {}
    names = {f"smsgw_store_{f}": i for i, f in enumerate(WRITER_FIGURES)}
    for family in text_string_to_metric_families(text):
        slot = names.get(family.name)
        if slot is not None:
            for sample in family.samples:
                figures = found.setdefault(sample.labels["process"], [0.0] * len(names))
                figures[slot] = sample.value
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0.0 when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """User + system CPU seconds of a process and its direct children (PostgreSQL's
    postmaster and its backends, the WAL writer...), from /proc."""
    tick = 1.0 / float(os.sysconf("SC_CLK_TCK"))
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited meanwhile
        # after the name: state, ppid, ...; utime and stime are fields 14 and 15 of stat
        fields = text[text.rindex(")") + 2 :].split()
        if int(stat.parent.name) == root or int(fields[1]) == root:
            total += (int(fields[11]) + int(fields[12])) * tick
    return total
