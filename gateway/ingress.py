"""MQTT sends: ``{prefix}/{account}/send`` payloads into the send service.

The bridge acknowledges a send to the broker when this handler returns, so
it returns only once the outcome is durable: the messages committed with
their debit, or the refusal committed as a ``rejected`` event (published on
``{prefix}/{account}/rejected``). A store failure raises: the send stays
unacknowledged and the broker delivers it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gateway.api_schema import parse_send_payload
from gateway.enqueue import SendService
from gateway.errors import UserError
from gateway.metrics import IngressMetrics
from gateway.store.base import Store

_EXCERPT = 200  # characters of a refused payload echoed back, to identify it


class MqttSendHandler:
    def __init__(
        self,
        *,
        store: Store,
        send_service: SendService,
        poke_events: Callable[[], object],
        metrics: IngressMetrics,
        logger: Any,  # a structlog bound logger
    ) -> None:
        self._store = store
        self._send = send_service
        self._poke_events = poke_events  # the outbox publisher: new event rows
        self._metrics = metrics
        self._log = logger.bind(component="mqtt_ingress")

    async def __call__(self, account: str, payload: bytes) -> None:
        client_ref = _client_ref(payload)
        try:
            request = parse_send_payload(payload, account=account)
            result = await self._send.send(request)
        except UserError as exc:
            await self._reject(account, code=exc.code, detail=str(exc), client_ref=client_ref,
                               payload=payload)
            return
        for refused in result.refused:
            await self._reject(account, code=refused.error.code, detail=str(refused.error),
                               client_ref=client_ref, payload=payload, to=refused.destination)
        fresh = [a for a in result.accepted if not a.duplicate]
        if fresh:
            self._metrics.message_accepted(account=account, channel="mqtt", count=len(fresh))
            self._poke_events()

    async def _reject(
        self, account: str, *, code: str, detail: str, client_ref: str | None, payload: bytes,
        to: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"error": code, "detail": detail, "client_ref": client_ref}
        if to is not None:
            body["to"] = to
        else:
            body["payload"] = payload[:_EXCERPT].decode("utf-8", "replace")
        await self._store.add_event(account=account, kind="rejected", payload=body)
        self._metrics.message_rejected(account=account, reason=code)
        self._log.info("mqtt_send_rejected", account=account, error=code)
        self._poke_events()


def _client_ref(payload: bytes) -> str | None:
    """The client_ref of a payload, when it can be read at all (to label a refusal)."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    ref = doc.get("client_ref") if isinstance(doc, dict) else None
    return ref if isinstance(ref, str) else None
