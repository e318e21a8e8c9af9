"""The sans-IO client connection against a sans-IO broker: no socket, time passed in."""

from __future__ import annotations

import pytest

from gateway.events.mqtt.connection import Connection, ConnectionState
from gateway.events.mqtt.encoding import encode, encode_publish
from gateway.events.mqtt.errors import (
    ConnectRefused,
    MqttProtocolError,
    MqttTimeout,
    MqttUsageError,
)
from gateway.events.mqtt.events import Acked, Connected, PublishTooLarge
from gateway.events.mqtt.packets import (
    Connack,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
    Puback,
    Publish,
    Pubrel,
    Suback,
    Subscribe,
    Unsuback,
    Unsubscribe,
)
from gateway.events.mqtt.session import Session
from tests.gateway.events.mqtt.peer import Broker, connected


def test_connect_sends_connect_then_connack_connects() -> None:
    client = Connection(
        session=Session(), client_id="gw", keepalive=30, username="u", password=b"secret"
    )
    broker = Broker()
    client.connect(0.0)
    assert broker.read(client) == [
        Connect(client_id="gw", keepalive=30, clean_session=False, username="u", password=b"secret")
    ]
    events = broker.send(client, Connack(session_present=False, return_code=0))
    assert events == [Connected(session_present=False, resent=0)]
    assert client.state is ConnectionState.CONNECTED


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1, "unacceptable protocol version"),
        (2, "identifier rejected"),
        (3, "server unavailable"),
        (4, "bad user name or password"),
        (5, "not authorized"),
        (99, "unknown reason"),
    ],
)
def test_a_refused_connection_says_why(code: int, reason: str) -> None:
    client = Connection(session=Session(), client_id="gw", keepalive=30)
    client.connect(0.0)
    with pytest.raises(ConnectRefused, match=reason) as caught:
        Broker.send(client, Connack(session_present=False, return_code=code))
    assert caught.value.return_code == code
    assert f"return code {code}" in str(caught.value)
    assert client.state is ConnectionState.CLOSED


def test_no_connack_in_time_is_a_timeout() -> None:
    client = Connection(session=Session(), client_id="gw", keepalive=30, connect_timeout=5)
    client.connect(100.0)
    assert client.get_timer() == 105.0
    client.handle_timer(104.9)
    with pytest.raises(MqttTimeout, match="no CONNACK from the MQTT broker within 5 s"):
        client.handle_timer(105.0)
    assert client.state is ConnectionState.CLOSED


@pytest.mark.parametrize(
    "packet",
    [Publish(topic="a", payload=b""), Puback(packet_id=1), Pingresp()],
    ids=lambda p: type(p).__name__,
)
def test_anything_before_connack_is_a_protocol_error(packet: Packet) -> None:
    client = Connection(session=Session(), client_id="gw", keepalive=30)
    client.connect(0.0)
    with pytest.raises(MqttProtocolError, match="before CONNACK"):
        Broker.send(client, packet)


def test_pubacks_in_a_row_make_one_event_and_leave_the_session() -> None:
    client, broker = connected()
    ids = [client.publish(b"smsgw/a/status", b"%d" % n) for n in range(3)]
    assert ids == [1, 2, 3]
    assert [p.packet_id for p in broker.read(client) if isinstance(p, Publish)] == ids
    assert list(client.session.inflight) == ids
    events = broker.send(client, Puback(packet_id=2), Puback(packet_id=1), Puback(packet_id=99))
    assert events == [Acked([2, 1])]  # 99: not in flight (a session dropped), ignored
    assert list(client.session.inflight) == [3]


def test_a_puback_with_packet_id_0_is_a_protocol_error() -> None:
    client, _ = connected()
    with pytest.raises(MqttProtocolError, match="packet id 0"):
        client.receive_data(b"\x40\x02\x00\x00", 0.0)


def test_publish_flags_reach_the_broker() -> None:
    client, broker = connected()
    assert client.publish(b"t", b"", qos=0, retain=True) == 0
    client.publish(b"t", b"x", retain=True)
    assert broker.read(client) == [
        Publish(topic="t", payload=b"", qos=0, retain=True),
        Publish(topic="t", payload=b"x", qos=1, retain=True, packet_id=1),
    ]


