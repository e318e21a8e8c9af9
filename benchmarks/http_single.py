"""One recipient per HTTP request, end to end, against the batched path and aiohttp's floor.

wrk (Debian: apt-get install wrk) loads three servers in turn with the same
connections (``--connections``, 32) for ``--seconds`` each:

1. floor: benchmarks/http_floor.py, a trivial aiohttp handler in its own
   process (read the JSON body, answer 202): what aiohttp itself costs per
   request on this machine;
2. single: the daemon (SQLite store, one SMPP link with window 64 to the
   SMSC simulator, a receipt per message, default configuration), one
   recipient per ``POST /v1/messages``;
3. batched: a fresh daemon, 100 recipients per POST.

For the daemon, "msg/s" is end to end: messages accepted during the load,
over the time from the first request until the last of them is
``delivered`` (its receipt stored). "CPU us/msg" is the daemon's user +
system CPU (with its workers, /proc) over the same time, per message; for
the floor, per request. Ratios: single against batched and against the
floor, and against the target of 5,000 msg/s. Then the least CPU a message
sent alone can cost: a batched message's plus aiohttp's trivial request
(what no change to smsgw's request path can go below), and the rate that
allows per core. ``--profile`` samples the daemon with py-spy during the
single phase and prints where its time goes.
Usage::

    python benchmarks/http_single.py [--seconds 10] [--connections 32]
                                     [--rounds 1] [--workers 0] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import re
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
    SENDER,
    DaemonProcess,
    StoreProbe,
    cpu_seconds,
    free_port,
    start_daemon,
    start_simulator,
    stop,
)

TARGET = 5_000.0  # msg/s with one recipient per request (the target)
TEXT = "Your code is 482913. It expires in 10 minutes. Do not share it."  # one GSM segment
BATCH = 100
DRAIN_TIMEOUT = 120.0  # seconds for the accepted messages to be delivered after the load
POLL = 0.1

# wrk's script: a POST per request, unique recipients per thread and request
LUA = """
local threads = 0
local counter = 0
local token = "%(token)s"
local batch = %(batch)d
setup = function(thread)
  threads = threads + 1
  thread:set("prefix", threads + %(offset)d)
