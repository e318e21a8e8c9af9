"""sd_notify client against a real AF_UNIX datagram socket."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.ops.sdnotify import Notifier, watchdog_interval, watchdog_pinger


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """The service manager's end: a bound datagram socket and its path."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def receive(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_without_notify_socket_every_call_is_a_noop() -> None:
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    assert notifier.ready("started") is False
    assert notifier.watchdog() is False


def test_relative_or_unknown_addresses_disable_notification() -> None:
    assert not Notifier(address="relative/path").enabled
    assert not Notifier(address="vsock:2:1234").enabled


def test_ready_with_status_is_one_datagram(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier.ready("2 links bound")
    assert receive(sock) == ["READY=1", "STATUS=2 links bound"]
    notifier.close()


def test_status_lines_are_flattened(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = Notifier(address=path)
    assert notifier.status("op-a bound\nmodem-1 down")
    assert receive(sock) == ["STATUS=op-a bound modem-1 down"]
    notifier.close()


def test_watchdog_and_stopping(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = Notifier(address=path)
    notifier.watchdog()
    notifier.stopping("draining 3 submits")
    assert receive(sock) == ["WATCHDOG=1"]
    assert receive(sock) == ["STOPPING=1", "STATUS=draining 3 submits"]
    notifier.close()


def test_reloading_carries_the_monotonic_timestamp(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = Notifier(address=path, monotonic_usec=lambda: 123_456_789)
    notifier.reloading()
    assert receive(sock) == ["RELOADING=1", "MONOTONIC_USEC=123456789"]
    notifier.close()


def test_default_clock_is_the_monotonic_clock(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = Notifier(address=path)
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading("reloading links")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    reloading, stamp, status = receive(sock)
    assert reloading == "RELOADING=1"
    assert before <= int(stamp.removeprefix("MONOTONIC_USEC=")) <= after
    assert status == "STATUS=reloading links"
    notifier.close()


def test_extend_timeout_in_microseconds(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = Notifier(address=path)
    notifier.extend_timeout(20, "waiting for op-a to bind")
    assert receive(sock) == ["EXTEND_TIMEOUT_USEC=20000000", "STATUS=waiting for op-a to bind"]
    notifier.close()


def test_abstract_namespace_address() -> None:
    name = f"smsgw-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = Notifier(address="@" + name)
        assert notifier.ready()
        assert receive(sock) == ["READY=1"]
        notifier.close()


def test_a_vanished_socket_returns_false_without_raising(tmp_path: Path) -> None:
    notifier = Notifier(address=str(tmp_path / "gone.sock"))
    assert notifier.enabled
    assert notifier.status("still running") is False
    notifier.close()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "me"}, None),
    ],
)
def test_watchdog_interval_from_environment(
    environ: dict[str, str],
    expected: float | None,
) -> None:
    assert watchdog_interval(environ, pid=4242) == expected


def test_watchdog_interval_defaults_to_this_process() -> None:
    environ = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval(environ) == 2.0


async def test_pinger_pings_from_the_loop_and_stops_when_it_blocks(
    manager: tuple[socket.socket, str],
) -> None:
    sock, path = manager
    notifier = Notifier(address=path)
    pinger = asyncio.create_task(watchdog_pinger(notifier, 0.01), name="watchdog")
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    for _ in range(3):  # pings arrive while the loop runs
        assert await asyncio.wait_for(loop.sock_recv(sock, 64), timeout=5) == b"WATCHDOG=1"
    # hold the loop (as a blocking call in the daemon would) for 20 intervals
    while True:
        try:
            sock.recv(64)
        except BlockingIOError:
            break
    sock.settimeout(0.2)
    with pytest.raises(TimeoutError):
        sock.recv(64)
    sock.setblocking(False)
    # once the loop runs again the pings resume
    assert await asyncio.wait_for(loop.sock_recv(sock, 64), timeout=5) == b"WATCHDOG=1"
    pinger.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pinger
    notifier.close()


async def test_pinger_refuses_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        await watchdog_pinger(Notifier(address=None), 0)
