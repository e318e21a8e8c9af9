"""``smsgw count TEXT``: placeholder until the codec lands (being written now)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("count", parents=[common], help="count characters and segments")
    p.add_argument("text")
    p.set_defaults(handler=lambda _args: 1)