end
request = function()
  counter = counter + 1
  local to
  if batch == 1 then
    to = string.format('"+4479%%02d%%06d"', prefix, counter)
  else
    local numbers = {}
    for i = 1, batch do
      numbers[i] = string.format('"+4479%%02d%%06d"', prefix, counter * batch + i)
    end
    to = "[" .. table.concat(numbers, ",") .. "]"
  end
  local body = '{"from":"%(sender)s","to":' .. to .. ',"text":"%(text)s"}'
  return wrk.format("POST", "/v1/messages", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
"""


@dataclass(slots=True, kw_only=True)
class Figures:
    label: str
    requests: int  # answered by the server during the load
    failed: int  # answers other than 2xx, and socket errors
    messages: int  # accepted (daemon) or requests (floor)
    seconds: float  # first request until the last message delivered (or the load's end)
    cpu_us: float  # server CPU per message (or per request)
    note: str = ""

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def wrk_script(directory: Path, *, token: str, batch: int, offset: int = 0) -> Path:
    """wrk's script; ``offset`` moves the recipients' prefixes (several wrk at once)."""
    path = directory / f"post-{batch}{f'-{offset}' if offset else ''}.lua"
    values = {"token": token, "batch": batch, "sender": SENDER, "text": TEXT, "offset": offset}
    path.write_text(LUA % values, encoding="utf-8")
    return path


def run_wrk(url: str, script: Path, *, seconds: float, connections: int) -> tuple[int, int]:
    """wrk for ``seconds``: (requests answered, requests failed)."""
    exe = shutil.which("wrk")
    if exe is None:
        msg = "wrk is not installed (Debian: apt-get install wrk)"
        raise RuntimeError(msg)
    out = subprocess.run(  # noqa: S603 - wrk with our own arguments
        [
            exe,
            "--threads",
            "2",
            "--connections",
            str(connections),
            "--duration",
            f"{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "--script",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"(\d+) requests in", out)
    if found is None:
        msg = f"wrk printed no request count:\n{out}"
        raise RuntimeError(msg)
    failed = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors is not None:
        failed += sum(int(n) for n in errors.groups())
    return int(found.group(1)), failed


async def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = "the floor server exited"
            raise RuntimeError(msg)
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    msg = "the floor server did not listen within 30 s"
    raise RuntimeError(msg)


async def floor_phase(work: Path, args: argparse.Namespace) -> Figures:
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603, ASYNC220 - our own module, started before the load
        [sys.executable, str(Path(__file__).with_name("http_floor.py")), "--port", str(port)],
        stdin=subprocess.DEVNULL,
    )
    try:
        await wait_port(port, proc)
        script = wrk_script(work, token="none", batch=1)  # noqa: S106 - the floor checks none
        before, start = cpu_seconds(proc.pid), time.perf_counter()
        requests, failed = await asyncio.to_thread(
            run_wrk,
            f"http://127.0.0.1:{port}/v1/messages",
            script,
            seconds=args.seconds,
            connections=args.connections,
        )
        seconds = time.perf_counter() - start
        cpu = cpu_seconds(proc.pid) - before
    finally:
        stop(proc)
    return Figures(
        label="floor: aiohttp, trivial handler",
        requests=requests,
        failed=failed,
        messages=requests,
        seconds=seconds,
        cpu_us=cpu / max(requests, 1) * 1e6,
    )


def daemon_cpu(d: DaemonProcess) -> float:
    return cpu_seconds(d.pid) + sum(cpu_seconds(pid) for pid in d.children())


async def daemon_phase(
    work: Path, args: argparse.Namespace, *, batch: int, profile: bool
) -> Figures:
    directory = Path(tempfile.mkdtemp(prefix=f"daemon-{batch}-", dir=work))
    simulator, smsc_port = start_simulator()
    d: DaemonProcess | None = None
    try:
        d = await start_daemon(
            directory, smsc_port=smsc_port, mqtt_port=None, synchronous="full", workers=args.workers
        )
        probe = StoreProbe(d.db)
        script = wrk_script(work, token=d.token, batch=batch)
        recording = None
        raw = directory / "profile.txt"
        if profile:
            recording = start_recording(d.pid, seconds=args.seconds, output=raw, gil=True)
        before, start = daemon_cpu(d), time.perf_counter()
        requests, failed = await asyncio.to_thread(
            run_wrk,
            f"{d.base}/v1/messages",
            script,
            seconds=args.seconds,
            connections=args.connections,
        )
        accepted = sum(probe.states().values())
        note = ""
        deadline = time.perf_counter() + DRAIN_TIMEOUT
        while (delivered := probe.delivered()) < accepted:
            if time.perf_counter() > deadline:
                note = f"only {delivered} of {accepted} delivered after {DRAIN_TIMEOUT:g} s"
                break
            await asyncio.sleep(POLL)
        seconds = time.perf_counter() - start
        cpu = daemon_cpu(d) - before
        probe.close()
        if recording is not None:
            recording.wait()
            print_profile(raw)
    finally:
        if d is not None:
            d.stop()
        stop(simulator)
    return Figures(
        label=f"daemon: {batch} recipient{'s' if batch > 1 else ''} per request",
        requests=requests,
        failed=failed,
        messages=accepted,
        seconds=seconds,
        cpu_us=cpu / max(accepted, 1) * 1e6,
        note=note,
    )


def print_profile(raw: Path) -> None:
    if not raw.exists():
        print("  (py-spy wrote no profile)")
        return
    profile = summarize(raw)
    print(f"  profile of the single phase (GIL holder, {profile.samples} samples), by area:")
    for area, share in profile.areas:
        print(f"    {share:6.1%}  {area}")
    print("  functions by own samples:")
    for name, share in profile.own[:10]:
        print(f"    {share:6.1%}  {name}")


def report(rounds: list[tuple[Figures, Figures, Figures]], args: argparse.Namespace) -> None:
    print(
        f"\nwrk, {args.connections} connections, {args.seconds:g} s per phase, "
        f"[workers] count = {args.workers}, receipts on, window 64"
    )
    header = (
        f"{'phase':40} {'requests':>9} {'failed':>6} {'msg/s':>8} {'CPU us/msg':>10} "
        f"{'/batched':>8} {'/floor':>7} {'/5000':>6}"
    )
    print(header)
    print("-" * len(header))
    for floor, single, batched in rounds:
        for f in (floor, single, batched):
            ratios = ""
            if f is single:
                ratios = (
                    f"{single.rate / max(batched.rate, 1):8.2f} "
                    f"{single.rate / max(floor.rate, 1):7.2f} {single.rate / TARGET:6.2f}"
                )
            print(
                f"{f.label:40} {f.requests:9,} {f.failed:6,} {f.rate:8,.0f} "
                f"{f.cpu_us:10,.0f} {ratios}"
            )
            if f.note:
                print(f"  {f.note}")
        # what one recipient per request cannot go below: a message's cost on the
        # batched path plus aiohttp's own cost of a request (both measured above)
        least = batched.cpu_us + floor.cpu_us
        print(
            f"  1 per request, at least: {batched.cpu_us:,.0f} (batched) + {floor.cpu_us:,.0f} "
            f"(aiohttp) = {least:,.0f} us of CPU per message: {1e6 / least:,.0f} msg/s per "
            f"core ({1e6 / least / TARGET:.2f} of the target); the single phase used "
            f"{single.cpu_us * single.rate / 1e6:.2f} cores"
        )
        print()


async def bench(args: argparse.Namespace) -> None:
    rounds: list[tuple[Figures, Figures, Figures]] = []
    with tempfile.TemporaryDirectory(prefix="smsgw-http-single-") as tmp:
        work = Path(tmp)
        for n in range(args.rounds):
            floor = await floor_phase(work, args)
            single = await daemon_phase(work, args, batch=1, profile=args.profile and n == 0)
            batched = await daemon_phase(work, args, batch=BATCH, profile=False)
            rounds.append((floor, single, batched))
    report(rounds, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="of load per phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0, help="the daemon's [workers] count")
    parser.add_argument("--profile", action="store_true", help="py-spy on the single phase")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
