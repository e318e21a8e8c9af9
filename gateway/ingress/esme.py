"""The gateway's side of the SMPP server: binds checked in the store, submits through the
one send pipeline (:class:`~gateway.ingress.pipeline.SendService`).

:class:`EsmeIngress` is what ``drivers/smpp/server`` calls its ``EsmeGateway``
(the runtime hands one to the other). Choices made here:

- One submit is one recipient and one message: its id is the submit_sm_resp's
  message_id, answered only once :meth:`SendService.send` returned, which is
  after the message and its debit were committed.
- A recipient the pipeline refuses (credit, monthly cap, price) refuses the
  submit with that error; the server maps it to a command_status.
- query_sm and cancel_sm see only the credential's account's messages:
  another account's message is unknown, exactly like a missing one.
- A submit the ESME cut itself (a user data header, SAR TLVs, binary data:
  esme_content.py) is one message of one segment, billed as one, sent as given.
- Every message keeps its :class:`~gateway.model.esme.EsmeOrigin` (system_id
  and registered_delivery), so its receipts can go back to the ESME.
"""

from __future__ import annotations

import ipaddress

from gateway.ingress import esme_fields as fields
from gateway.ingress.esme_content import content_of
from gateway.ingress.pipeline import MAX_VALIDITY, SendRequest, SendService
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.errors import NotCancellable, NotFound, UserError
from gateway.model.esme import EsmeCredential, EsmeOrigin
from gateway.model.esme_ingress import AddressNotAllowed, EsmeSubmit, QueryAnswer, UnknownMessage
from gateway.model.message import MessageState
from gateway.model.records import Message
from gateway.ops.metric_sinks import IngressMetrics
from gateway.store.base import Store

CHANNEL = "smpp"


def address_allowed(peer: str, allow: tuple[str, ...]) -> bool:
    """Whether ``peer`` (an IP address, IPv4-mapped IPv6 included) is in ``allow`` (empty: any)."""
    if not allow:
        return True
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(cidr) for cidr in allow)


class EsmeIngress:
    def __init__(
        self,
        *,
        store: Store,
        send: SendService,
        metrics: IngressMetrics | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._store = store
        self._send = send
        self._metrics = metrics
        self._clock = clock

    async def authenticate(self, system_id: str, password: str, peer: str) -> EsmeCredential:
        credential = await self._store.esme_credential_for_bind(system_id, password)
        if not address_allowed(peer, credential.allow):
            msg = f"system_id {system_id!r} may not bind from {peer}"
            raise AddressNotAllowed(msg)
        return credential

    def request(self, credential: EsmeCredential, submit: EsmeSubmit) -> SendRequest:
        """The send request of one submit (refused with the reason when it cannot be one)."""
        now = self._clock()
        content = content_of(submit, latin1="latin1" in credential.options)
        return SendRequest(
            account=credential.account,
            sender=fields.sender_of(submit),
            recipients=(fields.destination_of(submit),),
            text=content.text,
            msg_class=content.msg_class,
            raw=content.raw,
            send_at=fields.send_at_of(submit, now),
            validity=fields.validity_of(submit, now, MAX_VALIDITY),
            priority=fields.priority_of(submit),
            origin=EsmeOrigin(
                system_id=credential.system_id,
                registered_delivery=submit.registered_delivery,
            ),
        )

    async def submit(self, credential: EsmeCredential, submit: EsmeSubmit) -> str:
        result = await self._send.send(self.request(credential, submit))
        if result.refused:
            raise result.refused[0].error
        enqueued = result.accepted[0]
        if not enqueued.duplicate and self._metrics is not None:
            self._metrics.message_accepted(account=credential.account, channel=CHANNEL)
        return enqueued.message.id

    async def _own(self, credential: EsmeCredential, message_id: str) -> Message:
        try:
            view = await self._store.get_message(message_id)
        except NotFound:
            view = None
        if view is None or view.message.account != credential.account:
            msg = f"no message {message_id!r} for system_id {credential.system_id!r}"
            raise UnknownMessage(msg)
        return view.message

    async def query(self, credential: EsmeCredential, message_id: str) -> QueryAnswer:
        message = await self._own(credential, message_id)
        return QueryAnswer(
            message_id=message.id,
            state=message.state,
            final_at=message.updated_at if message.state.final else None,
        )

    async def cancel(self, credential: EsmeCredential, message_id: str) -> None:
        message = await self._own(credential, message_id)
        if message.state is not MessageState.QUEUED:
            raise NotCancellable(message.id, message.state.value)
        try:
            changes = await self._store.cancel(message.id)
        except NotFound:
            raise
        except UserError:  # the state moved meanwhile
            now = await self._own(credential, message_id)
            raise NotCancellable(message.id, now.state.value) from None
        if self._metrics is not None:
            for change in changes.changes:
                if change.new.final:
                    self._metrics.message_finished(account=change.account, status=change.new.value)
