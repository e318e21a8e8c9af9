"""The client's MQTT session state (3.1.1 section 4.1), kept across network connections.

With clean_session=False the broker keeps the subscriptions and the messages
not yet acknowledged to us, and we keep the QoS 1 PUBLISHes not yet
acknowledged to us by the broker: they are sent again when reconnected
(4.4). Packet ids are allocated here so that none in use is given twice.
"""

from __future__ import annotations

from gateway.events.mqtt.errors import MqttUsageError

__all__ = ["MAX_INFLIGHT", "Session"]

MAX_INFLIGHT = 16_384  # QoS 1 PUBLISHes awaiting their PUBACK, across reconnects


class Session:
    """The client's session state (4.1): QoS 1 PUBLISHes not yet acknowledged, and ids."""

    def __init__(self, *, max_inflight: int = MAX_INFLIGHT) -> None:
        if not 0 < max_inflight < 0xFFFF:
            msg = f"max_inflight {max_inflight}: between 1 and 65,534"
            raise MqttUsageError(msg)
        self.max_inflight = max_inflight
        self.inflight: dict[int, bytes] = {}  # packet id -> the PUBLISH as sent, in order
        self.control: dict[int, int] = {}  # SUBSCRIBE/UNSUBSCRIBE id -> filters (this connection)
        self._last_id = 0

    @property
    def room(self) -> int:
        """PUBLISHes that may go out before the in-flight limit."""
        return self.max_inflight - len(self.inflight)

    def allocate(self) -> int:
        """A packet id in 1..65535 not in use (2.3.1), the one after the last given."""
        inflight, control = self.inflight, self.control
        packet_id = self._last_id
        while True:
            packet_id = 1 if packet_id == 0xFFFF else packet_id + 1
            if packet_id not in inflight and packet_id not in control:
                self._last_id = packet_id
                return packet_id
