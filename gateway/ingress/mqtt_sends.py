"""MQTT sends: ``{prefix}/{account}/send`` payloads into the send service.

The bridge acknowledges a send to the broker when this handler returns, so
it returns only once the outcome is durable: the messages committed with
their debit, or the refusal committed as a ``rejected`` event (published on
``{prefix}/{account}/rejected``).

Nothing a payload holds can make the handler raise: a refused payload (its
reason from :func:`~gateway.ingress.http_schema.parse_send_payload`, the rules HTTP
applies) is stored as a rejection whose fields are all storable (a
``client_ref`` that is not a valid one is left out, the excerpt of the
payload is decoded with replacement characters), and an unexpected failure
while handling one send (a bug) is logged and stored as an ``internal``
rejection of that send. Only a store that does not answer raises: the send
stays unacknowledged and the broker delivers it again once it does, to this
daemon or another.

A retained copy of a send (the broker's, delivered when the bridge
subscribes) is refused with the code ``retained``: :meth:`MqttSendHandler.refuse_retained`;
a send too large for the bridge to read whole (over 1 MiB) with ``too_large``, as
any payload over the limit: :meth:`MqttSendHandler.refuse_too_large`.
"""

from __future__ import annotations

import re
import sqlite3
import traceback
from collections.abc import Callable
from typing import Any

from gateway.ingress.http_schema import (
    DEFAULT_MAX_BYTES,
    parse_send_payload,
    payload_client_ref,
)
from gateway.ingress.pipeline import SendService
from gateway.model.errors import PayloadTooLarge, StoreError, UserError
from gateway.ops.metric_sinks import IngressMetrics
from gateway.store.base import Store

_EXCERPT = 200  # characters of a refused payload echoed back, to identify it
# the store did not do the work, whatever the send held: SQLite locked, disk full,
# I/O error, a closed store; the send is delivered again, not rejected
STORE_DOWN: tuple[type[Exception], ...] = (StoreError, OSError, sqlite3.OperationalError)
RETAINED_REFUSED = (
    "retained copy of a send refused: publish sends without the retain flag (the broker "
    "delivers a retained one again at every subscription); this copy was cleared from "
    "the broker, nothing was sent or charged for it"
)
_SURROGATE = re.compile("[\ud800-\udfff]")  # never in a str a payload can store or encode


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
        try:
            await self._take(account, payload)
        except STORE_DOWN:
            raise  # not acknowledged: the broker delivers it again
        except Exception as exc:  # noqa: BLE001 - one send's bug ends as that send's rejection
            self._log.error(
                "mqtt_send_failed",
                account=account,
                error=type(exc).__name__,
                traceback="".join(traceback.format_exception(exc)),
            )
            await self._reject(
                account,
                code="internal",
                detail="internal error; see the server log",
                client_ref=payload_client_ref(payload),
                payload=payload,
            )

    async def refuse_retained(self, account: str, payload: bytes) -> None:
        """A retained copy of a send (the broker delivers one at every subscription):
        rejected, never sent nor charged (:mod:`gateway.events.mqtt_bridge` clears it)."""
        await self._reject(
            account,
            code="retained",
            detail=RETAINED_REFUSED,
            client_ref=payload_client_ref(payload),
            payload=payload,
        )

    async def refuse_too_large(self, account: str, head: bytes, size: int) -> None:
        """A send the bridge did not read whole (over its packet limit): rejected as
        too large, as a payload over the limit that was read is; ``head`` its start."""
        await self._reject(
            account,
            code=PayloadTooLarge.code,
            detail=str(PayloadTooLarge(size, DEFAULT_MAX_BYTES)),
            client_ref=payload_client_ref(head),
            payload=head,
        )

    async def _take(self, account: str, payload: bytes) -> None:
        try:
            request = parse_send_payload(payload, account=account)
            result = await self._send.send(request)
        except UserError as exc:
            await self._reject(
                account,
                code=exc.code,
                detail=str(exc),
                client_ref=payload_client_ref(payload),
                payload=payload,
            )
            return
        for refused in result.refused:
            await self._reject(
                account,
                code=refused.error.code,
                detail=str(refused.error),
                client_ref=request.client_ref,
                payload=payload,
                to=refused.destination,
            )
        fresh = [a for a in result.accepted if not a.duplicate]
        if fresh:
            self._metrics.message_accepted(account=account, channel="mqtt", count=len(fresh))
            self._poke_events()

    async def _reject(
        self,
        account: str,
        *,
        code: str,
        detail: str,
        client_ref: str | None,
        payload: bytes,
        to: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"error": code, "detail": storable(detail), "client_ref": client_ref}
        if to is not None:
            body["to"] = storable(to)
        else:
            body["payload"] = payload[:_EXCERPT].decode("utf-8", "replace")
        await self._store.add_event(account=account, kind="rejected", payload=body)
        self._metrics.message_rejected(account=account, reason=code)
        self._log.info("mqtt_send_rejected", account=account, error=code)
        self._poke_events()


def storable(text: str) -> str:
    """``text`` with any lone surrogate replaced (U+FFFD): it encodes as UTF-8."""
    return _SURROGATE.sub("\ufffd", text)
