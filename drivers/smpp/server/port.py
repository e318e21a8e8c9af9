"""What the SMPP server asks of the gateway: its one port, a Protocol.

The server decides nothing about credentials or messages. ``gateway/ingress/esme.py``
implements this over the store and the one send pipeline; tests pass fakes.
Refusals are raised as :class:`~gateway.model.errors.UserError` subclasses
(``gateway.model.esme_ingress`` holds the server's own); the server turns
each into a command_status with :func:`drivers.smpp.server.statuses.status_for`.
"""

from __future__ import annotations

from typing import Protocol

from gateway.model.esme import EsmeCredential
from gateway.model.esme_ingress import EsmeSubmit, QueryAnswer


class EsmeGateway(Protocol):
    async def authenticate(self, system_id: str, password: str, peer: str) -> EsmeCredential:
        """The credential a bind names, or UnknownSystemId / WrongPassword /
        AddressNotAllowed / StoreUnavailable. ``peer`` is the IP address."""

    async def submit(self, credential: EsmeCredential, submit: EsmeSubmit) -> str:
        """Send one message through the send pipeline; its message id once committed."""

    async def query(self, credential: EsmeCredential, message_id: str) -> QueryAnswer:
        """A message of the credential's account, or UnknownMessage."""

    async def cancel(self, credential: EsmeCredential, message_id: str) -> None:
        """Cancel a queued message of the credential's account (NotCancellable when not)."""
