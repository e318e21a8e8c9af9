"""The ``smsgw`` console script: the runtime's commands, the drivers' and the core's.

The runtime is the one part of ``gateway`` that imports ``drivers``
(docs/architecture.md, imports): it hands its own command registrations
(``smsgw run``, ``check-config``, ``link list``) and the drivers' (``smsgw
smsc-sim``, ``smsgw modem-sim``) to :func:`gateway.cli.main`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from drivers.modem.simulator import cli as modem_sim
from drivers.smpp.simulator import cli as smsc_sim
from gateway import cli
from gateway.runtime import daemon_commands

COMMANDS: tuple[cli.Register, ...] = (
    daemon_commands.register,
    smsc_sim.register,
    modem_sim.register,
)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, commands=COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line's parser (tests and ``--help``)."""
    return cli.build_parser(COMMANDS)
