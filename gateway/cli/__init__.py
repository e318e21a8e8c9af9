"""The ``smsgw`` command line (README: Operations).

Each command group lives in its own module and exposes
``register(subparsers, common)``; modules are named in full in
:data:`COMMAND_MODULES` and imported by name, so the simulators' commands can
live with their drivers without ``gateway`` importing ``drivers``. A command
sets ``handler`` to a function ``(args) -> int``. User errors print one line
on stderr and exit 1; usage errors exit 2 (argparse); a bulk command that
did part of its work (some recipients or rows taken, others refused) exits 3
(:func:`gateway.cli.runtime.bulk_exit`); nothing prints a traceback for a
user error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from gateway import __version__
from gateway.model.errors import UserError

# command modules, in the order `smsgw --help` lists them (one per line)
COMMAND_MODULES: tuple[str, ...] = (
    "gateway.cli.daemon",
    "gateway.cli.count",
    "gateway.cli.send",
    "gateway.cli.message",
    "gateway.cli.account",
    "gateway.cli.token",
    "gateway.cli.credit",
    "gateway.cli.sender",
    "gateway.cli.price",
    "gateway.cli.phonebook",
    "gateway.cli.inbound",
    "gateway.cli.webhook",
    "drivers.smpp.simulator.cli",
    "drivers.modem.simulator.cli",
)

Handler = Callable[[argparse.Namespace], int]


def default_config_path() -> Path:
    """``$SMSGW_CONFIG``, else /etc/smsgw/gateway.toml, else ./config/gateway.toml."""
    env = os.environ.get("SMSGW_CONFIG")
    if env:
        return Path(env)
    etc = Path("/etc/smsgw/gateway.toml")
    if etc.exists():
        return etc
    return Path("config/gateway.toml")


def common_options() -> argparse.ArgumentParser:
    """Options every command takes: -c/--config and --json."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        type=Path,
        default=None,
        help="configuration file (default: $SMSGW_CONFIG, /etc/smsgw/gateway.toml, "
        "./config/gateway.toml)",
    )
    common.add_argument("--json", action="store_true", help="print one JSON document")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smsgw", description="SMS gateway daemon and tools")
    parser.add_argument("--version", action="version", version=f"smsgw {__version__}")
    # also accepted before the command (`smsgw -c FILE send ...`)
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        default=None,
        dest="global_config",
        help="configuration file (see the commands' -c)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = common_options()
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None) is None:
        args.config = args.global_config or default_config_path()
    handler: Handler = args.handler
    try:
        return handler(args)
    except UserError as exc:
        print(f"smsgw: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `smsgw message list | head`: the reader left; not an error
        sys.stderr.close()
        return 0
