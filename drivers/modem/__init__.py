"""Serial GSM modem link driver and modem simulator.

``ModemLink(config=ModemLinkConfig.from_table(table), handler=handler)`` is a
:class:`gateway.link.interface.Link`; ``smsgw modem-sim`` (:mod:`drivers.modem.simulator.cli`)
runs :class:`drivers.modem.simulator.pty.PtyModem`.
"""

from drivers.modem.link.config import ModemLinkConfig
from drivers.modem.link.driver import ModemLink

__all__ = ["ModemLink", "ModemLinkConfig"]
