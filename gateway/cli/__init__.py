"""The ``smsgw`` command line (README: Operations).

Each command group lives in its own module and exposes
``register(subparsers, common)``, listed in :data:`COMMAND_MODULES`; the
simulators' commands live with their drivers and are added by the runtime
(:mod:`gateway.runtime.commands`, the console script), so that nothing here
imports ``drivers``. A command
sets ``handler`` to a function ``(args) -> int``. User errors print one line
on stderr and exit 1; usage errors exit 2 (argparse); a bulk command that
did part of its work (some recipients or rows taken, others refused) exits 3
(:func:`gateway.cli.runtime.bulk_exit`); nothing prints a traceback for a
user error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from gateway import __version__
from gateway.cli import (
    account,
    count,
    credit,
    inbound,
    message,
    order,
    phonebook,
    price,
    send,
    sender,
    stoplist,
    store,
    token,
    webhook,
)
from gateway.model.errors import UserError

# command modules, in the order `smsgw --help` lists them (one per line); the
# runtime adds the drivers' commands (gateway.runtime.commands), so that
# nothing here imports drivers
COMMAND_MODULES: tuple[ModuleType, ...] = (
    count,
    send,
    message,
    account,
    token,
    credit,
    order,
    sender,
    price,
    phonebook,
    stoplist,
    inbound,
    webhook,
    store,
)

Register = Callable[[Any, argparse.ArgumentParser], None]
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


def build_parser(commands: Sequence[Register] = ()) -> argparse.ArgumentParser:
    """The parser of ``commands`` (the runtime's and the drivers'), then the core's."""
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
    for register in commands:
        register(sub, common)
    for module in COMMAND_MODULES:
        module.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None, *, commands: Sequence[Register] = ()) -> int:
    """``smsgw``: the console script is gateway.runtime.commands.main, which adds
    the drivers' commands."""
    parser = build_parser(commands)
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
