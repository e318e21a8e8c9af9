"""``scripts/demo`` as an operator runs it, stopped with SIGTERM or SIGINT: nothing left
behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.fixtures.net import free_port, log_tail, port_accepts
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


def demo_config(path: Path, *, smpp_port: int, http_port: int) -> Path:
    """The checkout's config/gateway.toml (what scripts/demo runs), on test ports and a
    store of the test's own."""
    text = (ROOT / "config" / "gateway.toml").read_text(encoding="utf-8")
    for old, new in (
        ('url = "sqlite:../var/gateway.db"', 'url = "sqlite:gw.db"'),
        ('listen = "127.0.0.1:8080"', f'listen = "127.0.0.1:{http_port}"'),
        ("port = 2775", f"port = {smpp_port}"),
    ):
        assert old in text, f"config/gateway.toml no longer has {old!r}"
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["term", "int"])
async def test_a_signal_stops_the_demo_and_frees_its_ports(
    tmp_path: Path,
    sig: signal.Signals,
) -> None:
    smpp_port, control_port, http_port = free_port(), free_port(), free_port()
    smsgw = tmp_path / "smsgw"
    smsgw.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gateway "$@"\n', encoding="utf-8")
    smsgw.chmod(0o700)
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        SMSGW_BIN=str(smsgw),
        SMSGW_CONFIG=str(
            demo_config(tmp_path / "gateway.toml", smpp_port=smpp_port, http_port=http_port)
        ),
        SMSGW_DEMO_SMPP_PORT=str(smpp_port),
        SMSGW_DEMO_CONTROL_PORT=str(control_port),
        SMSGW_DEMO_VAR=str(tmp_path / "var"),
    )
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(name, None)
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen(  # noqa: ASYNC220 - waited on in a thread below
            ["bash", str(ROOT / "scripts" / "demo")],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def failure(what: str) -> AssertionError:
        return AssertionError(f"{what}; end of {log}:\n{log_tail(log, 40)}")

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:

            async def ready() -> bool:
                if demo.poll() is not None:
                    raise failure(f"scripts/demo exited ({demo.returncode})")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{http_port}/readyz") as r:
                        return r.status == 200
                return False

            await eventually(ready, timeout=60, what="the demo's daemon ready", failure=failure)
        daemon = int((tmp_path / "gw.db-run.lock").read_text().strip())  # the run lock's pid
        assert port_accepts("127.0.0.1", control_port)
        demo.send_signal(sig)
        try:
            code = await asyncio.to_thread(demo.wait, 30)
        except subprocess.TimeoutExpired:
            raise failure(f"scripts/demo did not exit within 30 s of {sig.name}") from None
        assert not alive(daemon), failure(f"smsgw run (pid {daemon}) is still running")
        left = [p for p in (smpp_port, control_port, http_port) if port_accepts("127.0.0.1", p)]
        assert left == [], failure(f"ports still held: {left}")
        assert code == 128 + sig
        assert "nc 127" not in log.read_text(encoding="utf-8")
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever the demo left behind
            os.killpg(demo.pid, signal.SIGKILL)
        await asyncio.to_thread(demo.wait, 10)
