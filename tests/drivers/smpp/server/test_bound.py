"""Who is bound now: the gauge and the server's list of binds, smpplib as the ESME over TCP."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from drivers.smpp.protocol import status as st
from gateway.ops.esme_metrics import EsmeMetrics
from tests.drivers.smpp.server.test_listener import FakeGateway, bind_error, client, serve
from tests.waiting import eventually

GAUGE = "smsgw_esme_bound"


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
