"""Serial GSM modem link driver and modem simulator.

``ModemLink(config=ModemLinkConfig.from_table(table), handler=handler)`` is a
:class:`gateway.link.Link`; ``smsgw modem-sim`` (:mod:`drivers.modem.cli`)
runs :class:`drivers.modem.ptymodem.PtyModem`.
"""

from drivers.modem.config import ModemLinkConfig
from drivers.modem.link import ModemLink

__all__ = ["ModemLink", "ModemLinkConfig"]
