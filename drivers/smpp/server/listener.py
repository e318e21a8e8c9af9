"""The SMPP server: TCP and TLS listeners, one task per connection, the binds of each credential.

:meth:`SmppServer.start` opens every listener of its settings; :meth:`stop`
closes them, asks every bound ESME to unbind and waits (bounded) for the
connections to end. Binds per credential are counted here (``max_binds``:
beyond it ESME_RALYBND), throughput per credential (ESME_RTHROTTLED) and
failed binds per peer address (:mod:`drivers.smpp.server.limits`), whose
credentials are checked one bind at a time per address (:meth:`SmppServer.bind_turn`)
and :data:`CREDENTIAL_CHECKS` at a time over every address.
Receivers and transceivers are attached to the deliveries while bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from drivers.smpp.protocol import status as st
from drivers.smpp.protocol.server_events import BindRequested
from drivers.smpp.protocol.states import BindMode
from drivers.smpp.server.connection import EsmeConnection
from drivers.smpp.server.limits import FailedBinds, Throughput
from drivers.smpp.server.port import EsmeGateway
from drivers.smpp.server.settings import NoMetrics, ServerMetrics, ServerSettings
from gateway.model.errors import ConfigError
from gateway.model.esme import EsmeBind, EsmeCredential, EsmeDeliveries
from gateway.model.secrets import Secret


def tls_context(cert: Path, key: Secret) -> ssl.SSLContext:
    """A server context from a certificate chain file and the key's PEM text."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory(prefix="smsgw-tls-") as tmp:
        key_path = Path(tmp) / "key.pem"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(key.reveal() + "\n")
        try:
            context.load_cert_chain(cert, key_path)
        except (OSError, ssl.SSLError) as exc:
            msg = f"smpp_server.tls_cert / tls_key: cannot load them: {exc}"
            raise ConfigError(msg) from None
    return context


CREDENTIAL_CHECKS = 1  # password KDFs of binds running at once, over every address


class _Turn:
    """The binds of one peer address taking turns (:meth:`SmppServer.bind_turn`)."""

    __slots__ = ("lock", "waiting")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.waiting = 0


