"""The broker's side of a sans-IO MQTT connection, for tests: no socket, no clock."""

from __future__ import annotations

from gateway.events.mqtt.connection import Connection
from gateway.events.mqtt.decoding import decode
from gateway.events.mqtt.encoding import encode
from gateway.events.mqtt.events import Event
from gateway.events.mqtt.framing import MAX_REMAINING, FrameReader
from gateway.events.mqtt.packets import Connack, Packet
from gateway.events.mqtt.session import Session


class Broker:
    """Reads what a :class:`Connection` sends and answers with packets of its own."""

    def __init__(self) -> None:
        self._reader = FrameReader(max_packet=MAX_REMAINING)

    def read(self, client: Connection, now: float = 0.0) -> list[Packet]:
        """The packets the client queued since the last read."""
        packets = []
        for frame in self._reader.feed(client.data_to_send(now)):
            assert isinstance(frame, tuple)
            packets.append(decode(*frame))
        return packets

    @staticmethod
    def send(client: Connection, *packets: Packet, now: float = 0.0) -> list[Event]:
        return client.receive_data(b"".join(encode(p) for p in packets), now)


def connected(
    session: Session | None = None, *, present: bool = False, keepalive: int = 30
) -> tuple[Connection, Broker]:
    """A connection past CONNACK, and its broker (CONNECT already read)."""
    client = Connection(session=session or Session(), client_id="gw", keepalive=keepalive)
    broker = Broker()
    client.connect(0.0)
    broker.read(client)
    broker.send(client, Connack(session_present=present, return_code=0))
    return client, broker
