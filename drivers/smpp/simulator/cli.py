"""``smsgw smsc-sim``: the SMSC simulator from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import sys
from collections.abc import Sequence
from typing import Any

from drivers.smpp.simulator.config import ID_FORMS, SimConfig
from drivers.smpp.simulator.server import SmscSimulator, serve
from gateway.model.errors import UserError

DESCRIPTION = """\
An SMPP 3.4 SMSC on loopback for tests and demos. It accepts binds, answers
submit_sm with unique message ids, can send delivery receipts, inject MO
messages and misbehave on purpose. Every PDU it receives is printed as one
JSON line on stdout (--quiet: only the first line, which gives the ports).

MO injection and other commands go through the control port, one JSON object
per line, e.g. with `nc 127.0.0.1 CONTROL_PORT`:
  {"cmd": "mo", "from": "+33612345678", "to": "12345", "text": "hi",
   "concat": "udh8", "parts": 2, "order": [2, 1]}
  {"cmd": "mo", "from": "+33612345678", "to": "07911123456", "to_ton": 2, "text": "hi"}
                         addresses sent with that TON ("from_ton" too), as written
  {"cmd": "unbind"}      ask every bound client to unbind
  {"cmd": "stats"}
"""


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        msg = f"{text} is not a share between 0 and 1"
        raise argparse.ArgumentTypeError(msg)
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not value >= 0.0:  # also refuses nan
        msg = f"{text} is not a rate of 0 or more per second"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=2775, help="SMPP port (default 2775; 0 = free)")
    p.add_argument(
        "--control-port",
        type=int,
        default=None,
        help="JSON-lines control port for MO injection (0 = free port)",
    )
    p.add_argument("--system-id", default=None, help="accept only this system_id")
    p.add_argument("--password", default=None, help="accept only this password")
    p.add_argument("--dlr", action="store_true", help="send delivery receipts")
    p.add_argument("--dlr-delay", type=float, default=0.0, help="seconds before a receipt")
    p.add_argument(
        "--dlr-fail-share",
        type=_share,
        default=0.0,
        help="share of receipts that report UNDELIV (0..1)",
    )
    p.add_argument(
        "--dlr-before-resp", action="store_true", help="send each receipt before its submit_sm_resp"
    )
    p.add_argument(
        "--throttle-share",
        type=_share,
        default=0.0,
        help="share of submit_sm answered ESME_RTHROTTLED",
    )
    p.add_argument(
        "--max-rate",
        type=_rate,
        default=0.0,
        help="submit_sm per second a connection may send; beyond: ESME_RTHROTTLED",
    )
    p.add_argument(
        "--drop-after",
        type=int,
        default=None,
        help="close the connection when the Nth submit_sm arrives",
    )
    p.add_argument(
        "--silent-after",
        type=int,
        default=None,
        help="from the Nth submit_sm on, answer nothing (the connection stays open)",
    )
    p.add_argument("--delay", type=float, default=0.0, help="seconds before each submit_sm_resp")
    p.add_argument(
        "--garbage-share",
        type=_share,
        default=0.0,
        help="share of submit_sm answered with an unreadable PDU",
    )
    p.add_argument(
        "--id-form",
        choices=ID_FORMS,
        default="hex",
        help="message ids in submit_sm_resp (empty, long: broken on purpose)",
    )
    p.add_argument(
        "--receipt-id-form",
        choices=("same", "decimal"),
        default="same",
        help="id in the receipt text: as in submit_sm_resp, or decimal",
    )
    p.add_argument(
        "--mo-interval", type=float, default=None, help="inject a test MO message every S seconds"
    )
    p.add_argument("--tls-cert", default=None, help="serve TLS with this certificate (PEM)")
    p.add_argument("--tls-key", default=None, help="private key of --tls-cert (PEM)")
    p.add_argument("--seed", type=int, default=None, help="random seed (reproducible faults)")
    p.add_argument("--quiet", action="store_true", help="do not print received PDUs")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="smsc-sim",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    return p


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "smsc-sim",
        parents=[common],
        help="SMSC simulator on loopback for tests/demos",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(handler=run_from_args)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        system_id=args.system_id,
        password=args.password,
        dlr=args.dlr,
        dlr_delay=args.dlr_delay,
        dlr_fail_share=args.dlr_fail_share,
        dlr_before_resp=args.dlr_before_resp,
        throttle_share=args.throttle_share,
        max_rate=args.max_rate,
        drop_after=args.drop_after,
        silent_after=args.silent_after,
        delay=args.delay,
        garbage_share=args.garbage_share,
        id_form=args.id_form,
        receipt_id_form=args.receipt_id_form,
        record=not args.quiet,
    )


def _tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(args.tls_cert, args.tls_key)
    except (OSError, ssl.SSLError) as exc:
        msg = f"smsc-sim: cannot load --tls-cert/--tls-key: {exc}"
        raise UserError(msg) from None
    return context


async def _run(args: argparse.Namespace) -> None:
    sim = SmscSimulator(
        config=config_from_args(args),
        host=args.host,
        port=args.port,
        control_port=args.control_port,
        out=sys.stdout,
        seed=args.seed,
        ssl_context=_tls(args),
    )
    task = asyncio.create_task(serve(sim, announce=sys.stdout), name="smsc-sim")
    if args.mo_interval:
        n = 0
        while not task.done():
            await asyncio.sleep(args.mo_interval)
            n += 1
            with contextlib.suppress(RuntimeError):  # nobody bound to receive it yet
                sim.inject_mo(source="+33600000001", destination="12345", text=f"MO test {n}")
    await task


def run_from_args(args: argparse.Namespace) -> int:
    _tls(args)  # a bad certificate is a one-line error before anything starts
    try:
        asyncio.run(_run(args))
    except OSError as exc:
        msg = f"smsc-sim: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        raise UserError(msg) from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m drivers.smpp.simulator``: the simulator as a process of its own."""
    try:
        return run_from_args(build_parser().parse_args(argv))
    except UserError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