def test_unacknowledged_publishes_go_again_with_dup_when_the_session_is_present() -> None:
    session = Session()
    first, broker = connected(session)
    ids = [first.publish(b"t", b"%d" % n) for n in range(3)]
    broker.send(first, Puback(packet_id=ids[1]))
    first.lost()  # the network went away before the other PUBACKs
    assert first.data_to_send(1.0) == b""
    second, broker = connected(session, present=True)
    assert second.session_present
    again = broker.read(second)
    assert again == [
        Publish(topic="t", payload=b"0", qos=1, dup=True, packet_id=ids[0]),
        Publish(topic="t", payload=b"2", qos=1, dup=True, packet_id=ids[2]),
    ]
    assert Broker.send(second, Puback(packet_id=ids[0])) == [Acked([ids[0]])]


def test_unacknowledged_publishes_are_dropped_when_the_broker_kept_no_session() -> None:
    session = Session()
    first, _ = connected(session)
    first.publish(b"t", b"0")
    first.lost()
    second = Connection(session=session, client_id="gw", keepalive=30)
    broker = Broker()
    second.connect(0.0)
    broker.read(second)
    events = broker.send(second, Connack(session_present=False, return_code=0))
    assert events == [Connected(session_present=False, resent=0)]
    assert broker.read(second) == []
    assert session.inflight == {}


def test_packet_ids_wrap_past_65535_skipping_those_in_flight() -> None:
    client, broker = connected()
    stuck = client.publish(b"t", b"never acknowledged")
    for _ in range(0xFFFF - 1):
        packet_id = client.publish(b"t", b"")
        client.receive_data(encode(Puback(packet_id=packet_id)), 0.0)
    assert packet_id == 0xFFFF
    assert client.publish(b"t", b"") == stuck + 1  # wrapped, the stuck one skipped
    assert list(client.session.inflight) == [stuck, stuck + 1]
    broker.read(client)


def test_nothing_goes_out_beyond_the_in_flight_limit() -> None:
    client, _ = connected(Session(max_inflight=2))
    client.publish(b"t", b"1")
    client.publish(b"t", b"2")
    assert client.session.room == 0
    with pytest.raises(MqttUsageError, match="beyond 2 in flight"):
        client.publish(b"t", b"3")


def test_publishing_before_connack_is_a_usage_error() -> None:
    client = Connection(session=Session(), client_id="gw", keepalive=30)
    with pytest.raises(MqttUsageError, match="while idle"):
        client.publish(b"t", b"")
    with pytest.raises(MqttUsageError, match="QoS 2"):
        connected()[0].publish(b"t", b"", qos=2)


def test_keepalive_pings_when_idle_and_gives_up_without_pingresp() -> None:
    client, broker = connected(keepalive=10)
    assert client.get_timer() == 10.0
    client.handle_timer(9.0)
    assert broker.read(client, 9.0) == []
    client.handle_timer(10.0)
    assert broker.read(client, 10.0) == [Pingreq()]
    assert client.get_timer() == 20.0  # the PINGRESP deadline
    assert broker.send(client, Pingresp(), now=12.0) == []
    assert client.get_timer() == 20.0  # sent at 10, received at 12: the next ping at 20
    client.handle_timer(20.0)
    assert broker.read(client, 20.0) == [Pingreq()]
    with pytest.raises(MqttTimeout, match="no PINGRESP from the MQTT broker within 10 s"):
        client.handle_timer(30.0)
    assert client.state is ConnectionState.CLOSED


def test_traffic_both_ways_puts_the_ping_off() -> None:
    client, broker = connected(keepalive=10)
    client.publish(b"t", b"")
    broker.read(client, 8.0)
    broker.send(client, Puback(packet_id=1), now=9.0)
    assert client.get_timer() == 18.0
    assert Connection(session=Session(), client_id="c", keepalive=0).get_timer() is None


def test_subscribe_and_unsubscribe_are_answered_by_id() -> None:
    client, broker = connected()
    sub = client.subscribe([("smsgw/+/send", 1)])
    unsub = client.unsubscribe(["$share/smsgw/smsgw/+/send"])
    assert broker.read(client) == [
        Subscribe(packet_id=sub, filters=(("smsgw/+/send", 1),)),
        Unsubscribe(packet_id=unsub, filters=("$share/smsgw/smsgw/+/send",)),
    ]
    events = broker.send(
        client, Suback(packet_id=sub, return_codes=(0x80,)), Unsuback(packet_id=unsub)
    )
    assert events == [Suback(packet_id=sub, return_codes=(0x80,)), Unsuback(packet_id=unsub)]


