"""The states of an SMSC-side (server) session and the one table of their transitions.

:class:`drivers.smpp.protocol.server.ServerSession` moves only through
:meth:`ServerState.check`: ``open -> binding -> bound``; from ``bound``
either ``unbinding`` (the server asked the ESME to unbind) or ``closing``
(the ESME unbound: its unbind_resp waits until every request it sent before
is answered); ``closed`` from anywhere.
"""

from __future__ import annotations

import enum

from gateway.model.errors import LocalProtocolError


class ServerState(enum.Enum):
    OPEN = "open"  # connected, not bound
    BINDING = "binding"  # a bind is being decided by the gateway
    BOUND = "bound"
    UNBINDING = "unbinding"  # we sent unbind, awaiting unbind_resp
    CLOSING = "closing"  # the ESME unbound; answering what it sent before
    CLOSED = "closed"  # over: the caller closes the connection

    def check(self, target: ServerState) -> ServerState:
        if target not in _TRANSITIONS[self]:
            msg = f"SMPP server session: illegal transition {self.value} -> {target.value}"
            raise LocalProtocolError(msg)
        return target

    @property
    def takes_requests(self) -> bool:
        """Whether a submit, query or cancel from the ESME is taken now."""
        return self is ServerState.BOUND


_S = ServerState
_TRANSITIONS: dict[ServerState, frozenset[ServerState]] = {
    _S.OPEN: frozenset({_S.BINDING, _S.CLOSED}),
    _S.BINDING: frozenset({_S.BOUND, _S.CLOSED}),
    _S.BOUND: frozenset({_S.UNBINDING, _S.CLOSING, _S.CLOSED}),
    _S.UNBINDING: frozenset({_S.CLOSED}),
    _S.CLOSING: frozenset({_S.CLOSED}),
    _S.CLOSED: frozenset({_S.CLOSED}),
}
