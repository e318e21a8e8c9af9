"""MQTT ingress and event publishing (README: MQTT) on smsgw's own MQTT 3.1.1 client.

The client is :mod:`gateway.events.mqtt`: a sans-IO protocol core and a thin
asyncio connection. Neither paho nor aiomqtt could do what this bridge needs
through their public APIs: acknowledge a send only once it is stored, and
publish events in batches whose PUBACKs are counted per batch.

A send is acknowledged to the broker only after the handler returns, that is
after the message (or its rejection) is durably stored. MQTT 3.1.1 (4.6)
wants PUBACKs in the order the PUBLISHes arrived, while the handlers run
concurrently (``concurrency`` at once, the rest waiting; reading from the
broker pauses while too many wait): acknowledgements wait in a FIFO and
leave it in order. A handler that raises (the store is unreachable) leaves
its message unacknowledged and ends the connection; the persistent session
(clean_session=False) makes the broker deliver it again after reconnecting,
to this daemon or, with a shared subscription, to another one.

A send published with the retain flag is kept by the broker and delivered
again at every subscription, each connect's (MQTT 3.1.1 3.3.1.3). Such a
copy comes flagged retained and is refused: ``on_retained`` stores its
rejection, the bridge clears it from the broker (an empty retained PUBLISH
on its topic, the protocol's way) and remembers it, so that it is refused
once, never sent nor charged. A retained send published while the gateway
is subscribed reaches it unflagged, as any send (the protocol says so), and
is sent once. Empty payloads (such clears) are not sends and are ignored. A
send over the client's packet limit (1 MiB) is never read whole: its head
goes to ``on_too_large``, which stores its rejection, and it is acknowledged.

Events go out in batches (:meth:`MqttBridge.publish_many`): one write of
all the PUBLISH packets, their PUBACKs counted per batch. The QoS 1 PUBLISHes
of a batch whose connection was lost stay in the session and go out again
(DUP) once reconnected, as MQTT 3.1.1 (4.4) wants; the caller, told they were
not acknowledged, keeps them too: events are published at least once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import random
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway.events.mqtt.client import Message, MqttClient, NotConnected
from gateway.events.mqtt.errors import MqttError
from gateway.events.mqtt.events import PublishTooLarge
from gateway.events.mqtt.packets import SUBACK_FAILURE, Publish
from gateway.events.mqtt.session import Session
from gateway.model.errors import ConfigError
from gateway.model.secrets import Secret

SendHandler = Callable[[str, bytes], Awaitable[None]]
TooLargeHandler = Callable[[str, bytes, int], Awaitable[None]]  # account, head, size
REFUSED_RETAINED = 1024  # retained copies remembered as refused (by digest)
CLEAR_TIMEOUT = 10.0  # seconds to wait for the broker to take a clear of a retained send


class MqttUnavailable(Exception):
    """Not connected to the broker right now; the caller keeps the event and retries."""


SHARED_GROUP = "smsgw"  # the shared subscription of several workers when [mqtt] names none


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttSettings:
    host: str
    port: int = 1883
    tls: bool = False
    topic_prefix: str = "smsgw"
    client_id: str = "smsgw"
    shared_group: str | None = None  # "$share/{group}/..." when several daemons share the load
    username: str | None = None
    password: Secret | None = None
    keepalive: int = 30
    concurrency: int = 64  # sends handled at once
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> MqttSettings:
        parts = urlsplit(url)
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
            msg = f"[mqtt] url: {url!r} is not mqtt://host[:port] or mqtts://host[:port]"
            raise ConfigError(msg)
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname, port=parts.port or (8883 if tls else 1883), tls=tls, **kwargs
        )

    @property
    def send_filter(self) -> str:
        topic = f"{self.topic_prefix}/+/send"
        return f"$share/{self.shared_group}/{topic}" if self.shared_group else topic

    @property
    def other_filter(self) -> str:
        """The form of the send filter not in use (shared or not): a persistent session
        kept from a run configured the other way drops it, or it would get sends twice."""
        topic = f"{self.topic_prefix}/+/send"
        return topic if self.shared_group else f"$share/{SHARED_GROUP}/{topic}"


class _AckQueue:
    """PUBACKs released in arrival order once their handlers finished."""

    def __init__(self, ack: Callable[[int, int], object]) -> None:
        self._ack = ack
        self._fifo: collections.deque[list[int]] = collections.deque()  # [mid, qos, done]

    def arrived(self, mid: int, qos: int) -> list[int]:
        entry = [mid, qos, 0]
        self._fifo.append(entry)
        return entry

    def finished(self, entry: list[int]) -> None:
        entry[2] = 1
        fifo = self._fifo
        while fifo and fifo[0][2]:
            mid, qos, _ = fifo.popleft()
            if qos > 0:
                self._ack(mid, qos)


class _HandlerFailed(Exception):
    """A send could not be stored; the connection is dropped so that it comes back."""


class _Intake:
    """The sends of one connection: handlers started, waiting, acknowledged in order."""

    def __init__(self, client: MqttClient, concurrency: int) -> None:
        self.client = client
        self.acks = _AckQueue(lambda mid, _qos: client.ack(mid))
        self.concurrency = concurrency
        self.handlers: set[asyncio.Task[None]] = set()
        self.backlog: collections.deque[tuple[Message, str, list[int]]] = collections.deque()
        self.failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False  # no new handlers: the connection is ending


class MqttBridge:
    """Consumes ``{prefix}/+/send`` and publishes events, reconnecting with back-off."""

    def __init__(
        self,
        *,
        settings: MqttSettings,
        on_send: SendHandler,
        logger: Any,  # a structlog bound logger
        rng: random.Random | None = None,
        on_connection: Callable[[bool], None] | None = None,  # metrics: connected or not
        on_retained: SendHandler | None = None,  # a retained copy of a send: its rejection
        on_too_large: TooLargeHandler | None = None,  # a send over the packet limit
    ) -> None:
        self._settings = settings
        self._on_send = on_send
        self._on_retained = on_retained
        self._on_too_large = on_too_large
        # digests of the retained copies refused: one seen again (its clear was not
        # allowed, or lost) is acknowledged without a second rejection
        self._refused: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._on_connection = on_connection
        self._log = logger.bind(component="mqtt")
        self._rng = rng or random.Random()
        self._session = Session()  # outlives connections: QoS 1 PUBLISHes not acknowledged
        self._broker: MqttClient | None = None  # the connection to the broker, once up
        self._stopping = asyncio.Event()
        self.connected = asyncio.Event()
        self.connections = 0  # successful connections so far (metrics, tests)

    def topic(self, account: str, kind: str) -> str:
        return f"{self._settings.topic_prefix}/{account}/{kind}"

    async def publish(self, topic: str, payload: bytes, *, timeout: float = 10.0) -> None:
        """Publish with QoS 1 and wait for the broker's PUBACK."""
        if not (await self.publish_many([(topic, payload)], timeout=timeout))[0]:
            raise MqttUnavailable(topic)

    async def publish_many(
        self, messages: Sequence[tuple[str, bytes]], *, timeout: float = 10.0
    ) -> list[bool]:
        """Publish ``(topic, payload)`` pairs in order with QoS 1, pipelined.

        Returns, per message, whether the broker acknowledged it (PUBACK)
        within ``timeout``; a connection lost on the way ends the wait early.
        Raises :class:`MqttUnavailable` when not connected (nothing was sent).
        """
        client = self._broker
        if client is None or not client.connected or not self.connected.is_set():
            raise MqttUnavailable(messages[0][0] if messages else "")
        try:
            return await client.publish_many(messages, timeout=timeout)
        except NotConnected:
            raise MqttUnavailable(messages[0][0] if messages else "") from None

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Stay connected until :meth:`stop`; never raises for broker trouble."""
        delay = self._settings.reconnect_min
        while not self._stopping.is_set():
            connections = self.connections
            try:
                await self._connection()
            except (MqttError, OSError, _HandlerFailed) as exc:
                if self.connections > connections:  # it was up: back-off starts over
                    delay = self._settings.reconnect_min
                self._log.warning("mqtt_disconnected", error=str(exc), retry_in=round(delay, 2))
            finally:
                self._broker = None
                if self.connected.is_set() and self._on_connection is not None:
                    self._on_connection(False)
                self.connected.clear()
            if self._stopping.is_set():
                return
            # jittered exponential back-off ("full jitter" on the upper half)
            sleep = delay / 2 + self._rng.random() * delay / 2
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(sleep):
                    await self._stopping.wait()
            delay = min(delay * 2, self._settings.reconnect_max)

    async def _connection(self) -> None:
        """One connection, from CONNECT to its end; raises what ended it but a stop."""
        s = self._settings
        client = MqttClient(
            session=self._session,
            client_id=s.client_id,
            username=s.username,
            password=s.password,
            keepalive=s.keepalive,
            on_message=lambda message: self._arrived(intake, message),
            logger=self._log,
        )
        intake = _Intake(client, s.concurrency)
        try:
            connected = await client.connect(
                s.host, s.port, tls=ssl.create_default_context() if s.tls else None
            )
            self.connections += 1  # sends the session kept may be in already
            await client.unsubscribe(s.other_filter)
            if await client.subscribe(s.send_filter, qos=1) == SUBACK_FAILURE:
                # events still go out; sends do not come in until the broker allows it
                self._log.error("mqtt_subscribe_refused", topic=s.send_filter)
            self._broker = client
            self.connected.set()
            if self._on_connection is not None:
                self._on_connection(True)
            self._log.info(
                "mqtt_connected",
                host=s.host,
                port=s.port,
                topic=s.send_filter,
                session_present=connected.session_present,
                resent=connected.resent,
            )
            stop = asyncio.ensure_future(self._stopping.wait())
            ends: set[asyncio.Future[Any]] = {stop, client.done, intake.failed}
            try:
                await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                await asyncio.gather(stop, return_exceptions=True)
        finally:
            intake.closed = True  # sends read from here on come back on another connection
            intake.backlog.clear()
            if intake.handlers:
                # sends being stored finish, and are acknowledged if we still can
                await asyncio.wait(intake.handlers)
            await client.disconnect()
        if intake.failed.done():
            raise _HandlerFailed(str(intake.failed.exception()))
        if not self._stopping.is_set():
            raise client.done.result()

    # --- sends ---------------------------------------------------------------------

    def _arrived(self, intake: _Intake, message: Message) -> None:
        if intake.closed:
            return  # not acknowledged: delivered again
        entry = intake.acks.arrived(message.packet_id, message.qos)
        prefix = self._settings.topic_prefix + "/"
        topic = message.topic
        account = topic[len(prefix) : -len("/send")] if topic.startswith(prefix) else ""
        if not account or "/" in account or not topic.endswith("/send"):
            # not ours to store; acknowledge so it does not come back forever
            self._log.warning("mqtt_topic_ignored", topic=topic)
            intake.acks.finished(entry)
            return
        if isinstance(message, Publish) and not message.payload:
            # an empty PUBLISH clears a retained message (ours too): nothing to send
            self._log.info("mqtt_empty_send_ignored", account=account)
            intake.acks.finished(entry)
            return
        if len(intake.handlers) < intake.concurrency:
            self._start(intake, message, account, entry)
            return
        intake.backlog.append((message, account, entry))
        if len(intake.backlog) >= intake.concurrency:
            intake.client.pause_reading()  # the broker's sends wait in its queue, not ours

    def _start(self, intake: _Intake, message: Message, account: str, entry: list[int]) -> None:
        work: Awaitable[None]
        if isinstance(message, PublishTooLarge):
            work = self._refuse_too_large(intake, message, account)
        elif message.retain:
            work = self._refuse_retained(intake, message.topic, account, message.payload)
        else:
            work = self._on_send(account, message.payload)
        task = asyncio.create_task(self._handle(work, intake=intake, account=account, entry=entry))
        intake.handlers.add(task)
        task.add_done_callback(lambda done: self._finished(intake, done))

    def _finished(self, intake: _Intake, task: asyncio.Task[None]) -> None:
        intake.handlers.discard(task)
        if intake.closed:
            return
        if intake.backlog:
            self._start(intake, *intake.backlog.popleft())
        if not intake.backlog:
            intake.client.resume_reading()

    async def _handle(
        self, work: Awaitable[None], *, intake: _Intake, account: str, entry: list[int]
    ) -> None:
        try:
            await work
        except Exception as exc:  # noqa: BLE001 - any failure means: do not acknowledge
            self._log.error("mqtt_send_not_stored", account=account, error=repr(exc))
            if not intake.failed.done():
                intake.failed.set_exception(exc)
            return
        intake.acks.finished(entry)

    async def _refuse_retained(
        self, intake: _Intake, topic: str, account: str, data: bytes
    ) -> None:
        """A retained copy: rejected once (never sent), then cleared from the broker."""
        digest = hashlib.sha256(topic.encode() + b"\0" + data).digest()
        if digest in self._refused:
            self._log.info("mqtt_retained_send_ignored", account=account)
        else:
            self._log.warning("mqtt_retained_send_refused", account=account)
            if self._on_retained is not None:
                await self._on_retained(account, data)
            self._refused[digest] = None
            if len(self._refused) > REFUSED_RETAINED:
                self._refused.popitem(last=False)
        await self._clear(intake, topic, account)

    async def _refuse_too_large(
        self, intake: _Intake, message: PublishTooLarge, account: str
    ) -> None:
        """A send over the packet limit: its head rejected (never sent); cleared if retained."""
        self._log.warning("mqtt_send_too_large", account=account, size=message.size)
        if self._on_too_large is not None:
            await self._on_too_large(account, message.head, message.size)
        if message.retain:
            await self._clear(intake, message.topic, account)

    async def _clear(self, intake: _Intake, topic: str, account: str) -> None:
        """An empty retained PUBLISH: the broker drops what it retained on ``topic``."""
        try:
            [cleared] = await intake.client.publish_many(
                [(topic, b"")], retain=True, timeout=CLEAR_TIMEOUT
            )
        except MqttError as exc:
            cleared, error = False, str(exc)
        else:
            error = "no PUBACK"
        if not cleared:
            # refused all the same; it comes back at the next subscription, and is ignored
            self._log.warning("mqtt_retained_send_not_cleared", account=account, error=error)
