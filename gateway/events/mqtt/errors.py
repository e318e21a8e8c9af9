"""What can go wrong on an MQTT connection, each with a message a user can act on.

The split follows h11: :class:`MqttProtocolError` when the broker broke MQTT
3.1.1 (or sent something we cannot read), :class:`MqttUsageError` when this
side was about to (a bug here). The others are the connection's ordinary ends.
"""

from __future__ import annotations

__all__ = [
    "ConnectRefused",
    "MqttConnectionLost",
    "MqttError",
    "MqttProtocolError",
    "MqttTimeout",
    "MqttUsageError",
]

# CONNACK return codes (MQTT 3.1.1 section 3.2.2.3) and what each means for the operator
CONNACK_REASONS = {
    1: "the broker does not speak MQTT 3.1.1 (unacceptable protocol version)",
    2: "the broker rejected the client id (identifier rejected)",
    3: "the broker is unavailable (server unavailable)",
    4: "the broker refused the user name or password (bad user name or password)",
    5: "the broker does not allow this client to connect (not authorized)",
}


class MqttError(Exception):
    """Anything that ends an MQTT connection or a request on it."""


class MqttProtocolError(MqttError):
    """The broker broke MQTT 3.1.1, or sent bytes that are not MQTT."""


class MqttUsageError(MqttError):
    """This side was about to break MQTT 3.1.1 (a bug in the caller)."""


class MqttTimeout(MqttError):
    """The broker did not answer in time (CONNACK, PINGRESP)."""


class MqttConnectionLost(MqttError):
    """The connection closed (by the broker, the network or us)."""


class ConnectRefused(MqttError):
    """CONNACK with a return code other than 0: the broker said no."""

    def __init__(self, return_code: int) -> None:
        self.return_code = return_code
        reason = CONNACK_REASONS.get(return_code, "unknown reason")
        super().__init__(f"MQTT connection refused: {reason}, return code {return_code}")
