"""The HTTP API's own cost per request: the API, the send service and SQLite, no dispatcher.

benchmarks/http_single.py measures the whole daemon (sending, receipts);
here one process serves only what a ``POST /v1/messages`` of one recipient
costs up to its 202: ``build_app`` (token, body, JSON, the send pipeline,
the response), the send service and the SQLite store (synchronous = full,
group commit), logging at info as the daemon does (JSON, to /dev/null).
The messages stay queued. wrk loads, in turn and with the same connections:

1. floor: benchmarks/http_floor.py, aiohttp with a trivial handler;
2. api: this server, tokens remembered (``TOKEN_TTL``, the default);
3. api, ``--token-ttl 0``: the token read from the store at every request
   (as before the token cache), when ``--compare-ttl`` is given.

Figures: requests answered per second, the server's CPU (all threads) per
request, and both against the floor of the same round. Usage::

    python benchmarks/http_ingest.py [--seconds 8] [--connections 32] [--rounds 2]
                                     [--compare-ttl]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web

from benchmarks.e2e_system import SENDER, cpu_seconds, free_port, stop
from benchmarks.http_single import Figures, floor_phase, run_wrk, wait_port, wrk_script
from gateway.ingress.http import HttpServer, build_app
from gateway.ingress.pipeline import SendService
from gateway.model.message import SenderKind, SenderStatus
from gateway.ops.logs import configure_logging, get_logger
from gateway.store import open_store


async def serve(args: argparse.Namespace) -> None:
    """The server process: a fresh store, the app, until killed."""
    # rendered and written like the daemon's, to /dev/null
    sink = Path(os.devnull).open("w")  # noqa: SIM115, ASYNC230 - open for the process's life
    configure_logging(json=True, level="info", stream=sink if args.quiet else None)
    log = get_logger("smsgw")
    store = await open_store(f"sqlite:{args.db}", checkpoints="background")
    await store.create_account("acme")
    await store.add_sender("acme", SENDER, SenderKind.ALPHA)
    await store.set_sender_status("acme", SENDER, SenderStatus.APPROVED)
    await store.set_price("+", 1)
    await store.topup("acme", 1_000_000_000, reference="bench")
    _, token = await store.create_token("acme")

    async def ready() -> tuple[bool, dict[str, object]]:
        return True, {}

    kwargs = {} if args.token_ttl is None else {"token_ttl": args.token_ttl}
    app: web.Application = build_app(
        store=store,
        send_service=SendService(store=store, log=log),
        readiness=ready,
        logger=log,
        **kwargs,
    )
    server = HttpServer(app, logger=log)
    await server.start("127.0.0.1", args.port)
    Path(args.token_file).write_text(json.dumps({"token": token}))  # noqa: ASYNC240 - once
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
        await store.close()


async def api_phase(
    work: Path, args: argparse.Namespace, *, token_ttl: float | None, label: str
) -> Figures:
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="api-", dir=work))
    token_file = directory / "token.json"
    command = [
        sys.executable,
        __file__,
        "--serve",
        "--quiet",
        "--port",
        str(port),
        "--db",
        str(directory / "gw.db"),
        "--token-file",
        str(token_file),
    ]
    if token_ttl is not None:
        command += ["--token-ttl", str(token_ttl)]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL)  # noqa: S603, ASYNC220 - our own
    try:
        await wait_port(port, proc)
        deadline = time.monotonic() + 30
        while not token_file.exists():
            if time.monotonic() > deadline:
                msg = "the API server wrote no token within 30 s"
                raise RuntimeError(msg)
            await asyncio.sleep(0.05)
        token = json.loads(token_file.read_text())["token"]
        script = wrk_script(directory, token=token, batch=1)
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
        label=label,
        requests=requests,
        failed=failed,
        messages=requests,
        seconds=seconds,
        cpu_us=cpu / max(requests, 1) * 1e6,
    )


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def bench(args: argparse.Namespace) -> None:
    print(
        f"wrk, {args.connections} connections, {args.seconds:g} s per phase, one recipient "
        "per request; the API, the send service and SQLite in one process"
    )
    header = (
        f"{'phase':44} {'requests':>9} {'failed':>6} {'req/s':>8} {'CPU us/req':>10} "
        f"{'rate/floor':>10} {'CPU/floor':>9}  load"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="smsgw-http-ingest-") as tmp:
        work = Path(tmp)
        for _ in range(args.rounds):
            phases: list[tuple[float | None, str]] = [(None, "api: tokens remembered (default)")]
            if args.compare_ttl:
                phases.append((0.0, "api: --token-ttl 0 (store read per request)"))
            started = load()
            floor = await floor_phase(work, args)
            print(
                f"{floor.label:44} {floor.requests:9,} {floor.failed:6,} {floor.rate:8,.0f} "
                f"{floor.cpu_us:10,.0f} {'':>10} {'':>9}  {started}"
            )
            for ttl, label in phases:
                started = load()
                f = await api_phase(work, args, token_ttl=ttl, label=label)
                print(
                    f"{f.label:44} {f.requests:9,} {f.failed:6,} {f.rate:8,.0f} "
                    f"{f.cpu_us:10,.0f} {f.rate / max(floor.rate, 1):10.2f} "
                    f"{f.cpu_us / max(floor.cpu_us, 1):9.2f}  {started}"
                )
            print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="of load per phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compare-ttl", action="store_true", help="also with --token-ttl 0")
    # the server process's own options
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--db", default="", help=argparse.SUPPRESS)
    parser.add_argument("--token-file", default="", help=argparse.SUPPRESS)
    parser.add_argument("--token-ttl", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
