"""``smsgw modem-sim``: a virtual GSM modem on a pseudo-terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

from drivers.modem.simulator.config import SimConfig
from drivers.modem.simulator.network import describe_sent
from drivers.modem.simulator.pty import PtyModem
from gateway.model.errors import UserError
from gateway.model.secrets import Secret

CONSOLE_HELP = """\
console (standard input, one command a line):
  mo NUMBER TEXT...   deliver a message from NUMBER (+E164) to the modem: it is
                      stored and announced with +CMTI (long text: several parts)
  hang                stop answering until "resume"
  resume              answer again
  stats               print what the modem sent and holds
  quit                stop the simulator (as do Ctrl-C and SIGTERM)

Point a link's device at the printed path (or at --link PATH), e.g.
  [[link]]  name = "sim"  driver = "modem"  device = "/tmp/smsgw-modem"
"""


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "modem-sim",
        parents=[common],
        help="virtual GSM modem on a pseudo-terminal",
        description="Run a simulated GSM modem (AT commands, PDU mode) on a pty.",
        epilog=CONSOLE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--link", type=Path, help="create a symlink to the pty at PATH")
    p.add_argument("--echo", action="store_true", help="echo commands (ATE0 ignored)")
    p.add_argument(
        "--urc-inside-replies",
        action="store_true",
        help="put +CMTI/+CDS and ^RSSI inside other commands' replies",
    )
    p.add_argument(
        "--sim-busy",
        type=int,
        default=0,
        metavar="N",
        help="first N SIM commands answer +CME ERROR: 14",
    )
    p.add_argument(
        "--cms-error-share",
        type=float,
        default=0.0,
        metavar="F",
        help="share (0-1) of sends answered +CMS ERROR",
    )
    p.add_argument(
        "--cms-error-code",
        type=int,
        default=500,
        metavar="CODE",
        help="the +CMS ERROR code of those sends (default 500)",
    )
    p.add_argument(
        "--hang-after", type=int, default=None, metavar="N", help="stop answering after N commands"
    )
    p.add_argument(
        "--hang-for",
        type=int,
        default=None,
        metavar="K",
        help="...for K commands (default: until 'resume')",
    )
    p.add_argument(
        "--pin",
        default=None,
        metavar="PIN",
        help="require this SIM PIN (digits, env:NAME or file:/path)",
    )
    p.add_argument(
        "--report-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="delay of status reports after sends (default 1)",
    )
    p.add_argument(
        "--report-status",
        type=lambda v: int(v, 0),
        default=0,
        metavar="TP-ST",
        help="TP-ST of status reports (0 delivered, 0x46 expired, 0x41...)",
    )
    p.add_argument(
        "--wake-error",
        action="store_true",
        help="answer ERROR to the ESC line a link sends before its first AT",
    )
    p.add_argument("--csq", type=int, default=20, help="signal quality AT+CSQ answers")
    p.add_argument("--seed", type=int, default=0, help="random seed for --cms-error-share")
    p.set_defaults(handler=run)


def sim_config(args: argparse.Namespace) -> SimConfig:
    if not 0.0 <= args.cms_error_share <= 1.0:
        raise UserError("--cms-error-share must be between 0 and 1")
    pin = Secret.resolve(args.pin, key="--pin").reveal() if args.pin else None
    return SimConfig(
        echo=args.echo,
        urc_inside_replies=args.urc_inside_replies,
        sim_busy=args.sim_busy,
        cms_error_share=args.cms_error_share,
        cms_error_code=args.cms_error_code,
        hang_after=args.hang_after,
        hang_for=args.hang_for,
        pin=pin,
        report_delay=args.report_delay,
        report_status=args.report_status,
        csq=args.csq,
        seed=args.seed,
        wake_error=args.wake_error,
    )


def run(args: argparse.Namespace) -> int:
    config = sim_config(args)
    return asyncio.run(_serve(config, args))


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _serve(config: SimConfig, args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    sim = PtyModem(config, link=args.link)
    try:
        device = sim.open()
    except OSError as exc:
        msg = f"cannot create the modem at {args.link}: {exc.strerror}"
        raise UserError(msg) from None
    sim.modem.on_sent = lambda tpdu: _say(f"sent {describe_sent(tpdu)}")
    if args.json:
        _say(json.dumps({"device": device}))
    else:
        _say(device)
    stdin_open = _watch_stdin(loop, sim, done)
    try:
        await done.wait()
    finally:
        if stdin_open:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(sys.stdin.fileno())
        sim.close()
    return 0


def _watch_stdin(loop: asyncio.AbstractEventLoop, sim: PtyModem, done: asyncio.Event) -> bool:
    try:
        fd = sys.stdin.fileno()
    except (ValueError, OSError):
        return False

    def readable() -> None:
        line = sys.stdin.readline()
        if not line:  # EOF: keep running, without a console
            loop.remove_reader(fd)
            return
        _console(line.strip(), sim, done)

    try:
        loop.add_reader(fd, readable)
    except (ValueError, OSError, PermissionError):
        return False  # e.g. stdin is a regular file
    return True


def _console(line: str, sim: PtyModem, done: asyncio.Event) -> None:
    words = line.split(maxsplit=2)
    if not words:
        return
    command = words[0].lower()
    if command == "mo" and len(words) == 3:
        parts = sim.inject_mo(originator=words[1], text=words[2])
        _say(f"delivered {parts} part(s) from {words[1]}")
    elif command == "hang":
        sim.modem.hang_now()
        _say("hanging")
    elif command == "resume":
        sim.resume()
        _say("answering")
    elif command == "stats":
        _say(
            f"sent {len(sim.modem.sent)}, stored {sim.modem.stored}, "
            f"commands {len(sim.modem.commands)}"
        )
    elif command in ("quit", "exit"):
        done.set()
    else:
        _say("commands: mo NUMBER TEXT | hang | resume | stats | quit")
