"""``python -m drivers.smpp.simulator``: the SMSC simulator as a process of its own."""

import sys

from drivers.smpp.simulator.cli import main

sys.exit(main())
