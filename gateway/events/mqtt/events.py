"""What a :class:`~.connection.Connection` hands up from the bytes the broker sent.

Besides these, :class:`~.packets.Publish` (a message), :class:`~.packets.Suback`
and :class:`~.packets.Unsuback` are handed up as decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.events.mqtt.packets import Publish, Suback, Unsuback

__all__ = ["Acked", "Connected", "Event", "PublishTooLarge"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected:
    """CONNACK accepted the connection; ``resent`` PUBLISHes went out again (DUP)."""

    session_present: bool
    resent: int


@dataclass(frozen=True, slots=True)
class Acked:
    """PUBACKs of QoS 1 PUBLISHes in flight (several in a row make one event)."""

    packet_ids: list[int]


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishTooLarge:
    """A PUBLISH over ``max_packet`` bytes: its head, the rest was skipped unread."""

    topic: str
    packet_id: int
    qos: int
    retain: bool
    size: int  # of the payload, as the broker announced it
    head: bytes  # the payload's first KiB (framing.PAYLOAD_HEAD)


# what receive_data hands up: Publish (a message), Suback, Unsuback, and the above
Event = Connected | Acked | Publish | PublishTooLarge | Suback | Unsuback
