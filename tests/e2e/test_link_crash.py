"""A link that crashes (any exception out of its run()) ends neither the daemon nor the
other links: it is logged, shown down, and restarted after a capped back-off."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.server import SmscSimulator
from gateway.config.daemon import LinkTable, daemon_settings
from gateway.config.file import Config, load_config
from gateway.link.interface import Link, LinkHandler
from gateway.runtime import links as app_module
from gateway.runtime import supervisor
from gateway.runtime.daemon import Daemon
from tests.e2e.system import prepare_store, smpp_link, write_config
from tests.waiting import eventually


@contextlib.asynccontextmanager
async def started_daemon(config: Config) -> AsyncIterator[Daemon]:
    """The daemon in this event loop, once its API listens (not waiting for its links)."""
    daemon = Daemon(config=config, settings=daemon_settings(config), logger=structlog.get_logger())
    task = asyncio.create_task(daemon.run(), name="daemon")
    try:
        await eventually(
            lambda: daemon.http_port is not None or task.done(), what="the API listening"
        )
        if task.done():
            task.result()  # the daemon died while starting: show why
        yield daemon
        assert not task.done(), "the daemon ended on its own"
    finally:
        daemon.stop()
        await asyncio.wait_for(task, timeout=30)


async def test_a_crashing_link_is_restarted_and_the_daemon_goes_on(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(supervisor, "RESTART_MIN", 0.5)
    monkeypatch.setattr(supervisor, "RESTART_MAX", 1.0)
    builds: dict[str, int] = {}
    real_build = app_module.build_link
    go = asyncio.Event()  # the first crash comes once the test watches

    def build_link(table: LinkTable, handler: LinkHandler, logger: Any) -> Link:
        link = real_build(table, handler, logger)
        builds[table.name] = builds.get(table.name, 0) + 1
        if table.name == "broken" and builds[table.name] <= 2:  # its first two runs crash

            async def crash() -> None:
                await go.wait()
                msg = "a bug nobody foresaw"
                raise RuntimeError(msg)

            link.run = crash  # type: ignore[method-assign]
        return link

    monkeypatch.setattr(app_module, "build_link", build_link)
    sim = SmscSimulator(config=SimConfig(dlr=True), port=0)
    await sim.start()
    links = smpp_link(sim.port, name="smsc-1", routes='["+33"]') + smpp_link(
        sim.port, name="broken", routes='["+32"]'
    )
    config = load_config(write_config(tmp_path / "gateway.toml", smsc_port=sim.port, link=links))
    token = await prepare_store(config.store.url, config.base_dir)
    auth = {"Authorization": f"Bearer {token}"}
    try:
        with structlog.testing.capture_logs() as logs:
            async with started_daemon(config) as daemon, aiohttp.ClientSession() as http:
                base = f"http://127.0.0.1:{daemon.http_port}"
                await eventually(
                    lambda: "smsc-1" in daemon.links and daemon.links["smsc-1"].health().bound,
                    what="smsc-1 bound",
                )
                go.set()

                async def broken_link() -> dict[str, Any]:
                    async with http.get(f"{base}/links") as r:
                        found: dict[str, Any] = {
                            link["name"]: link for link in (await r.json())["links"]
                        }["broken"]
                        return found

                async def shown_crashed() -> bool:
                    link = await broken_link()
                    return not link["bound"] and "crashed: RuntimeError" in link["detail"]

                await eventually(shown_crashed, what="the broken link shown down, crashed")
                # the API and the other link work meanwhile
                async with http.post(
                    f"{base}/v1/messages",
                    headers=auth,
                    json={"from": "ACME", "to": ["+33612345678"], "text": "still here"},
                ) as r:
                    assert r.status == 202
                    [first] = (await r.json())["messages"]

                async def state(message_id: str) -> str:
                    async with http.get(f"{base}/v1/messages/{message_id}", headers=auth) as r:
                        found: str = (await r.json())["state"]
                        return found

                async def delivered(message_id: str) -> bool:
                    return await state(message_id) == "delivered"

                await eventually(lambda: delivered(first["id"]), what="delivered by smsc-1")

                async def restarted() -> bool:
                    return bool((await broken_link())["bound"])

                await eventually(restarted, what="the broken link restarted and bound")
                async with http.post(
                    f"{base}/v1/messages",
                    headers=auth,
                    json={"from": "ACME", "to": ["+32470000001"], "text": "via broken"},
                ) as r:
                    assert r.status == 202
                    [second] = (await r.json())["messages"]
                await eventually(lambda: delivered(second["id"]), what="delivered by broken")
    finally:
        await sim.close()
    crashes = [e for e in logs if e["event"] == "link_crashed"]
    assert [e["crashes"] for e in crashes] == [1, 2]
    assert {e["link"] for e in crashes} == {"broken"}
    assert crashes[0]["error"] == "RuntimeError('a bug nobody foresaw')"
    assert all(0 < e["retry_in"] <= 1.0 for e in crashes)  # capped at RESTART_MAX
    assert builds == {"smsc-1": 1, "broken": 3}
    assert any(e["event"] == "link_restarted" and e["link"] == "broken" for e in logs)
