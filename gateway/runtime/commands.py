"""The ``smsgw`` console script: the core's commands and the drivers' ones.

The runtime is the one part of ``gateway`` that imports ``drivers``
(docs/architecture.md, imports): it hands the drivers' command registrations
(``smsgw smsc-sim``, ``smsgw modem-sim``) to :func:`gateway.cli.main`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from drivers.modem.simulator import cli as modem_sim
from drivers.smpp.simulator import cli as smsc_sim
from gateway import cli

DRIVER_COMMANDS: tuple[cli.Register, ...] = (smsc_sim.register, modem_sim.register)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, commands=DRIVER_COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line's parser (tests and ``--help``)."""
    return cli.build_parser(DRIVER_COMMANDS)