def test_a_suback_of_no_request_or_the_wrong_size_is_a_protocol_error() -> None:
    client, _ = connected()
    with pytest.raises(MqttProtocolError, match="SUBACK of no request"):
        Broker.send(client, Suback(packet_id=5, return_codes=(1,)))
    client, _ = connected()
    sub = client.subscribe([("a", 1)])
    with pytest.raises(MqttProtocolError, match="2 return codes for 1 topic filters"):
        Broker.send(client, Suback(packet_id=sub, return_codes=(1, 1)))


def test_messages_are_handed_up_and_acknowledged_on_request() -> None:
    client, broker = connected()
    message = Publish(topic="smsgw/a/send", payload=b"{}", qos=1, dup=True, packet_id=9)
    assert broker.send(client, message) == [message]
    assert broker.read(client) == []  # nothing acknowledged on receipt
    client.ack(9)
    assert broker.read(client) == [Puback(packet_id=9)]


@pytest.mark.parametrize(
    "packet",
    [
        Publish(topic="a", payload=b"", qos=2, packet_id=1),
        Pubrel(packet_id=1),
        Connect(client_id="x", keepalive=0, clean_session=True),
        Subscribe(packet_id=1, filters=(("a", 0),)),
        Pingreq(),
        Disconnect(),
        Connack(session_present=False, return_code=0),
    ],
    ids=lambda p: type(p).__name__,
)
def test_a_packet_a_broker_never_sends_this_client_is_a_protocol_error(packet: Packet) -> None:
    client, _ = connected()
    with pytest.raises(MqttProtocolError, match="the MQTT broker broke the protocol"):
        Broker.send(client, packet)
    assert client.state is ConnectionState.CLOSED
    assert client.receive_data(b"\xd0\x00", 0.0) == []  # closed: nothing more is read


def test_malformed_bytes_close_the_connection() -> None:
    client, _ = connected()
    with pytest.raises(MqttProtocolError, match="malformed MQTT packet"):
        client.receive_data(b"\x30\x02\x00\x05", 0.0)
    assert client.state is ConnectionState.CLOSED


def test_everything_fed_a_byte_at_a_time_gives_the_same_events() -> None:
    session = Session()
    client = Connection(session=session, client_id="gw", keepalive=30)
    client.connect(0.0)
    client.data_to_send(0.0)
    stream = b"".join(
        [
            encode(Connack(session_present=True, return_code=0)),
            encode(Publish(topic="smsgw/a/send", payload=b"x" * 300, qos=1, packet_id=4)),
            encode(Pingresp()),
            encode(Publish(topic="smsgw/b/send", payload=b"", qos=0)),
        ]
    )
    events = [e for i in range(len(stream)) for e in client.receive_data(stream[i : i + 1], 0.0)]
    assert events == [
        Connected(session_present=True, resent=0),
        Publish(topic="smsgw/a/send", payload=b"x" * 300, qos=1, packet_id=4),
        Publish(topic="smsgw/b/send", payload=b"", qos=0),
    ]


def test_a_publish_over_the_packet_limit_comes_up_as_its_head() -> None:
    client = Connection(session=Session(), client_id="gw", keepalive=30, max_packet=100)
    client.connect(0.0)
    Broker.send(client, Connack(session_present=False, return_code=0))
    big = encode_publish(b"smsgw/a/send", b"y" * 5000, 3, retain=True)
    events = [e for i in range(0, len(big), 700) for e in client.receive_data(big[i : i + 700], 0)]
    [event] = events
    assert isinstance(event, PublishTooLarge)
    assert (event.topic, event.packet_id, event.qos, event.retain) == ("smsgw/a/send", 3, 1, True)
    assert event.size == 5000  # of the payload
    assert event.head == b"y" * 1024  # the first KiB
    assert Broker.send(client, Pingresp()) == []  # the stream goes on after it


def test_disconnect_is_the_last_packet() -> None:
    client, broker = connected()
    client.disconnect()
    client.ack(1)
    assert broker.read(client) == [Disconnect()]
    assert client.state is ConnectionState.CLOSED
    with pytest.raises(MqttUsageError):
        client.subscribe([("a", 1)])


def test_settings_mqtt_forbids_are_refused_before_connecting() -> None:
    with pytest.raises(MqttUsageError, match="required for a persistent session"):
        Connection(session=Session(), client_id="", keepalive=30)
    client, _ = connected()
    with pytest.raises(MqttUsageError, match="illegal transition"):
        client.connect(0.0)
