"""The states of an ESME session and the one table of their transitions.

:class:`drivers.smpp.protocol.session.EsmeSession` moves only through
:meth:`SessionState.check`, which raises on a transition the table does not
hold: ``idle -> binding -> bound -> unbinding -> closed``, and ``closed``
from anywhere. :class:`BindMode` is what the session binds as.
"""

from __future__ import annotations

import enum

from drivers.smpp.protocol.pdu import CommandId
from gateway.model.errors import LocalProtocolError


class BindMode(enum.Enum):
    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"

    @property
    def command_id(self) -> CommandId:
        return _BIND_IDS[self]

    @property
    def can_submit(self) -> bool:
        return self is not BindMode.RECEIVER


_BIND_IDS = {
    BindMode.TRANSMITTER: CommandId.BIND_TRANSMITTER,
    BindMode.RECEIVER: CommandId.BIND_RECEIVER,
    BindMode.TRANSCEIVER: CommandId.BIND_TRANSCEIVER,
}


class SessionState(enum.Enum):
    IDLE = "idle"  # no connection yet
    BINDING = "binding"
    BOUND = "bound"
    UNBINDING = "unbinding"  # we sent unbind
    CLOSED = "closed"  # over: the caller closes the connection

    def check(self, target: SessionState) -> SessionState:
        if target not in _TRANSITIONS[self]:
            msg = f"SMPP session: illegal transition {self.value} -> {target.value}"
            raise LocalProtocolError(msg)
        return target


_S = SessionState
_TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    _S.IDLE: frozenset({_S.BINDING, _S.CLOSED}),
    _S.BINDING: frozenset({_S.BOUND, _S.CLOSED}),
    _S.BOUND: frozenset({_S.UNBINDING, _S.CLOSED}),
    _S.UNBINDING: frozenset({_S.CLOSED}),
    _S.CLOSED: frozenset({_S.CLOSED}),
}
