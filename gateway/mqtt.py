"""MQTT ingress and event publishing (DESIGN.md 3.4) on aiomqtt.

A send is acknowledged to the broker only after the handler returns, that is
after the message (or its rejection) is durably stored. aiomqtt acknowledges
QoS 1 messages as soon as they are read; its paho client can be switched to
manual acknowledgement, which is what this module does, keeping the rest of
aiomqtt (connection, subscriptions, publish awaiting PUBACK).

MQTT 3.1.1 (4.6) wants PUBACKs in the order the PUBLISHes arrived, while the
handlers run concurrently: acknowledgements wait in a FIFO and leave it in
order. A handler that raises (the store is unreachable) leaves its message
unacknowledged and ends the connection; the persistent session
(clean_session=False) makes the broker deliver it again after reconnecting,
to this daemon or, with a shared subscription, to another one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

from gateway.errors import ConfigError
from gateway.secrets import Secret

SendHandler = Callable[[str, bytes], Awaitable[None]]


class MqttUnavailable(Exception):
    """Not connected to the broker right now; the caller keeps the event and retries."""


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
        return cls(host=parts.hostname, port=parts.port or (8883 if tls else 1883), tls=tls,
                   **kwargs)

    @property
    def send_filter(self) -> str:
        topic = f"{self.topic_prefix}/+/send"
        return f"$share/{self.shared_group}/{topic}" if self.shared_group else topic


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


class MqttBridge:
    """Consumes ``{prefix}/+/send`` and publishes events, reconnecting with back-off."""

    def __init__(
        self,
        *,
        settings: MqttSettings,
        on_send: SendHandler,
        logger: Any,  # a structlog bound logger
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._on_send = on_send
        self._log = logger.bind(component="mqtt")
        self._rng = rng or random.Random()
        self._client: aiomqtt.Client | None = None
        self._stopping = asyncio.Event()
        self.connected = asyncio.Event()
        self.connections = 0  # successful connections so far (metrics, tests)

    def topic(self, account: str, kind: str) -> str:
        return f"{self._settings.topic_prefix}/{account}/{kind}"

    async def publish(self, topic: str, payload: bytes, *, timeout: float = 10.0) -> None:
        """Publish with QoS 1 and wait for the broker's PUBACK."""
        client = self._client
        if client is None or not self.connected.is_set():
            raise MqttUnavailable(topic)
        try:
            await client.publish(topic, payload, qos=1, timeout=timeout)
        except aiomqtt.MqttError as exc:
            raise MqttUnavailable(str(exc)) from exc

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Stay connected until :meth:`stop`; never raises for broker trouble."""
        delay = self._settings.reconnect_min
        while not self._stopping.is_set():
            try:
                await self._session()
                delay = self._settings.reconnect_min
            except (aiomqtt.MqttError, OSError, _HandlerFailed) as exc:
                self._log.warning("mqtt_disconnected", error=str(exc), retry_in=round(delay, 2))
            finally:
                self._client = None
                self.connected.clear()
            if self._stopping.is_set():
                return
            # jittered exponential back-off ("full jitter" on the upper half)
            sleep = delay / 2 + self._rng.random() * delay / 2
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=sleep)
            delay = min(delay * 2, self._settings.reconnect_max)

    async def _session(self) -> None:
        s = self._settings
        tls_context = ssl.create_default_context() if s.tls else None
        client = aiomqtt.Client(
            s.host,
            s.port,
            identifier=s.client_id,
            clean_session=False,  # persistent session: unacked sends come back
            keepalive=s.keepalive,
            username=s.username,
            password=s.password.reveal() if s.password else None,
            tls_context=tls_context,
            max_concurrent_outgoing_calls=None,
        )
        paho = client._client  # aiomqtt exposes no manual-ack switch of its own
        paho.manual_ack_set(True)
        acks = _AckQueue(paho.ack)
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        async with client:
            self._client = client
            await client.subscribe(s.send_filter, qos=1)
            self.connections += 1
            self.connected.set()
            self._log.info("mqtt_connected", host=s.host, port=s.port, topic=s.send_filter)
            window = asyncio.Semaphore(s.concurrency)
            handlers: set[asyncio.Task[None]] = set()
            reader = asyncio.create_task(
                self._read(client, acks, window, failed, handlers), name="mqtt-reader"
            )
            stop = asyncio.create_task(self._stopping.wait(), name="mqtt-stop")
            try:
                waiters: set[asyncio.Future[Any]] = {stop, reader, failed}
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                reader.cancel()
                await asyncio.gather(stop, reader, return_exceptions=True)
                if handlers:
                    # sends being stored finish, and are acknowledged if we still can
                    await asyncio.wait(handlers)
            if failed.done():
                raise _HandlerFailed(str(failed.exception()))
            if not reader.cancelled() and (exc := reader.exception()) is not None:
                raise exc

    async def _read(
        self,
        client: aiomqtt.Client,
        acks: _AckQueue,
        window: asyncio.Semaphore,
        failed: asyncio.Future[None],
        handlers: set[asyncio.Task[None]],
    ) -> None:
        prefix = self._settings.topic_prefix + "/"
        async for message in client.messages:
            entry = acks.arrived(message.mid, message.qos)
            topic = message.topic.value
            account = topic[len(prefix):-len("/send")] if topic.startswith(prefix) else ""
            if not account or "/" in account:
                # not ours to store; acknowledge so it does not come back forever
                self._log.warning("mqtt_topic_ignored", topic=topic)
                acks.finished(entry)
                continue
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload or "").encode()
            await window.acquire()
            task = asyncio.create_task(self._handle(
                account=account, data=data, entry=entry, acks=acks, window=window, failed=failed
            ))
            handlers.add(task)
            task.add_done_callback(handlers.discard)

    async def _handle(
        self,
        *,
        account: str,
        data: bytes,
        entry: list[int],
        acks: _AckQueue,
        window: asyncio.Semaphore,
        failed: asyncio.Future[None],
    ) -> None:
        try:
            await self._on_send(account, data)
        except Exception as exc:  # noqa: BLE001 - any failure means: do not acknowledge
            self._log.error("mqtt_send_not_stored", account=account, error=repr(exc))
            if not failed.done():
                failed.set_exception(exc)
            return
        finally:
            window.release()
        acks.finished(entry)


class _HandlerFailed(Exception):
    """A send could not be stored; the connection is dropped so that it comes back."""