class SmppServer:
    def __init__(
        self,
        *,
        settings: ServerSettings,
        gateway: EsmeGateway,
        deliveries: EsmeDeliveries,
        log: Any,
        metrics: ServerMetrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.log = log
        self.metrics: ServerMetrics = metrics if metrics is not None else NoMetrics()
        self.throughput = Throughput()
        self.failed_binds = FailedBinds(
            limit=settings.failed_binds, period=settings.failed_bind_period
        )
        self._deliveries = deliveries
        self._monotonic = monotonic
        self._clock = clock
        self._servers: list[asyncio.Server] = []
        self._tls: set[asyncio.Server] = set()
        self._connections: set[EsmeConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._binds: dict[str, set[EsmeConnection]] = {}
        self._attached: set[EsmeConnection] = set()
        self._turns: dict[str, _Turn] = {}  # peer address -> its binds' turn (bind_turn)
        # binds from many addresses at once: their password KDFs one at a time, so
        # that a flood costs the daemon one thread's worth of CPU, not all of it
        self.credential_checks = asyncio.Semaphore(CREDENTIAL_CHECKS)
        self._stopping = False

    @property
    def addresses(self) -> list[tuple[str, int, bool]]:
        """(host, port, tls) of every listening socket (port 0 in the settings: the one given)."""
        out: list[tuple[str, int, bool]] = []
        for server in self._servers:
            tls = server in self._tls
            out.extend((s.getsockname()[0], s.getsockname()[1], tls) for s in server.sockets)
        return out

    def binds(self, system_id: str) -> int:
        return len(self._binds.get(system_id, ()))

    def bound_now(self) -> list[EsmeBind]:
        """Every bind open now, oldest first."""
        out = [
            EsmeBind(
                system_id=system_id,
                account=c.credential.account if c.credential is not None else "",
                bind_type=c.mode.value if c.mode is not None else "",
                peer=c.peer,
                peer_port=c.peer_port,
                tls=c.tls,
                bound_at=c.bound_at,
                in_flight=c.in_flight,
            )
            for system_id, connections in self._binds.items()
            for c in connections
        ]
        return sorted(out, key=lambda b: (b.bound_at, b.system_id, b.peer, b.peer_port or 0))

    async def start(self) -> None:
        s = self.settings
        context = None
        if s.tls_listen:
            if s.tls_cert is None or s.tls_key is None:
                msg = "smpp_server.tls_listen needs tls_cert and tls_key"
                raise ConfigError(msg)
            context = tls_context(s.tls_cert, s.tls_key)
        try:
            for host, port in s.listen:
                self._servers.append(await asyncio.start_server(self._accepted, host, port))
            for host, port in s.tls_listen:
                server = await asyncio.start_server(self._accepted, host, port, ssl=context)
                self._servers.append(server)
                self._tls.add(server)
        except OSError as exc:
            await self.stop()
            msg = f"smpp_server: cannot listen: {exc.strerror or exc}"
            raise ConfigError(msg) from None
        for host, port, tls in self.addresses:
            self.log.info("smpp_server_listening", host=host, port=port, tls=tls)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if peername else "unknown"
        if self._stopping or len(self._connections) >= self.settings.max_connections:
            self.log.warning("esme_connection_refused", peer=peer, open=len(self._connections))
            writer.close()
            return
        connection = EsmeConnection(
            server=self, reader=reader, writer=writer, peer=peer, monotonic=self._monotonic
        )
        self._connections.add(connection)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await connection.run()
        except Exception as exc:  # noqa: BLE001 - one connection's bug ends only it
            self.log.error(
                "esme_connection_failed", peer=peer, error=f"{type(exc).__name__}: {exc}"
            )
        finally:
            self._connections.discard(connection)
            if task is not None:
                self._tasks.discard(task)

    # --- binds ----------------------------------------------------------------------

    def bound(self, connection: EsmeConnection, credential: EsmeCredential, mode: BindMode) -> bool:
        """Count a bind the gateway accepted; False when the credential has all its binds."""
        bound = self._binds.setdefault(credential.system_id, set())
        if len(bound) >= credential.max_binds or self._stopping:
            return False
        bound.add(connection)
        connection.bound_at = self._clock()
        self.failed_binds.succeeded(connection.peer)
        self.metrics.esme_bound(system_id=credential.system_id, bind_type=mode.value)
        self.log.info(
            "esme_bound",
            system_id=credential.system_id,
            account=credential.account,
            bind_type=mode.value,
            peer=connection.peer,
        )
        return True

    def attach(self, connection: EsmeConnection) -> None:
        if connection.mode is not None and connection.mode is not BindMode.TRANSMITTER:
            self._attached.add(connection)
            self._deliveries.attach(connection)

    @contextlib.asynccontextmanager
    async def bind_turn(self, peer: str) -> AsyncIterator[None]:
        """The turn of one bind from ``peer`` to have its credentials checked: one at a
        time per address, so that the failures counted so far are seen by the next."""
        turn = self._turns.get(peer)
        if turn is None:
            turn = self._turns[peer] = _Turn()
        turn.waiting += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.waiting -= 1
            if not turn.waiting:
                del self._turns[peer]

    def bind_refused(
        self,
        connection: EsmeConnection,
        event: BindRequested,
        status: int,
        *,
        blocked: bool = False,
    ) -> None:
        """A refused bind, in the metrics and the log (the connection counts it
        against its address in its turn, :meth:`bind_turn`). Of the binds refused
        because their address is blocked, only the first of each block is logged
        at info (``blocked_for``: seconds since the last failure that end it), the
        others and their connections' ends at debug: a flood does not flood the log."""
        self.metrics.esme_bind_refused(status=st.status_name(status))
        fields: dict[str, Any] = {
            "system_id": event.system_id,
            "peer": connection.peer,
            "status": st.status_name(status),
        }
        if not blocked:
            self.log.info("esme_bind_refused", **fields)
        elif self.failed_binds.first_refusal(connection.peer):
            self.log.info("esme_bind_refused", **fields, blocked_for=self.failed_binds.period)
        else:
            connection.quiet = True
            self.log.debug("esme_bind_refused", **fields)

    def unbound(self, connection: EsmeConnection) -> None:
        """The connection ended: its bind (if any) no longer counts."""
        if connection in self._attached:
            self._attached.discard(connection)
            self._deliveries.detach(connection)
        credential = connection.credential
        if credential is None:
            return
        bound = self._binds.get(credential.system_id)
        if bound is not None and connection in bound:
            bound.discard(connection)
            if not bound:
                del self._binds[credential.system_id]
            if connection.mode is not None:
                self.metrics.esme_unbound(
                    system_id=credential.system_id, bind_type=connection.mode.value
                )
        self.log.info("esme_unbound", system_id=credential.system_id, peer=connection.peer)

    # --- stop -------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop listening, unbind every ESME, wait for their connections to end."""
        self._stopping = True
        for server in self._servers:
            server.close()
        if self._connections:
            await asyncio.gather(
                *(c.unbind() for c in list(self._connections)), return_exceptions=True
            )
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.settings.response_timeout)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        self._servers.clear()
