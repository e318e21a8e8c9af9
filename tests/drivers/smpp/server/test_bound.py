"""Who is bound now: the gauge and the server's list of binds, smpplib as the ESME over TCP."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from drivers.smpp.protocol import status as st
from drivers.smpp.server.listener import SmppServer
from drivers.smpp.server.settings import ServerSettings
from gateway.model.esme import DeliveryKind, EsmeDelivery
from gateway.model.outcomes import ReceiptState
from gateway.ops.esme_metrics import EsmeMetrics
from tests.drivers.smpp.server.test_listener import (
    Deliveries,
    FakeGateway,
    Log,
    bind_error,
    client,
    receive_one,
    serve,
)
from tests.waiting import eventually

GAUGE = "smsgw_esme_bound"
DELIVERY = EsmeDelivery(
    id=1,
    system_id="acme",
    kind=DeliveryKind.RECEIPT,
    source="+33612345678",
    destination="ACME",
    done_at=1.7e9,
    message_id="m1",
    state=ReceiptState.DELIVERED,
    submitted_at=1.7e9 - 5,
    segments=1,
)


async def test_the_bound_gauge_follows_binds_unbinds_and_lost_connections() -> None:
    registry = CollectorRegistry()

    def bound(bind_type: str) -> float | None:
        return registry.get_sample_value(GAUGE, {"system_id": "acme", "bind_type": bind_type})

    server, _, port = await serve(FakeGateway(max_binds=3), metrics=EsmeMetrics(registry=registry))
    try:
        trx = await asyncio.to_thread(client, port)
        await asyncio.to_thread(trx.bind_transceiver, system_id="acme", password="secret")
        rx = await asyncio.to_thread(client, port)
        await asyncio.to_thread(rx.bind_receiver, system_id="acme", password="secret")
        assert (bound("transceiver"), bound("receiver")) == (1, 1)
        # a refused bind is not counted
        assert await asyncio.to_thread(bind_error, port, "acme", "nope") == st.ESME_RINVPASWD
        assert bound("transmitter") is None

        await asyncio.to_thread(trx.unbind)
        await asyncio.to_thread(trx.disconnect)
        await eventually(lambda: bound("transceiver") == 0, what="the unbind counted")
        assert bound("receiver") == 1

        rx._socket.close()  # noqa: SLF001 - the connection lost, no unbind
        await eventually(lambda: bound("receiver") == 0, what="the lost connection counted")

        tx = await asyncio.to_thread(client, port)
        await asyncio.to_thread(tx.bind_transmitter, system_id="acme", password="secret")
        assert bound("transmitter") == 1
        await asyncio.to_thread(tx.disconnect)
        await eventually(lambda: bound("transmitter") == 0, what="the closed connection counted")
    finally:
        await server.stop()


async def test_bound_now_lists_each_bind_with_its_peer_since_and_deliveries_in_flight() -> None:
    deliveries = Deliveries()
    server = SmppServer(
        settings=ServerSettings(listen=(("127.0.0.1", 0),)),
        gateway=FakeGateway(max_binds=2),
        deliveries=deliveries,
        log=Log(),
        clock=lambda: 1_796_000_000.0,
    )
    await server.start()
    port = server.addresses[0][1]
    try:
        assert server.bound_now() == []
        tx = await asyncio.to_thread(client, port)
        await asyncio.to_thread(tx.bind_transmitter, system_id="acme", password="secret")
        rx = await asyncio.to_thread(client, port)
        await asyncio.to_thread(rx.bind_receiver, system_id="acme", password="secret")
        ports = {
            "transmitter": tx._socket.getsockname()[1],  # noqa: SLF001
            "receiver": rx._socket.getsockname()[1],  # noqa: SLF001
        }
        binds = server.bound_now()
        assert {b.bind_type: b.peer_port for b in binds} == ports
        assert {(b.system_id, b.account, b.peer, b.tls, b.bound_at) for b in binds} == {
            ("acme", "acme", "127.0.0.1", False, 1_796_000_000.0)
        }
        assert [b.in_flight for b in binds] == [0, 0]

        [target] = deliveries.targets
        sent = asyncio.create_task(target.deliver(DELIVERY))
        await eventually(
            lambda: [b.in_flight for b in server.bound_now() if b.bind_type == "receiver"] == [1],
            what="one deliver_sm in flight",
        )
        await asyncio.to_thread(receive_one, rx)  # answered
        await sent
        assert [b.in_flight for b in server.bound_now()] == [0, 0]

        await asyncio.to_thread(tx.disconnect)
        await eventually(lambda: len(server.bound_now()) == 1, what="the transmitter gone")
        await asyncio.to_thread(rx.disconnect)
        await eventually(lambda: server.bound_now() == [], what="the receiver gone")
    finally:
        await server.stop()
