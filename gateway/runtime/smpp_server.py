"""The SMPP server in the daemon: ``[smpp_server]`` settings to the server, wired to the
gateway (:class:`~gateway.ingress.esme.EsmeIngress` over the one send pipeline).

The server always runs in the daemon's process (with ``[workers]`` too): its
sends use a send pipeline of its own, built like every other one, whose
messages due now go straight to this daemon's dispatcher.

Deliveries back to the ESMEs (receipts, replies) are the job of an
:class:`~gateway.model.esme.EsmeDeliveries` (the daemon's
gateway.events.esme_deliveries.DeliveryPump), told of every receiver and
transceiver bind.
"""

from __future__ import annotations

from typing import Any

from drivers.smpp.server.listener import SmppServer
from drivers.smpp.server.settings import ServerSettings
from gateway.config.smpp_server import SmppServerConfig
from gateway.ingress.esme import EsmeIngress
from gateway.ingress.pipeline import SendService
from gateway.model.clock import Clock
from gateway.model.esme import EsmeDeliveries
from gateway.ops.esme_metrics import EsmeMetrics
from gateway.ops.metric_sinks import IngressMetrics
from gateway.store.base import Store


def server_settings(config: SmppServerConfig) -> ServerSettings:
    return ServerSettings(
        listen=config.listen,
        tls_listen=config.tls_listen,
        tls_cert=config.tls_cert,
        tls_key=config.tls_key,
        window=config.window,
        max_connections=config.max_connections,
        inactivity_timeout=config.inactivity_timeout,
        enquire_link=config.enquire_link,
        response_timeout=config.response_timeout,
        system_id=config.system_id,
        bind_timeout=config.bind_timeout,
        failed_binds=config.failed_binds,
        failed_bind_period=config.failed_bind_period,
    )


def build_smpp_server(
    *,
    config: SmppServerConfig,
    store: Store,
    send_service: SendService,
    metrics: IngressMetrics,
    esme_metrics: EsmeMetrics,
    logger: Any,
    clock: Clock,
    deliveries: EsmeDeliveries,
) -> SmppServer:
    gateway = EsmeIngress(store=store, send=send_service, metrics=metrics, clock=clock)
    return SmppServer(
        settings=server_settings(config),
        gateway=gateway,
        deliveries=deliveries,
        log=logger,
        metrics=esme_metrics,
        monotonic=clock.monotonic,
        clock=clock,
    )
