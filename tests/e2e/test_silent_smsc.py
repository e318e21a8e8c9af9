"""An SMSC that keeps the connection open and stops answering: the daemon declares the
session dead after its first unanswered submit, and sends the message again only on
the next session, never on the silent one."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from drivers.smpp.protocol.pdu import CommandId
from drivers.smpp.simulator.config import SimConfig
from drivers.smpp.simulator.server import SmscSimulator
from gateway.config.file import load_config
from tests.e2e.system import prepare_store, running_daemon, smpp_link, write_config
from tests.waiting import eventually


async def test_a_message_to_a_silent_smsc_goes_out_once_more_on_the_next_session(
    tmp_path: Path,
) -> None:
    sim = SmscSimulator(config=SimConfig(dlr=True, silent_after=1), port=0)
    await sim.start()
    # enquire_link at its default (30 s): only the unanswered submit tells
    link = smpp_link(sim.port) + "response_timeout = 0.3\n"
    config = load_config(write_config(tmp_path / "gateway.toml", smsc_port=sim.port, link=link))
    token = await prepare_store(config.store.url, config.base_dir)
    auth = {"Authorization": f"Bearer {token}"}

    def submits(event: str) -> int:
        return sum(
            r.get("event") == event
            and r.get("command_id", CommandId.SUBMIT_SM) == CommandId.SUBMIT_SM
            for r in sim.records
        )

    try:
        async with running_daemon(config) as daemon, aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{daemon.http_port}"
            async with http.post(
                f"{base}/v1/messages",
                headers=auth,
                json={"from": "ACME", "to": ["+33612345678"], "text": "anyone there?"},
            ) as r:
                assert r.status == 202
                [message] = (await r.json())["messages"]
            await eventually(lambda: submits("ignored") == 1, what="the silent SMSC got it")
            sim.config = SimConfig(dlr=True)  # the next connection is answered

            async def delivered() -> bool:
                async with http.get(f"{base}/v1/messages/{message['id']}", headers=auth) as r:
                    return bool((await r.json())["state"] == "delivered")

            await eventually(delivered, what="delivered through the next session")
    finally:
        await sim.close()
    assert submits("ignored") == 1  # never sent again on the silent session
    assert submits("submit_sm") == 1  # but once on the next one
