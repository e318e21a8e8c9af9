"""What the SMPP server counts, on the daemon's registry (the server's ServerMetrics).

Messages the server takes are counted with the others, under channel
``smpp`` of ``smsgw_messages_accepted`` (gateway/ingress/esme.py).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.ops.collectors import PREFIX


class EsmeMetrics:
    def __init__(self, *, registry: CollectorRegistry) -> None:
        p, r = PREFIX, registry
        self.binds = Counter(
            f"{p}_esme_binds",
            "Binds accepted by the SMPP server, by system_id and bind type.",
            ["system_id", "bind_type"],
            registry=r,
        )
        self.bound = Gauge(
            f"{p}_esme_bound",
            "ESMEs bound to the SMPP server now, by system_id and bind type.",
            ["system_id", "bind_type"],
            registry=r,
        )
        self.binds_refused = Counter(
            f"{p}_esme_binds_refused",
            "Binds the SMPP server refused, by command_status.",
            ["status"],
            registry=r,
        )
        self.submits = Counter(
            f"{p}_esme_submits",
            "submit_sm and data_sm the SMPP server answered, by system_id and command_status.",
            ["system_id", "status"],
            registry=r,
        )
        self.throttled = Counter(
            f"{p}_esme_throttled",
            "Submits answered ESME_RTHROTTLED (throughput or window), by system_id.",
            ["system_id"],
            registry=r,
        )

    def esme_bound(self, *, system_id: str, bind_type: str) -> None:
        self.binds.labels(system_id=system_id, bind_type=bind_type).inc()
        self.bound.labels(system_id=system_id, bind_type=bind_type).inc()

    def esme_unbound(self, *, system_id: str, bind_type: str) -> None:
        self.bound.labels(system_id=system_id, bind_type=bind_type).dec()

    def esme_bind_refused(self, *, status: str) -> None:
        self.binds_refused.labels(status=status).inc()

    def esme_submit(self, *, system_id: str, status: str) -> None:
        self.submits.labels(system_id=system_id, status=status).inc()

    def esme_throttled(self, *, system_id: str) -> None:
        self.throttled.labels(system_id=system_id).inc()
