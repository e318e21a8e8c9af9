"""Messages per second through the whole daemon: HTTP and MQTT in, SMPP out, receipts back.

Three processes: the SMSC simulator (``--dlr --quiet``, one receipt per
submit_sm), the daemon (``python -m gateway run``, SQLite store in a temporary
directory, one SMPP link with window 64) and this process, which generates
the load and reads the store read-only (WAL) every 100 ms. Mosquitto runs as
a fourth process for the MQTT phase when it is installed.

Phases, per store durability setting (``synchronous`` full, then normal):
  1. HTTP: N messages in concurrent POSTs of many recipients, timed from the
     first POST until all N are ``delivered``; ingest (accepted/s as the POSTs
     return) and submit (segments with submitted_at) rates beside it.
  2. MQTT: N messages published with QoS 1, several recipients per payload.
  3. Latency at a fixed offered rate (1,000 msg/s): p50/p99 of submitted_at -
     created_at (accepted and committed -> submit_sm_resp received).
Baselines from the same run, against the same simulator with the same window
and receipts on: the bare asyncio client (benchmarks/raw_smpp.py, label "raw
asyncio client", ratio column /raw), the SMPP link alone (``SmppLink`` driven
from this process the way the daemon's dispatcher drives it, ratio column
/link) and the target of 5,000 msg/s (/5000). The machine is shared: figures
vary from run to run, ratios less so. Usage::

    python benchmarks/e2e.py [--messages 20000] [--quick] [--sync full,normal]
                             [--repeat 2] [--compare-no-mqtt] [--delay-run]
                             [--profile [--profile-native]]
                             [--workers 0,1]

--workers runs every phase with each ``[workers] count`` (default 0, then 1:
ingest and events in a worker process); the CPU column counts the workers
beside the daemon, and us/msg sums them.

--compare-no-mqtt adds a daemon without [mqtt] (no status events published),
--delay-run an SMSC that answers after 10 ms (both baselines, then the daemon
with the last --workers count), --profile two py-spy views of the daemon
during the first HTTP phase (every busy thread; the GIL holder).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.e2e_phases import (
    TARGET,
    Latency,
    Result,
    link_alone,
    phase_http,
    phase_latency,
    phase_mqtt,
    raw_alone,
)
from benchmarks.e2e_profile import Profile, start_recording, summarize
from benchmarks.e2e_system import (
    StoreProbe,
    start_daemon,
    start_mosquitto,
    start_simulator,
    stop,
    writer_seconds,
)
from gateway.runtime.worker import WRITER_STATS_EVERY

# --- orchestration ---------------------------------------------------------------


@dataclass
class Run:
    results: list[Result] = field(default_factory=list)
    latencies: dict[str, Latency] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    loads: list[tuple[str, tuple[float, float, float]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def load(self, when: str) -> None:
        self.loads.append((when, os.getloadavg()))


@contextlib.asynccontextmanager
async def store_lock(d: Any) -> AsyncIterator[dict[str, list[float]]]:
    """Share of the phase each process's store writer held the write lock, waited for
    it, used CPU and committed, holding it (filled in when the phase is over;
    workers report every WRITER_STATS_EVERY seconds)."""
    shares: dict[str, list[float]] = {}
    async with aiohttp.ClientSession() as http:
        before = await writer_seconds(http, d.base)
        start = time.perf_counter()
        yield shares
        report_wait = WRITER_STATS_EVERY + 0.1  # past the workers' next report
        await asyncio.sleep(report_wait)
        after = await writer_seconds(http, d.base)
        wall = time.perf_counter() - start - report_wait
    for process, figures in after.items():
        was = before.get(process, [0.0] * len(figures))
        shares[process] = [(now - then) / wall for now, then in zip(figures, was, strict=True)]


Recordings = dict[str, tuple[subprocess.Popen[bytes], Path]]  # view -> py-spy, its output


def start_profiles(pid: int, work: Path, args: argparse.Namespace) -> Recordings:
    """py-spy on the daemon in every view of PROFILE_VIEWS, for about one HTTP phase."""
    recordings = {}
    for view, gil in PROFILE_VIEWS.items():
        raw = work / f"daemon-profile-{'gil' if gil else 'all'}.txt"
        rec = start_recording(
            pid,
            seconds=max(3.0, args.messages / 2_500),
            output=raw,
            gil=gil,
            native=args.profile_native,
        )
        if rec is not None:
            recordings[view] = (rec, raw)
    return recordings


async def finish_profiles(run: Run, recordings: Recordings, args: argparse.Namespace) -> None:
    """Wait for the recordings to end and keep their summaries in ``run``."""
    for view, (rec, raw) in recordings.items():
        await asyncio.to_thread(rec.wait, 60)
        if raw.exists():
            run.profiles[view] = summarize(raw)
            if args.profile_raw is not None:
                shutil.copyfile(raw, f"{args.profile_raw}.{raw.stem.rsplit('-', 1)[1]}")


async def daemon_phases(  # noqa: PLR0917 - one call site, the benchmark's plan
    run: Run,
    work: Path,
    sim: Any,
    smsc_port: int,
    mqtt_port: int | None,
    sync: str,
    args: argparse.Namespace,
    workers: int = 0,
    broker_pid: int | None = None,
) -> None:
    n = args.messages
    counter = itertools.count(0, 1_000_000)
    tag = sync if mqtt_port is not None else f"{sync}, no MQTT"
    if workers:
        tag += f", {workers} worker{'s' if workers > 1 else ''}"
    d = await start_daemon(
        work / f"gw-{sync}{'' if mqtt_port else '-no-mqtt'}-w{workers}",
        smsc_port=smsc_port,
        mqtt_port=mqtt_port,
        synchronous=sync,
        python_args=args.daemon_python_args,
        workers=workers,
    )
    probe = StoreProbe(d.db)
    pids = {"daemon": d.pid, "smsc-sim": sim.pid, "bench": os.getpid()}
    pids |= {f"daemon worker-{i + 1}": pid for i, pid in enumerate(d.children())}
    if broker_pid is not None and mqtt_port is not None:
        pids["mosquitto"] = broker_pid  # on the same cores: its share counts
    try:
        for attempt in range(args.repeat):
            profiled = args.profile and attempt == 0 and not run.profiles
            recordings = start_profiles(d.pid, work, args) if profiled else {}
            run.load(f"http #{attempt + 1} ({tag})")
            async with store_lock(d) as shares:
                result = await phase_http(
                    d, probe, pids, label=f"HTTP {tag} #{attempt + 1}", n=n, first=next(counter)
                )
            result.store = shares
            run.results.append(result)
            await finish_profiles(run, recordings, args)
        if mqtt_port is not None:
            for attempt in range(args.repeat):
                run.load(f"mqtt #{attempt + 1} ({tag})")
                async with store_lock(d) as shares:
                    result = await phase_mqtt(
                        d,
                        probe,
                        pids,
                        label=f"MQTT {tag} #{attempt + 1}",
                        n=n,
                        first=next(counter),
                        mqtt_port=mqtt_port,
                    )
                result.store = shares
                run.results.append(result)
        run.load(f"latency ({tag})")
        run.latencies[tag] = await phase_latency(
            d, probe, rate=args.rate, seconds=args.latency_seconds, per_post=10, first=next(counter)
        )
    finally:
        probe.close()
        code = d.stop()
        log = (d.directory / "daemon.log").read_text(errors="replace").splitlines()
        warnings = sum('"level": "warning"' in line for line in log)
        run.notes.append(f"daemon log ({tag}): {len(log):,} lines, {warnings:,} warnings")
        if code:
            print(
                f"daemon ({tag}) exited with status {code}; log: {d.directory}/daemon.log",
                file=sys.stderr,
            )


async def delay_run(run: Run, work: Path, args: argparse.Namespace) -> None:
    """The SMSC answers after 10 ms: the window bounds the rate at 64 / 0.010 = 6,400/s."""
    sim, port = start_simulator(delay=0.01)
    workers = args.workers[-1]
    try:
        for baseline in (raw_alone, link_alone):
            alone = await baseline(port, args.messages)
            alone.label += ", SMSC delay 10 ms"
            run.results.append(alone)
        d = await start_daemon(
            work / "gw-delay",
            smsc_port=port,
            mqtt_port=None,
            synchronous=args.sync[0],  # no MQTT: no status events
            python_args=args.daemon_python_args,
            workers=workers,
        )
        probe = StoreProbe(d.db)
        pids = {"daemon": d.pid, "smsc-sim": sim.pid, "bench": os.getpid()}
        pids |= {f"daemon worker-{i + 1}": pid for i, pid in enumerate(d.children())}
        tag = f", {workers} worker{'s' if workers > 1 else ''}" if workers else ""
        try:
            run.load("http (delay 10 ms)")
            run.results.append(
                await phase_http(
                    d,
                    probe,
                    pids,
                    label=f"HTTP {args.sync[0]}, no MQTT{tag}, SMSC delay 10 ms",
                    n=args.messages,
                    first=0,
                )
            )
        finally:
            probe.close()
            d.stop()
    finally:
        stop(sim)


async def bench(args: argparse.Namespace) -> Run:
    run = Run()
    with tempfile.TemporaryDirectory(prefix="smsgw-bench-") as tmp:
        work = Path(tmp)
        sim, smsc_port = start_simulator()
        broker = start_mosquitto(work / "mosquitto") if not args.no_mqtt else None
        try:
            run.load("start")
            for workers in args.workers:
                for sync in args.sync:
                    await daemon_phases(
                        run,
                        work,
                        sim,
                        smsc_port,
                        broker[1] if broker else None,
                        sync,
                        args,
                        workers,
                        broker_pid=broker[0].pid if broker else None,
                    )
                if args.compare_no_mqtt and broker is not None:
                    await daemon_phases(
                        run, work, sim, smsc_port, None, args.sync[0], args, workers
                    )
            run.load("link alone")
            for _ in range(args.repeat):
                run.results.append(await raw_alone(smsc_port, args.messages))
                run.results.append(await link_alone(smsc_port, args.messages))
            if args.delay_run:
                await delay_run(run, work, args)
            run.load("end")
        finally:
            stop(sim)
            if broker is not None:
                stop(broker[0])
    return run


# --- report --------------------------------------------------------------------------


def report(run: Run, args: argparse.Namespace) -> None:
    def ceiling(baseline: str, delayed: bool) -> float:
        rates = [
            r.rate
            for r in run.results
            if r.label.startswith(baseline) and ("delay" in r.label) == delayed
        ]
        return statistics.median(rates) if rates else float("nan")

    print(
        f"\nsmsgw end-to-end benchmark: {args.messages:,} messages per phase, one SMPP link "
        f"(window 64, receipts on), SQLite store, {os.cpu_count()} CPUs"
    )
    print(
        f"{'run':<40} {'msgs/s e2e':>11} {'/raw':>6} {'/link':>6} {'/5000':>6} "
        f"{'ingest/s':>9} {'submit/s':>9} {'seconds':>8} {'events+s':>8} {'us/msg':>7}  "
        f"cpu (share of one core)"
    )
    for r in run.results:
        delayed = "delay" in r.label
        raw = r.rate / ceiling(RAW, delayed) if not r.label.startswith(RAW) else float("nan")
        link = (
            r.rate / ceiling(LINK, delayed) if not r.label.startswith((RAW, LINK)) else float("nan")
        )
        cpu = " ".join(f"{k} {v:.0%}" for k, v in r.cpu.items())
        print(
            f"{r.label:<40} {r.rate:>11,.0f} {_ratio(raw):>6} {_ratio(link):>6} "
            f"{r.rate / TARGET:>6.2f} "
            f"{_num(r.ingest):>9} {_num(r.submit):>9} {r.seconds:>8.2f} "
            f"{'-' if r.events_lag is None else f'{r.events_lag:.1f}':>8} "
            f"{'-' if r.daemon_us is None else f'{r.daemon_us:,.0f}':>7}  {cpu}"
        )
        if r.note:
            print(f"{'':<40} {r.note}")
        if r.store:
            held = sum(figures[0] for figures in r.store.values())
            print(
                f"{'':<40} store write lock held {held:.0%} of the time: "
                + ", ".join(
                    f"{p} {busy:.0%} (CPU {cpu:.0%}, commits {commit:.0%}; waited {wait:.0%})"
                    for p, (busy, wait, cpu, commit) in r.store.items()
                )
            )
    print(
        "e2e: first send -> all delivered (store polled every 100 ms); /raw: e2e / the bare "
        "asyncio client (benchmarks/raw_smpp.py); /link: e2e / SmppLink alone; /5000: e2e / "
        "target; ingest/s: accepted as the POSTs return; submit/s: all segments accepted by "
        "the SMSC; events+s: from all delivered until every status event is published (the "
        "next phase waits for it); us/msg: the daemon's CPU time (all threads) per message, "
        "the steadiest figure on a shared machine; mosquitto: the broker, on the same cores"
    )
    if any("delay" in r.label for r in run.results):
        print(
            "(SMSC delay 10 ms: a window of 64 allows at most 64 / 0.010 = 6,400 msg/s; "
            "/raw and /link compare with the baselines at the same delay)"
        )
    for line in run.notes:
        print(line)
    for sync, lat in run.latencies.items():
        print(
            f"\nlatency at {lat.offered:,.0f} msg/s offered ({sync}, POSTs of 10, "
            f"{lat.samples:,} segments): accepted->submit_sm_resp p50 "
            f"{lat.submit_p50 * 1000:.1f} ms, p99 {lat.submit_p99 * 1000:.1f} ms; "
            f"POST round trip p50 {lat.accept_p50 * 1000:.1f} ms, "
            f"p99 {lat.accept_p99 * 1000:.1f} ms {lat.note}"
        )
    for view, p in run.profiles.items():
        report_profile(view, p)
    print(
        "\nload average (1, 5, 15 min): "
        + "; ".join(f"{when} {a:.2f} {b:.2f} {c:.2f}" for when, (a, b, c) in run.loads)
    )


def report_profile(view: str, p: Profile) -> None:
    print(
        f"\ndaemon during the first HTTP phase, py-spy at 200 Hz, {view}: "
        f"{p.samples:,} samples, main thread {p.threads.get('main', 0):,}, "
        f"store threads {p.threads.get('other', 0):,}"
    )
    print("  by part of the daemon (inclusive; a sample may count in two parts):")
    for name, share in p.areas:
        print(f"    {share:6.1%}  {name}")
    print("  functions by own time:")
    for name, share in p.own[:10]:
        print(f"    {share:6.1%}  {name}")
    print("  functions by inclusive time:")
    shown = [(n, v) for n, v in p.inclusive if not n.startswith(_FRAMEWORK)]
    for name, share in shown[:12]:
        print(f"    {share:6.1%}  {name}")


RAW = "raw asyncio client"  # the baselines' labels
LINK = "SmppLink alone"
_FRAMEWORK = (
    "asyncio/",
    "<frozen",
    "runpy.py",
    "threading.py",
    "gateway/__main__.py",
    "gateway/cli/",
    "concurrent/",
    "selectors.py",
    "contextlib.py",
)
# py-spy views: every thread that is not idle (includes waits for the GIL and time in
# SQLite's C code with the GIL released), and the thread holding the GIL only
PROFILE_VIEWS = {"threads not idle": False, "GIL holder only": True}


def _num(value: float) -> str:
    return f"{value:,.0f}" if value else "-"


def _ratio(value: float) -> str:
    return "-" if value != value else f"{value:.2f}"  # NaN: no ratio  # noqa: PLR0124


SWITCH_LAUNCHER = (
    "import runpy, sys; sys.setswitchinterval(float(sys.argv[1])); "
    "sys.argv = ['gateway', *sys.argv[4:]]; runpy.run_module('gateway', run_name='__main__')"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000, help="messages per phase")
    parser.add_argument(
        "--quick", action="store_true", help="5,000 messages, full only, 5 s of latency, no repeat"
    )
    parser.add_argument(
        "--sync", default="full,normal", help="SQLite synchronous settings to run, comma-separated"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each phase")
    parser.add_argument("--rate", type=float, default=1_000.0, help="latency phase msg/s")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument(
        "--delay-run", action="store_true", help="also run with a 10 ms SMSC response delay"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the daemon with py-spy during the first HTTP phase",
    )
    parser.add_argument(
        "--profile-native",
        action="store_true",
        help="with --profile: C frames too (py-spy --native)",
    )
    parser.add_argument(
        "--profile-raw", type=Path, default=None, help="keep py-spy's collapsed stacks in this file"
    )
    parser.add_argument(
        "--cprofile",
        type=Path,
        default=None,
        help="run the daemon under cProfile, writing this file",
    )
    parser.add_argument("--no-mqtt", action="store_true", help="no broker, no MQTT phase")
    parser.add_argument(
        "--compare-no-mqtt",
        action="store_true",
        help="also run HTTP and latency with a daemon that has no [mqtt]",
    )
    parser.add_argument(
        "--workers", default="0,1", help="[workers] count settings to run, comma-separated"
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="experiment: the daemon's sys.setswitchinterval (GIL hand-over)",
    )
    args = parser.parse_args()
    if args.quick:
        args.messages = min(args.messages, 5_000)
        args.sync = "full"
        args.latency_seconds = 5.0
    args.sync = [s.strip() for s in args.sync.split(",") if s.strip()]
    args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    args.daemon_python_args = (
        ["-m", "cProfile", "-o", str(args.cprofile.resolve())] if args.cprofile else []
    )
    if args.switch_interval is not None:
        # run "-m gateway ..." through a one-line launcher that sets the interval first
        args.daemon_python_args = ["-c", SWITCH_LAUNCHER, str(args.switch_interval)]
    report(asyncio.run(bench(args)), args)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
