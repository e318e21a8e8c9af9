"""Who is bound, for operators: GET /esme, ``smsgw esme status`` and the
``smsgw_esme_bound`` gauge of a real daemon while smpplib ESMEs bind and unbind."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp

from drivers.smpp.simulator.config import SimConfig
from tests.e2e.system import ACCOUNT, write_config
from tests.e2e.test_process import ROOT, smsc
from tests.e2e.test_smpp_server import SERVER, esme_daemon
from tests.e2e.test_smpp_server_receipts import bind, leave
from tests.waiting import eventually


async def smsgw(*argv: str) -> tuple[int, str, str]:
    """``python -m gateway ARGV`` as a process of its own: exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *argv,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_esme_status_shows_the_binds_of_the_running_daemon(tmp_path: Path) -> None:
    async with smsc(SimConfig()) as sim:
        path = write_config(tmp_path / "gateway.toml", smsc_port=sim.port, extra=SERVER)
        await status_while_binding(path)


async def status_while_binding(path: Path) -> None:
    async with (
        esme_daemon(path) as (_config, daemon, port, password),
        aiohttp.ClientSession() as http,
    ):
        base = f"http://127.0.0.1:{daemon.http_port}"

        async def page() -> dict[str, Any]:
            async with http.get(f"{base}/esme") as r:
                assert r.status == 200
                doc: dict[str, Any] = await r.json()
                return doc

        def gauge(bind_type: str) -> float | None:
            labels = {"system_id": "acme1", "bind_type": bind_type}
            return daemon.registry.get_sample_value("smsgw_esme_bound", labels)

        assert await page() == {"daemon": "e2e", "smpp_server": True, "binds": []}
        esme = await asyncio.to_thread(bind, port, password)
        local_port = esme._socket.getsockname()[1]  # noqa: SLF001
        [shown] = (await page())["binds"]
        assert {k: v for k, v in shown.items() if k != "bound_since"} == {
            "system_id": "acme1",
            "account": ACCOUNT,
            "bind_type": "transceiver",
            "peer": "127.0.0.1",
            "peer_port": local_port,
            "tls": False,
            "in_flight": 0,
        }
        assert shown["bound_since"].endswith("Z")
        assert gauge("transceiver") == 1

        code, out, err = await smsgw("esme", "status", "-c", str(path), "--url", base)
        assert (code, err) == (0, "")
        lines = out.splitlines()
        assert lines[0] == f"daemon e2e at {base}"
        assert lines[2].split()[:5] == [
            "acme1", ACCOUNT, "transceiver", f"127.0.0.1:{local_port}", "no",
        ]  # fmt: skip
        code, out, _ = await smsgw("esme", "status", "-c", str(path), "--url", base, "--json")
        assert code == 0
        assert json.loads(out) == await page()

        await asyncio.to_thread(leave, esme)

        async def unbound() -> bool:
            binds: list[Any] = (await page())["binds"]
            return binds == []

        await eventually(unbound, what="the unbind seen on /esme")
        assert gauge("transceiver") == 0
